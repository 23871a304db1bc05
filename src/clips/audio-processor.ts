import { Injectable } from '@nestjs/common';
import type { AppConfig } from '../config/app-config.js';
import { InjectConfig } from '../config/config.module.js';
import { DomainError } from '../common/domain-error.js';
import type { AudioRejectedCode } from './clip-errors.js';
import {
  decodeProblem,
  InputInfo,
  Loudness,
  LoudnessSummary,
  parseEbur128,
  parseDecodedMs,
  parseInputInfo,
  parseLoudnorm,
} from './audio-analysis.js';
import { Ffmpeg, FfmpegResult } from './ffmpeg.js';
import type { TranscodeTicket } from './transcode-lanes.js';

/** What an upload turned out to be, after one full decode. */
export interface Inspection {
  info: InputInfo;
  decodedMs: number;
  loudness: Loudness;
  /** e.g. `wav pcm_s16le 48000 Hz stereo`, for the record. */
  format: string;
}

/** What {@link AudioProcessor.inspectSpeech} found: ebur128's figures, not loudnorm's. */
export interface SpeechInspection extends Omit<Inspection, 'loudness'> {
  loudness: LoudnessSummary;
}

/**
 * Synthetic speech is limited this far under the true-peak ceiling: the MP3 encoder's overshoot
 * (espeak-ng speech: 0.1–0.5 dB) then stays under it.
 */
const SPEECH_PEAK_MARGIN_DB = 0.5;
/** At most this much gain is added for the loudness the limiter takes off the peaks. */
const SPEECH_MAKEUP_MAX_DB = 2.5;
/** The limiter's release: short, so that it takes off little more than the peaks. */
const SPEECH_RELEASE_MS = 20;
/** Below this integrated loudness an upload counts as silent. */
const SILENCE_LUFS = -70;
/** How much shorter than its header a file may decode before it counts as truncated. */
const TRUNCATION_TOLERANCE_MS = 1000;
/** Downmix first, so the loudness measured is the loudness of the mono delivery format. */
const TO_MONO = 'aformat=channel_layouts=mono';

export class AudioRejected extends DomainError<AudioRejectedCode> {
  constructor(code: AudioRejectedCode, message: string) {
    super('unprocessable', code, message);
  }
}

/**
 * Decides whether a file is usable audio and turns it into the delivery format: MP3, mono,
 * 44.1 kHz, two-pass EBU R128 loudness normalisation (ffmpeg's loudnorm) to the configured target.
 */
@Injectable()
export class AudioProcessor {
  constructor(
    private readonly ffmpeg: Ffmpeg,
    @InjectConfig() private readonly config: AppConfig,
  ) {}

  private loudnorm(extra = ''): string {
    const a = this.config.audio;
    return `loudnorm=I=${a.targetLufs}:TP=${a.truePeakDb}:LRA=11${extra}`;
  }

  /**
   * Reads only the file's header (milliseconds, whatever its length) and refuses at once a
   * recording whose header says it is longer than the limit. What the header does not settle
   * (no duration, or one estimated from the bit rate) is left to {@link inspect}.
   */
  async probe(path: string, ticket: TranscodeTicket): Promise<InputInfo> {
    // Without an output ffmpeg exits non-zero after printing the input's banner: that is all we need.
    const result = await this.ffmpeg.run(['-hide_banner', '-nostdin', '-i', path], ticket);
    const info = parseInputInfo(result.stderr);
    const maxMs = this.config.audio.maxDurationMs;
    if (info.headerDurationMs !== null && info.headerDurationMs > maxMs) {
      throw new AudioRejected(
        'AUDIO_TOO_LONG',
        `The recording is ${formatDuration(info.headerDurationMs)} long (so its header says), longer than the limit of ${formatDuration(maxMs)}`,
      );
    }
    return info;
  }

