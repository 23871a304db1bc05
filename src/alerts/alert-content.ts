import { Injectable, Logger } from '@nestjs/common';
import { createHash, randomUUID } from 'node:crypto';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ClipsService } from '../clips/clips.service.js';
import type { UploadPriority } from '../clips/dto/clip.dto.js';
import { boundedFetch, FetchFailed } from '../common/bounded-fetch.js';
import type { AppConfig } from '../config/app-config.js';
import { InjectConfig } from '../config/config.module.js';
import { TtsService } from '../tts/tts.service.js';
import { AUDIO_MARKS, SPOKEN_MARKS, StatusAction } from './alert-mapping.js';
import type { CapInfo, CapResource } from './cap/cap-model.js';

/** A resource that does not answer within this long is given up for text to speech. */
const RESOURCE_TIMEOUT_MS = 30_000;
/** The TTS engine takes at most this much text. */
const TTS_MAX_CHARS = 2000;

/** The clip an alert plays, or why there is none; `notes` say what was tried and refused. */
export type AlertClip =
  | { ok: true; clipId: string; via: 'resource' | 'tts'; notes: string[] }
  | { ok: false; reason: string; notes: string[] };

/** Why an alert's audio resource was not used (size, digest, fetch): it is never played anyway. */
class ResourceRefused extends Error {}

/**
 * The one file that fetches alert audio and writes it to disk: an audio `resource` (checked
 * against its `size` and SHA-1 `digest`), else the headline and description spoken by TTS. Either
 * way the result is a clip made like any upload; a drill's or a test's own audio plays between
 * spoken marks, joined into one clip by the clips module.
 */
@Injectable()
export class AlertContent {
  private readonly logger = new Logger('alerts');
  private readonly workDir: string;

  constructor(
    private readonly clips: ClipsService,
    private readonly tts: TtsService,
    @InjectConfig() private readonly config: AppConfig,
  ) {
    // Beside the clips' own directories, so the upload's rename stays on one file system.
    this.workDir = join(config.dataDir, 'alerts-work');
  }

