import { Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';
import { createHash, randomUUID } from 'node:crypto';
import { mkdir, open, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { ClipsService } from '../clips/clips.service.js';
import type { ClipUploadResultDto, UploadPriority } from '../clips/dto/clip.dto.js';
import { type AppConfig, TTS_VOICE } from '../config/app-config.js';
import { InjectConfig } from '../config/config.module.js';
import { DomainError, NotFoundError } from '../common/domain-error.js';
import { ReadinessChecks } from '../common/readiness-checks.js';
import { stripControl } from '../common/validators.js';
import { EspeakEngine } from './espeak-engine.js';
import { HttpEngine } from './http-engine.js';
import { type TtsEngine, TtsEngineFailed } from './tts-engine.js';
import type { TtsErrorCode } from './tts-errors.js';
import { audioExtension, speakableText, SynthesisSlots, titleFromText } from './tts-text.js';

export interface TtsRequest {
  text: string;
  /** Engine-specific voice name; absent: the engine's Mandarin default. */
  voice?: string;
  /** Relative speed, 0.5–2 (1 = the engine's normal rate). */
  speed?: number;
  title?: string;
}

export interface TtsStatus {
  /** The engine TTS_ENGINE chose (`espeak-ng`, `http`), or null when there is none. */
  engine: string | null;
  available: boolean;
  /** Why none is available, in words for staff. */
  reason: string | null;
  voices: string[];
  /** The voice a request without one gets (null without an engine). */
  defaultVoice: string | null;
}

/** Clips made lately, by what was spoken how: the same request again returns the same clip. */
const REMEMBERED = 500;
export const MIN_SPEED = 0.5;
export const MAX_SPEED = 2;

/**
 * Text to speech: the chosen engine (TTS_ENGINE, docs/tts.md) writes the audio into a work file,
 * which is handed to {@link ClipsService.addSpeech}: checked, stored and content-addressed like
 * any upload, normalised in one pass for synthetic speech; the caller gets the ready clip.
 */
@Injectable()
export class TtsService implements OnApplicationShutdown {
  private readonly logger = new Logger('tts');
  private readonly workDir: string;
  private readonly slots: SynthesisSlots;
  private readonly remembered = new Map<string, string>();
  private choice?: Promise<{ engine: TtsEngine | null; reason: string | null }>;

  constructor(
    private readonly clips: ClipsService,
    private readonly readiness: ReadinessChecks,
    @InjectConfig() private readonly config: AppConfig,
  ) {
    this.workDir = join(config.dataDir, 'tts');
    this.slots = new SynthesisSlots(config.tts.concurrency);
  }

  /** Chooses the engine, clears work files a crash left, and adds the `tts` readiness check. */
  async start(): Promise<void> {
    await mkdir(this.workDir, { recursive: true });
    for (const name of await readdir(this.workDir))
      await rm(join(this.workDir, name), { force: true, recursive: true });
    const { engine, reason } = await this.chosen();
    if (this.config.tts.engine !== 'none')
      this.readiness.register(
        'tts',
        async () => {
          const why = engine ? await engine.available() : reason;
          if (why) throw new Error(why);
        },
        { critical: false },
      );
    if (engine) this.logger.debug(`text to speech: ${engine.describe()}`);
    else this.logger.warn(`text to speech is unavailable: ${reason}`);
  }

  onApplicationShutdown(): void {
    void this.choice?.then(({ engine }) => engine?.close());
  }

  async status(): Promise<TtsStatus> {
    const { engine, reason } = await this.chosen();
    if (!engine) return { engine: null, available: false, reason, voices: [], defaultVoice: null };
    const why = await engine.available();
    return {
      engine: engine.name,
      available: why === null,
      reason: why,
      voices: await engine.voices(),
      defaultVoice: engine.defaultVoice,
    };
  }

  /**
   * Speaks `text` into a clip; waits until it is ready. 400 TTS_TEXT_INVALID / TTS_VOICE_UNKNOWN,
   * 503 TTS_UNAVAILABLE without an engine, 503 TTS_ENGINE_FAILED when it fails this time. `urgent`
   * goes ahead of other syntheses and of other transcoding.
   */
  async synthesize(
    request: TtsRequest,
    by: string,
    priority: UploadPriority = 'routine',
  ): Promise<ClipUploadResultDto> {
    const text = speakableText(request.text);
    const speed = request.speed ?? 1;
    if (!(speed >= MIN_SPEED && speed <= MAX_SPEED))
      throw new DomainError<TtsErrorCode>(
        'invalid',
        'TTS_TEXT_INVALID',
        `speed must be from ${MIN_SPEED} to ${MAX_SPEED} (1 is the engine's normal rate)`,
      );
    const { engine, reason } = await this.chosen();
    if (!engine) throw unavailable(reason!);
    const why = await engine.available();
    // The HTTP engine's last failure is no reason not to try again.
    if (why && engine.name !== 'http') throw unavailable(why);
    const voice = request.voice ?? engine.defaultVoice;
    const voices = await engine.voices();
    // Other modules call this too, without the route's validation: a voice reaches argv.
    if (!TTS_VOICE.test(voice) || (voices.length > 0 && !voices.includes(voice)))
      throw new DomainError<TtsErrorCode>(
        'invalid',
        'TTS_VOICE_UNKNOWN',
        `${engine.name} has no voice ${JSON.stringify(voice.slice(0, 64))}; GET /api/clips/tts lists its voices`,
      );
    const key = createHash('sha256')
      .update(JSON.stringify([engine.name, voice, speed, text]))
      .digest('hex');
    const earlier = await this.rememberedClip(key);
    if (earlier) return earlier;

    await mkdir(this.workDir, { recursive: true });
    const out = join(this.workDir, `${randomUUID()}.audio`);
    const release = await this.slots.take(priority === 'urgent');
    try {
      const started = performance.now();
      try {
        await engine.synthesize(text, { voice, speed }, out);
      } catch (err) {
        if (err instanceof TtsEngineFailed)
          throw new DomainError<TtsErrorCode>(
            'unavailable',
            'TTS_ENGINE_FAILED',
            `Text to speech failed: ${err.message}`,
          );
        throw err;
      } finally {
        release();
      }
      const { size, extension } = await this.inspect(out);
      this.logger.log(
        `spoke ${[...text].length} characters with ${engine.name} voice=${voice} speed=${speed} in ${Math.round(performance.now() - started)} ms (${size} bytes ${extension}) by=${JSON.stringify(by)}`,
      );
      const clip = await this.clips.addSpeech(
        { path: out, size, originalName: `tts.${extension}` },
        titleOf(request.title, text),
        by,
        priority,
      );
      if (clip.status === 'ready') this.remember(key, clip.id);
      return clip;
    } finally {
      await rm(out, { force: true });
    }
  }

  /** The engine TTS_ENGINE names, found once (the first caller looks, the others wait for it). */
  private chosen(): Promise<{ engine: TtsEngine | null; reason: string | null }> {
    this.choice ??= chooseEngine(this.config);
    return this.choice;
  }

  /** The size and container of what the engine wrote; an empty file is a failure of the engine. */
  private async inspect(path: string): Promise<{ size: number; extension: string }> {
    const size = await stat(path).then(
      (s) => s.size,
      () => 0,
    );
    if (size === 0)
      throw new DomainError<TtsErrorCode>(
        'unavailable',
        'TTS_ENGINE_FAILED',
        'Text to speech failed: the engine wrote no audio',
      );
    const file = await open(path, 'r');
    try {
      const head = Buffer.alloc(12);
      await file.read(head, 0, head.length, 0);
      return { size, extension: audioExtension(head) ?? 'wav' };
    } finally {
      await file.close();
    }
  }

  private async rememberedClip(key: string): Promise<ClipUploadResultDto | null> {
    const id = this.remembered.get(key);
    if (!id) return null;
    try {
      const clip = await this.clips.get(id);
      if (clip.status === 'ready') return { ...clip, duplicate: true };
    } catch (err) {
      if (!(err instanceof NotFoundError)) throw err;
    }
    this.remembered.delete(key);
    return null;
  }

  private remember(key: string, clipId: string): void {
    this.remembered.delete(key);
    this.remembered.set(key, clipId);
    if (this.remembered.size > REMEMBERED)
      this.remembered.delete(this.remembered.keys().next().value!);
  }
}

/** The request's title made safe for a clip (others than the route call this), else the text's. */
function titleOf(title: string | undefined, text: string): string {
  const given = title === undefined ? '' : stripControl(title).trim();
  return given ? [...given].slice(0, 200).join('') : titleFromText(text);
}

function unavailable(reason: string): DomainError<TtsErrorCode> {
  return new DomainError<TtsErrorCode>(
    'unavailable',
    'TTS_UNAVAILABLE',
    `Text to speech is unavailable: ${reason}`,
  );
}

/**
 * TTS_ENGINE: `http` and `espeak-ng` as named (espeak-ng not found: unavailable, with the reason);
 * `auto`: the HTTP engine when TTS_HTTP_URL is set, else espeak-ng when found, else none; `none`.
 */
export async function chooseEngine(
  config: AppConfig,
): Promise<{ engine: TtsEngine | null; reason: string | null }> {
  const tts = config.tts;
  if (tts.engine === 'none')
    return {
      engine: null,
      reason:
        'text to speech is turned off (TTS_ENGINE=none); set TTS_ENGINE=auto, espeak-ng or http to turn it on',
    };
  if (tts.engine === 'http' || (tts.engine === 'auto' && tts.http.url))
    return { engine: new HttpEngine(tts, config.audio.maxUploadBytes), reason: null };
  const espeak = new EspeakEngine(tts);
  const found = await espeak.locate();
  if (found || tts.engine === 'espeak-ng') return { engine: espeak, reason: null };
  return {
    engine: null,
    reason: `no engine found (TTS_ENGINE=auto): TTS_HTTP_URL is unset and ${espeak.unavailableReason}`,
  };
}