  /**
   * Decodes the whole file once (up to just past the maximum duration) and measures its loudness.
   * Throws {@link AudioRejected} saying what is wrong: not audio, undecodable, truncated, empty,
   * silent or too long.
   */
  async inspect(path: string, ticket: TranscodeTicket): Promise<Inspection> {
    const { result, ...checked } = await this.decode(
      path,
      this.loudnorm(':print_format=json'),
      ticket,
    );
    const loudness = parseLoudnorm(result.stderr);
    if (!loudness) throw new AudioRejected('NOT_AUDIO', 'The audio could not be measured');
    if (!Number.isFinite(loudness.integrated) || loudness.integrated < SILENCE_LUFS) throw silent();
    return { ...checked, loudness };
  }

  /**
   * {@link inspect} for synthetic speech (text to speech): the same checks, with the loudness
   * and true peak measured by ebur128 on the PCM rather than by loudnorm's 192 kHz pass, for
   * {@link normaliseSpeech}.
   */
  async inspectSpeech(path: string, ticket: TranscodeTicket): Promise<SpeechInspection> {
    const { result, ...checked } = await this.decode(
      path,
      'ebur128=peak=true:framelog=verbose',
      ticket,
    );
    const loudness = parseEbur128(result.stderr);
    if (!loudness) throw new AudioRejected('NOT_AUDIO', 'The audio could not be measured');
    // ebur128's floor for silence is −70 itself.
    if (!Number.isFinite(loudness.integrated) || loudness.integrated <= SILENCE_LUFS)
      throw silent();
    return { ...checked, loudness };
  }

  /**
   * Decodes the whole file once (up to just past the maximum duration) through `meter`, after a
   * downmix to mono. Throws {@link AudioRejected} saying what is wrong: not audio, undecodable,
   * truncated, empty or too long.
   */
  private async decode(
    path: string,
    meter: string,
    ticket: TranscodeTicket,
  ): Promise<Omit<Inspection, 'loudness'> & { result: FfmpegResult }> {
    const maxS = this.config.audio.maxDurationMs / 1000;
    const result = await this.ffmpeg.run(
      [
        '-hide_banner',
        '-nostdin',
        '-nostats',
        '-progress',
        'pipe:1',
        '-v',
        'info',
        '-xerror',
        '-i',
        path,
        '-map',
        '0:a:0',
        '-t',
        String(maxS + 1),
        '-af',
        `${TO_MONO},${meter}`,
        '-f',
        'null',
        '-',
      ],
      ticket,
    );
    if (result.timedOut)
      throw new AudioRejected('AUDIO_TIMEOUT', 'Reading the file took too long; it may be damaged');
    const info = parseInputInfo(result.stderr);
    if (result.code !== 0) {
      const problem = decodeProblem(result.stderr);
      if (problem === 'no_audio')
        throw new AudioRejected('NOT_AUDIO', 'The file has no audio stream');
      if (problem === 'corrupt')
        throw new AudioRejected(
          'AUDIO_CORRUPT',
          'The audio is damaged: it does not decode to the end',
        );
      throw new AudioRejected(
        'NOT_AUDIO',
        'The file is not audio that can be decoded (or it is cut short)',
      );
    }
    const decodedMs = parseDecodedMs(result.stdout) ?? 0;
    if (decodedMs < 100)
      throw new AudioRejected('AUDIO_EMPTY', 'The recording is empty (no audio to play)');
    if (decodedMs > this.config.audio.maxDurationMs) {
      throw new AudioRejected(
        'AUDIO_TOO_LONG',
        `The recording is longer than the limit of ${formatDuration(this.config.audio.maxDurationMs)}`,
      );
    }
    if (
      info.headerDurationMs !== null &&
      info.headerDurationMs - decodedMs >
        Math.max(TRUNCATION_TOLERANCE_MS, info.headerDurationMs * 0.05)
    ) {
      throw new AudioRejected(
        'AUDIO_TRUNCATED',
        `The file is cut short: its header says ${formatDuration(info.headerDurationMs)} but only ${formatDuration(decodedMs)} decodes`,
      );
    }
    const format = [
      info.container,
      info.codec,
      info.sampleRate ? `${info.sampleRate} Hz` : null,
      info.channels,
    ]
      .filter(Boolean)
      .join(' ');
    return { result, info, decodedMs, format };
  }

