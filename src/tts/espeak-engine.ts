import { Logger } from '@nestjs/common';
import { ChildProcess, spawn } from 'node:child_process';
import { access, constants, stat } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import type { TtsConfig } from '../config/app-config.js';
import { SpeakOptions, TtsEngine, TtsEngineFailed } from './tts-engine.js';

/** espeak-ng's Mandarin voice. */
export const ESPEAK_DEFAULT_VOICE = 'cmn';
/** espeak-ng's normal rate (words a minute) and the range it accepts. */
const NORMAL_WPM = 175;
/**
 * Speed 1 for the Chinese voices, where a "word" is a syllable (a character): 225 speaks 3.6
 * characters a second (a 200-character alert in 55 s against 71 s at espeak-ng's own 175, 2.8 a
 * second), so every clip is 22% shorter to process. Not faster: faster espeak speech is
 * peakier, and loudnorm's limiter then leaves it further under the target (250: −17.8 LUFS for a
 * short notice against −17.0 at 175; docs/performance.md, "Text to speech").
 */
const CHINESE_WPM = 225;
const CHINESE_VOICE = /^(cmn|yue|hak)(-|$)/;
const MIN_WPM = 80;
const MAX_WPM = 450;
/** Finding the binary, its version and its voices: quick, or it is not a working espeak-ng. */
const PROBE_TIMEOUT_MS = 10_000;
/** What is kept of a run's stderr for the error message. */
const MAX_STDERR = 4000;

interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

/** Words a minute for espeak-ng's `-s` from a relative speed and the voice. */
export function wordsPerMinute(speed: number, voice: string): number {
  const normal = CHINESE_VOICE.test(voice) ? CHINESE_WPM : NORMAL_WPM;
  return Math.min(MAX_WPM, Math.max(MIN_WPM, Math.round(normal * speed)));
}

/** The language names of `espeak-ng --voices` (what `-v` takes), in its order. */
export function parseVoiceList(stdout: string): string[] {
  return stdout
    .split('\n')
    .slice(1)
    .map((line) => line.trim().split(/\s+/)[1])
    .filter((name): name is string => Boolean(name));
}

/**
 * espeak-ng, run once per text: the text goes in on stdin (never on the command line, where it
 * could be taken for an option or show in the process list), UTF-8, no markup; the WAV is written
 * by `-w`. Found at start (TTS_ESPEAK_PATH, else PATH); a run over TTS_TIMEOUT_S is killed, and so
 * is every run when the server stops.
 */
export class EspeakEngine implements TtsEngine {
  readonly name = 'espeak-ng';
  readonly defaultVoice: string;
  private readonly logger = new Logger('tts');
  private readonly children = new Set<ChildProcess>();
  private binary?: string;
  private version = '';
  private voiceList: string[] = [];
  private problem = 'espeak-ng has not been looked for yet';
  private closed = false;

  constructor(private readonly config: TtsConfig) {
    this.defaultVoice = config.voice ?? ESPEAK_DEFAULT_VOICE;
  }

  /** Looks for a working espeak-ng and reads its voices; true when found. */
  async locate(): Promise<boolean> {
    const candidates = this.config.espeakPath
      ? [this.config.espeakPath]
      : this.config.searchPath
          .split(delimiter)
          .filter(Boolean)
          .map((dir) => join(dir, 'espeak-ng'));
    for (const path of candidates) {
      try {
        await access(path, constants.X_OK);
        if (!(await stat(path)).isFile()) continue;
      } catch {
        continue;
      }
      const version = await this.run(path, ['--version'], null, PROBE_TIMEOUT_MS).catch(
        () => undefined,
      );
      const found = version?.code === 0 && /eSpeak NG[^\n]*?(\d+(\.\d+)+)/.exec(version.stdout);
      if (!found) continue;
      const voices = await this.run(path, ['--voices'], null, PROBE_TIMEOUT_MS).catch(
        () => undefined,
      );
      this.voiceList = voices?.code === 0 ? parseVoiceList(voices.stdout) : [];
      if (!this.voiceList.includes(this.defaultVoice)) {
        this.problem = `${path} has no voice "${this.defaultVoice}"${this.config.voice ? ' (TTS_VOICE)' : ''}; install the espeak-ng-data package with it or choose another voice`;
        this.logger.warn(`text to speech is unavailable: ${this.problem}`);
        return false;
      }
      this.binary = path;
      this.version = found[1];
      this.logger.debug(
        `using espeak-ng ${this.version} (${path}), voice ${this.defaultVoice}, ${this.voiceList.length} voices`,
      );
      return true;
    }
    this.problem = this.config.espeakPath
      ? `TTS_ESPEAK_PATH=${this.config.espeakPath} is not an espeak-ng that runs; fix the path or unset it to use espeak-ng from PATH`
      : 'no espeak-ng on PATH; install it (Debian: apt-get install espeak-ng) or set TTS_ESPEAK_PATH, or use a speech server (TTS_HTTP_URL)';
    return false;
  }