  /** `action`: a drill or a test is spoken as one (see {@link spokenText}). */
  async clipFor(
    info: CapInfo,
    action: StatusAction,
    title: string,
    by: string,
    priority: UploadPriority,
  ): Promise<AlertClip> {
    const notes: string[] = [];
    const resource = info.resources.find((r) => /^audio\//i.test(r.mimeType));
    if (resource) {
      let own: string | null = null;
      try {
        own = await this.fromResource(resource, title, by, priority);
      } catch (err) {
        const why = `audio resource refused: ${(err as Error).message}`.slice(0, 300);
        this.logger.warn(`${why}; speaking the text instead`);
        notes.push(why);
      }
      if (own) {
        const clipId = await this.marked(own, action, title, by, priority, notes);
        return { ok: true, clipId, via: 'resource', notes };
      }
    }
    const text = spokenText(info, action);
    if (!text) return { ok: false, reason: 'no usable audio and no text to speak', notes };
    try {
      const clip = await this.tts.synthesize({ text, title }, by, priority);
      if (clip.status !== 'ready')
        return { ok: false, reason: `text to speech gave no clip (${clip.status})`, notes };
      return { ok: true, clipId: clip.id, via: 'tts', notes };
    } catch (err) {
      return { ok: false, reason: `text to speech failed: ${(err as Error).message}`, notes };
    }
  }

  /**
   * A drill's or a test's own audio (clip `own`) between its spoken marks ({@link AUDIO_MARKS}),
   * joined into one clip; `own` itself for an Actual alert. When the marks cannot be spoken or
   * joined (no TTS engine), `own` as it is, with a note: the title, the level and the absence of an
   * attention tone still mark it. Everything here is found by content again (the same text spoken
   * the same way, the same parts joined), so acting on the alert again makes nothing twice.
   */
  private async marked(
    own: string,
    action: StatusAction,
    title: string,
    by: string,
    priority: UploadPriority,
    notes: string[],
  ): Promise<string> {
    const { before, after } = AUDIO_MARKS[action];
    if (!before && !after) return own;
    try {
      const spoken: string[] = [];
      for (const text of [before, after]) {
        const clip = await this.tts.synthesize({ text }, by, priority);
        if (clip.status !== 'ready')
          throw new Error(`text to speech gave no clip (${clip.status})`);
        spoken.push(clip.id);
      }
      const joined = await this.clips.join([spoken[0], own, spoken[1]], title, by, priority);
      if (joined.status !== 'ready')
        throw new Error(`joining failed: ${joined.failureReason ?? joined.status}`);
      return joined.id;
    } catch (err) {
      const why =
        `the spoken ${action === 'drill' ? '演练' : '测试'} marker could not be added, its own audio plays as it is: ${(err as Error).message}`.slice(
          0,
          300,
        );
      this.logger.warn(why);
      notes.push(why);
      return own;
    }
  }

  private async fromResource(
    r: CapResource,
    title: string,
    by: string,
    priority: UploadPriority,
  ): Promise<string> {
    const max = this.config.alerts.resourceMaxBytes;
    let bytes: Buffer;
    if (r.derefUri) {
      bytes = Buffer.from(r.derefUri, 'base64');
      if (bytes.length > max) throw new ResourceRefused(`${bytes.length} bytes, over ${max}`);
    } else if (r.uri) {
      try {
        const res = await boundedFetch(r.uri, {
          maxBytes: max,
          timeoutMs: RESOURCE_TIMEOUT_MS,
          addresses: this.config.alerts.fetchPrivate ? 'any' : 'public-only',
        });
        if (res.status !== 200) throw new ResourceRefused(`${r.uri} answered ${res.status}`);
        bytes = res.body;
      } catch (err) {
        if (err instanceof FetchFailed) throw new ResourceRefused(`${r.uri}: ${err.message}`);
        throw err;
      }
    } else {
      throw new ResourceRefused('neither uri nor derefUri');
    }
    if (r.size !== null && r.size !== bytes.length)
      throw new ResourceRefused(`size is ${bytes.length} bytes, the alert says ${r.size}`);
    if (r.digest !== null) {
      const sha1 = createHash('sha1').update(bytes).digest('hex');
      if (sha1 !== r.digest.toLowerCase())
        throw new ResourceRefused(`SHA-1 digest is ${sha1}, the alert says ${r.digest}`);
    }
    if (bytes.length === 0) throw new ResourceRefused('empty');
    await mkdir(this.workDir, { recursive: true });
    const path = join(this.workDir, `${randomUUID()}.src`);
    await writeFile(path, bytes);
    try {
      const clip = await this.clips.upload(
        { path, size: bytes.length, originalName: 'alert-resource' },
        title,
        by,
        true,
        priority,
      );
      if (clip.status !== 'ready')
        throw new ResourceRefused(`not playable audio: ${clip.failureReason ?? clip.status}`);
      return clip.id;
    } finally {
      await rm(path, { force: true });
    }
  }
}

/**
 * What TTS speaks: headline, description and instruction, each once, within the engine's limit. A
 * drill or a test says so before and after ({@link SPOKEN_MARKS}); the text is shortened, never
 * the marks.
 */
export function spokenText(info: CapInfo, action: StatusAction = 'broadcast'): string {
  const parts: string[] = [];
  for (const part of [info.headline ?? info.event, info.description, info.instruction]) {
    const t = part?.replace(/\p{Cc}+/gu, ' ').trim();
    if (t && !parts.includes(t)) parts.push(t);
  }
  const { before, after } = SPOKEN_MARKS[action];
  const room = TTS_MAX_CHARS - [...before].length - [...after].length;
  const text = [...parts.join('。')].slice(0, room).join('').trim();
  return text ? `${before}${text}${after}` : '';
}