  /**
   * Second pass: the delivery format, normalised with the first pass's measurement. Returns how
   * long the result plays (ms).
   */
  async normalise(
    inputs: string[],
    measured: Loudness,
    out: string,
    ticket: TranscodeTicket,
  ): Promise<number> {
    const m = measured;
    const norm = this.loudnorm(
      `:measured_I=${m.integrated}:measured_TP=${m.truePeak}:measured_LRA=${m.range}:measured_thresh=${m.threshold}:offset=${m.offset}:linear=true`,
    );
    return this.encode(inputs, `${norm},aresample=44100`, out, ticket);
  }

  /**
   * One pass for synthetic speech: a linear gain to the target and a look-ahead limiter under
   * the true-peak ceiling, then the delivery format. Speech from a synthesiser has peaks far
   * over its loudness (espeak-ng: ~19 dB, the target allows 14.5), so the limiter takes some
   * loudness off; the gain adds back half of what the peaks are over the ceiling, at most
   * {@link SPEECH_MAKEUP_MAX_DB}. `correctionDb` is added on a second try. Returns how long the
   * result plays (ms).
   */
  async normaliseSpeech(
    inputs: string[],
    measured: LoudnessSummary,
    out: string,
    ticket: TranscodeTicket,
    correctionDb = 0,
  ): Promise<number> {
    return this.encode(inputs, this.speechFilters(measured, correctionDb), out, ticket);
  }

  private speechFilters(measured: LoudnessSummary, correctionDb = 0): string {
    const a = this.config.audio;
    const ceiling = a.truePeakDb - SPEECH_PEAK_MARGIN_DB;
    const gain = a.targetLufs - measured.integrated;
    const over = Number.isFinite(measured.truePeak) ? measured.truePeak + gain - ceiling : 0;
    const makeup = Math.min(SPEECH_MAKEUP_MAX_DB, Math.max(0, over / 2));
    const total = gain + makeup + correctionDb;
    const limit = Math.pow(10, ceiling / 20);
    return [
      `volume=${total.toFixed(2)}dB`,
      'aresample=44100',
      `alimiter=limit=${limit.toFixed(4)}:level=false:release=${SPEECH_RELEASE_MS}`,
    ].join(',');
  }

  /**
   * Joins `inputs` one after the other into one lossless file (FLAC, mono, 44.1 kHz, no tags: the
   * same inputs give the same bytes), the source of a clip made of several parts
   * (`ClipsService.join`), which is then checked and normalised like an upload.
   */
  async join(inputs: string[], out: string, ticket: TranscodeTicket): Promise<void> {
    const result = await this.ffmpeg.run(
      mixArgs(inputs, 'aresample=44100', ['-c:a', 'flac', '-f', 'flac'], out),
      ticket,
    );
    if (result.code !== 0)
      throw new Error(
        `ffmpeg could not join ${inputs.length} parts (exit ${result.code}${result.timedOut ? ', timed out' : ''}): ${result.stderr.slice(-300)}`,
      );
  }

  /**
   * Measures what {@link normalise} needs (integrated loudness, true peak, range, threshold and
   * loudnorm's own offset): a loudnorm pass, run at 192 kHz.
   */
  async measure(inputs: string[], ticket: TranscodeTicket): Promise<Loudness> {
    const result = await this.ffmpeg.run(
      [
        '-hide_banner',
        '-nostdin',
        '-nostats',
        '-v',
        'info',
        ...inputArgs(inputs),
        '-filter_complex',
        `${concat(inputs)}${TO_MONO},${this.loudnorm(':print_format=json')}[out]`,
        '-map',
        '[out]',
        '-f',
        'null',
        '-',
      ],
      ticket,
    );
    const loudness = result.code === 0 ? parseLoudnorm(result.stderr) : null;
    if (!loudness)
      throw new Error(
        `ffmpeg could not measure loudness (exit ${result.code}${result.timedOut ? ', timed out' : ''})`,
      );
    return loudness;
  }