  /** Why espeak-ng cannot be used (when it is not found). */
  get unavailableReason(): string {
    return this.problem;
  }

  available(): Promise<string | null> {
    return Promise.resolve(this.binary ? null : this.problem);
  }

  voices(): Promise<string[]> {
    // The default first: it is what the dashboard should offer first.
    return Promise.resolve([
      this.defaultVoice,
      ...this.voiceList.filter((v) => v !== this.defaultVoice),
    ]);
  }

  describe(): string {
    return this.binary ? `espeak-ng ${this.version} (${this.binary})` : 'espeak-ng (not found)';
  }

  async synthesize(text: string, options: SpeakOptions, outPath: string): Promise<void> {
    if (!this.binary) throw new TtsEngineFailed(this.problem);
    // -b 1: the input is UTF-8; --stdin: the text comes from there, not from argv.
    const args = [
      '-v',
      options.voice,
      '-s',
      String(wordsPerMinute(options.speed, options.voice)),
      '-b',
      '1',
      '-w',
      outPath,
      '--stdin',
    ];
    const result = await this.run(this.binary, args, text, this.config.timeoutMs);
    if (this.closed) throw new TtsEngineFailed('the server is stopping');
    if (result.timedOut)
      throw new TtsEngineFailed(
        `espeak-ng took longer than ${this.config.timeoutMs / 1000} s (TTS_TIMEOUT_S) and was stopped`,
      );
    if (result.code !== 0) {
      const why = result.stderr.trim().split('\n').pop() ?? '';
      throw new TtsEngineFailed(
        `espeak-ng failed (exit ${result.code ?? 'signal'})${why ? `: ${why.slice(0, 300)}` : ''}`,
      );
    }
  }

  close(): void {
    this.closed = true;
    for (const child of this.children) child.kill('SIGKILL');
  }

  /** Runs espeak-ng without a shell; `input` is written to its stdin (null: stdin closed). */
  private run(
    binary: string,
    args: string[],
    input: string | null,
    timeoutMs: number,
  ): Promise<RunResult> {
    if (this.closed) return Promise.reject(new TtsEngineFailed('the server is stopping'));
    return new Promise((resolve) => {
      const child = spawn(binary, args, { stdio: ['pipe', 'pipe', 'pipe'] });
      this.children.add(child);
      let stdout = '';
      let stderr = '';
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        child.kill('SIGKILL');
      }, timeoutMs);
      child.stdout!.setEncoding('utf8').on('data', (d: string) => {
        if (stdout.length < 1024 * 1024) stdout += d;
      });
      child.stderr!.setEncoding('utf8').on('data', (d: string) => {
        stderr = (stderr + d).slice(-MAX_STDERR);
      });
      // A child that dies before reading all of stdin makes the write fail: its exit says why.
      child.stdin!.on('error', () => undefined);
      child.stdin!.end(input ?? '', 'utf8');
      let ended = false;
      const done = (code: number | null, extra = '') => {
        if (ended) return;
        ended = true;
        clearTimeout(timer);
        this.children.delete(child);
        resolve({ code, stdout, stderr: stderr + extra, timedOut });
      };
      child.once('error', (e) => done(null, `\n${e.message}`));
      child.once('close', (code) => done(code));
    });
  }
}
