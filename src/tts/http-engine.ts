import { Logger } from '@nestjs/common';
import { writeFile } from 'node:fs/promises';
import type { TtsConfig } from '../config/app-config.js';
import { boundedFetch, FetchFailed } from '../common/bounded-fetch.js';
import { stripControl } from '../common/validators.js';
import { SpeakOptions, TtsEngine, TtsEngineFailed } from './tts-engine.js';

/** The voice sent when neither the request nor TTS_VOICE names one: the server's own default. */
export const HTTP_DEFAULT_VOICE = 'default';
/** Answers a speech server may give: audio, or bytes it does not label. */
const AUDIO_TYPE = /^(audio\/[\w.+-]+|application\/octet-stream)\s*(;|$)/i;

/**
 * A speech server reached over HTTP (a neural engine on another machine, a cloud service behind a
 * small adapter): POST TTS_HTTP_URL with `{text, voice, speed}` as JSON (TTS_HTTP_FORMAT=json) or
 * as a form (`form`), `Authorization: Bearer TTS_HTTP_TOKEN` when set; it answers 200 with the
 * audio. The token goes in that header only: never in a log line or an error message.
 */
export class HttpEngine implements TtsEngine {
  readonly name = 'http';
  readonly defaultVoice: string;
  private readonly logger = new Logger('tts');
  private readonly url: string;
  /** Why the last request failed, until one succeeds: readiness shows it without a request of its own. */
  private lastFailure: string | null = null;

  constructor(
    private readonly config: TtsConfig,
    private readonly maxBytes: number,
  ) {
    if (!config.http.url) throw new Error('HttpEngine needs TTS_HTTP_URL');
    this.url = config.http.url;
    this.defaultVoice = config.voice ?? config.http.voices[0] ?? HTTP_DEFAULT_VOICE;
  }

  available(): Promise<string | null> {
    return Promise.resolve(this.lastFailure && `the last request failed: ${this.lastFailure}`);
  }

  voices(): Promise<string[]> {
    return Promise.resolve([...this.config.http.voices]);
  }

  describe(): string {
    // The host only: the path or query of a service URL may carry a key.
    return `speech server at ${new URL(this.url).host} (${this.config.http.format})`;
  }

  async synthesize(text: string, options: SpeakOptions, outPath: string): Promise<void> {
    const fields = { text, voice: options.voice, speed: options.speed };
    const headers: Record<string, string> = {
      Accept: 'audio/wav, audio/mpeg, audio/ogg;q=0.9, audio/*;q=0.8',
      'Content-Type':
        this.config.http.format === 'json'
          ? 'application/json; charset=utf-8'
          : 'application/x-www-form-urlencoded; charset=utf-8',
    };
    if (this.config.http.token) headers.Authorization = `Bearer ${this.config.http.token}`;
    const body =
      this.config.http.format === 'json'
        ? JSON.stringify(fields)
        : new URLSearchParams({ ...fields, speed: String(fields.speed) }).toString();
    try {
      const res = await boundedFetch(this.url, {
        method: 'POST',
        headers,
        body,
        maxBytes: this.maxBytes,
        timeoutMs: this.config.timeoutMs,
      });
      if (res.status !== 200) {
        const said = /^(text\/|application\/(problem\+)?json)/i.test(
          res.headers.get('content-type') ?? '',
        )
          ? `: ${stripControl(res.body.toString('utf8', 0, 300)).trim()}`
          : '';
        throw new TtsEngineFailed(`the speech server answered HTTP ${res.status}${said}`);
      }
      const type = res.headers.get('content-type') ?? '';
      if (!AUDIO_TYPE.test(type))
        throw new TtsEngineFailed(
          `the speech server answered ${JSON.stringify(type.slice(0, 100))}, not audio`,
        );
      if (res.body.length === 0) throw new TtsEngineFailed('the speech server answered no audio');
      await writeFile(outPath, res.body);
      this.lastFailure = null;
    } catch (err) {
      const failure =
        err instanceof TtsEngineFailed
          ? err
          : err instanceof FetchFailed
            ? new TtsEngineFailed(`the speech server could not be reached: ${err.message}`)
            : new TtsEngineFailed(
                `the speech server's answer was not usable: ${(err as Error).message}`,
              );
      this.lastFailure = failure.message;
      this.logger.warn(`http engine failed: ${failure.message}`);
      throw failure;
    }
  }

  close(): void {
    // A request under way ends by its own deadline (TTS_TIMEOUT_S); nothing runs here.
  }
}