  /**
   * Measures a result's integrated loudness and true peak for the record, with ebur128: within
   * 0.2 LU and 0.05 dB of loudnorm's figures on speech, music, tones and the sample clip, in a
   * third of its CPU time (docs/performance.md, "Text to speech"). One decimal, no offset: not
   * for {@link normalise}, whose dynamic mode lands closer to the target with loudnorm's offset.
   */
  async measureResult(path: string, ticket: TranscodeTicket): Promise<LoudnessSummary> {
    const result = await this.ffmpeg.run(
      [
        '-hide_banner',
        '-nostdin',
        '-nostats',
        '-v',
        'info',
        '-i',
        path,
        '-map',
        '0:a:0',
        // framelog=verbose: the per-100 ms lines only at -v verbose; the summary prints at info.
        '-af',
        `${TO_MONO},ebur128=peak=true:framelog=verbose`,
        '-f',
        'null',
        '-',
      ],
      ticket,
    );
    const loudness = result.code === 0 ? parseEbur128(result.stderr) : null;
    if (!loudness)
      throw new Error(
        `ffmpeg could not measure loudness (exit ${result.code}${result.timedOut ? ', timed out' : ''})`,
      );
    return loudness;
  }

  private async encode(
    inputs: string[],
    filters: string,
    out: string,
    ticket: TranscodeTicket,
  ): Promise<number> {
    const a = this.config.audio;
    const result = await this.ffmpeg.run(
      mixArgs(
        inputs,
        filters,
        ['-c:a', 'libmp3lame', '-b:a', `${a.bitrateKbps}k`, '-write_xing', '1', '-f', 'mp3'],
        out,
        // How much was written is the result's length: no second run to decode it.
        ['-progress', 'pipe:1'],
      ),
      ticket,
    );
    const durationMs = result.code === 0 ? parseDecodedMs(result.stdout) : null;
    if (durationMs === null) {
      throw new Error(
        `ffmpeg could not encode (exit ${result.code}${result.timedOut ? ', timed out' : ''}): ${result.stderr.slice(-300)}`,
      );
    }
    return durationMs;
  }
}

function inputArgs(inputs: string[]): string[] {
  return inputs.flatMap((path) => ['-i', path]);
}

/**
 * ffmpeg's arguments to play `inputs` one after the other through `filters` into one mono
 * 44.1 kHz file written with `codec`, with no tags or timestamps: the same input, the same bytes.
 */
function mixArgs(
  inputs: string[],
  filters: string,
  codec: string[],
  out: string,
  global: string[] = [],
): string[] {
  return [
    '-hide_banner',
    '-nostdin',
    '-nostats',
    ...global,
    '-v',
    'error',
    ...inputArgs(inputs),
    '-filter_complex',
    `${concat(inputs)}${TO_MONO},${filters}[out]`,
    '-map',
    '[out]',
    '-ar',
    '44100',
    '-ac',
    '1',
    ...codec,
    '-map_metadata',
    '-1',
    '-fflags',
    '+bitexact',
    '-flags:a',
    '+bitexact',
    '-y',
    out,
  ];
}

/** `[0:a:0][1:a:0]concat=n=2:v=0:a=1,` for several inputs; `[0:a:0]` for one. */
function concat(inputs: string[]): string {
  const streams = inputs.map((_, i) => `[${i}:a:0]`).join('');
  return inputs.length > 1 ? `${streams}concat=n=${inputs.length}:v=0:a=1,` : streams;
}

function formatDuration(ms: number): string {
  const s = Math.round(ms / 100) / 10;
  return s >= 60 ? `${Math.floor(s / 60)} min ${Math.round(s % 60)} s` : `${s} s`;
}

function silent(): AudioRejected {
  return new AudioRejected(
    'AUDIO_SILENT',
    'The recording is silent (nothing above -70 LUFS): check the microphone',
  );
}
