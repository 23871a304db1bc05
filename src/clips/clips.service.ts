import { BeforeApplicationShutdown, Injectable, Logger } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { Observable, Subject } from 'rxjs';
import type { AppConfig } from '../config/app-config.js';
import { InjectConfig } from '../config/config.module.js';
import { Clock } from '../common/clock.js';
import { DomainError, NotFoundError } from '../common/domain-error.js';
import { Page, pageWindow } from '../common/pagination.js';
import { isoTime } from '../common/time.js';
import { stripControl } from '../common/validators.js';
import { ReadinessChecks } from '../health/readiness-checks.js';
import { ToneFamily, tonePath } from './attention-tones.js';
import { AudioProcessor, AudioRejected } from './audio-processor.js';
import type { Loudness } from './audio-analysis.js';
import { ClipEntity } from './clip.entity.js';
import { ClipStorage } from './clip-storage.js';
import { ClipsRepository } from './clips.repository.js';
import type { ClipDto, ClipQuery, ClipUploadResultDto, RenditionDto } from './dto/clip.dto.js';
import { Ffmpeg } from './ffmpeg.js';

/** An uploaded file as multer left it in the work directory. */
export interface UploadedAudio {
  path: string;
  size: number;
  originalName: string;
}

/** Decides whether a clip may be deleted: a reason when something still uses it. */
export type ClipUsageCheck = (clipId: string) => Promise<string | null>;

export interface ClipChange {
  clipId: string;
  status: ClipEntity['status'];
}

/** The audio a device gets for a clip (the clip itself or a rendition with an attention tone). */
export interface DeliverableAudio {
  sha256: string;
  bytes: number;
  durationMs: number;
}

const MAX_LABEL = 255;

/** The client's file name as a label: no directories, no control characters, bounded. */
export function fileLabel(name: string): string {
  const base = stripControl(name.split(/[\\/]/).pop()!).trim();
  return base.slice(0, MAX_LABEL);
}

function titleFrom(label: string): string {
  const withoutExtension = label.replace(/\.[A-Za-z0-9]{1,5}$/, '').trim();
  return (withoutExtension || 'Untitled recording').slice(0, 200);
}

/**
 * Clips: upload (checked synchronously, transcoded in the background), the library, deletion,
 * attention-tone renditions, and the audio devices download.
 */
@Injectable()
export class ClipsService implements BeforeApplicationShutdown {
  private readonly logger = new Logger('clips');
  private readonly usageChecks: ClipUsageCheck[] = [];
  private readonly changes$ = new Subject<ClipChange>();
  private readonly jobs = new Set<Promise<void>>();
  private readonly renderings = new Map<string, Promise<DeliverableAudio>>();
  private stopping = false;

  constructor(
    private readonly repo: ClipsRepository,
    private readonly storage: ClipStorage,
    private readonly processor: AudioProcessor,
    private readonly ffmpeg: Ffmpeg,
    private readonly readiness: ReadinessChecks,
    private readonly clock: Clock,
    @InjectConfig() private readonly config: AppConfig,
  ) {}

  get changes(): Observable<ClipChange> {
    return this.changes$.asObservable();
  }

  /** Another module (broadcasts) says when a clip is in use and must not be deleted. */
  registerUsageCheck(check: ClipUsageCheck): void {
    this.usageChecks.push(check);
  }

  /**
   * Finds ffmpeg, cleans up after a crash (half-written files, uploads whose clip is gone) and
   * resumes clips that were still processing.
   */
  async start(): Promise<void> {
    await this.ffmpeg.locate();
    this.readiness.register(
      'audio',
      async () => {
        if (!this.ffmpeg.available) throw new Error(this.ffmpeg.unavailableReason);
      },
      { critical: false },
    );
    await this.storage.prepare();
    const cleared = await this.storage.clearWork();
    const processing = new Map((await this.repo.findProcessing()).map((c) => [c.id, c]));
    let removed = 0;
    for (const id of await this.storage.uploads()) {
      if (!processing.has(id)) {
        await this.storage.remove(this.storage.uploadPath(id));
        removed++;
      }
    }
    const kept = new Set(await this.storage.uploads());
    for (const clip of processing.values()) {
      if (kept.has(clip.id) && this.ffmpeg.available) this.schedule(clip.id, null);
      else
        await this.fail(
          clip.id,
          'processing was interrupted by a restart and the upload is gone; upload it again',
        );
    }
    const referenced = await this.repo.referencedAudio();
    for (const sha of await this.storage.storedAudio()) {
      if (!referenced.has(sha)) {
        await this.storage.removeAudio(sha);
        removed++;
      }
    }
    if (cleared + removed > 0 || processing.size > 0) {
      this.logger.log(
        `start-up: ${cleared + removed} orphaned file(s) removed, ${processing.size} clip(s) resumed or failed`,
      );
    }
  }

  /** Resolves once no transcode or rendition is under way (tests; an orderly stop). */
  async idle(): Promise<void> {
    while (this.jobs.size || this.renderings.size) {
      await Promise.allSettled([...this.jobs, ...this.renderings.values()]);
    }
  }

  async beforeApplicationShutdown(): Promise<void> {
    // Running transcodes are killed with ffmpeg; their clips stay `processing` and resume at start.
    this.stopping = true;
    this.changes$.complete();
  }

  // ---- upload ----

  async upload(
    file: UploadedAudio,
    title: string | undefined,
    by: string,
    wait: boolean,
  ): Promise<ClipUploadResultDto> {
    try {
      if (!this.ffmpeg.available) {
        throw new DomainError(
          'unavailable',
          'AUDIO_UNAVAILABLE',
          `Clip upload is unavailable: ${this.ffmpeg.unavailableReason}`,
        );
      }
      if (file.size === 0) throw new AudioRejected('AUDIO_EMPTY', 'The file is empty');
      const source = await this.storage.digest(file.path);
      const existing = await this.repo.findUsableBySource(source.sha256);
      if (existing) {
        await this.storage.remove(file.path);
        this.logger.log(
          `clip=${existing.id} uploaded again by=${JSON.stringify(by)}: returning the existing clip`,
        );
        return { ...this.toDto(existing), duplicate: true };
      }
      const inspection = await this.processor.inspect(file.path);
      const label = fileLabel(file.originalName);
      const now = this.clock.now().getTime();
      const clip: ClipEntity = {
        id: randomUUID(),
        title: title ?? titleFrom(label),
        status: 'processing',
        failureReason: null,
        sourceSha256: source.sha256,
        originalName: label || null,
        originalFormat: inspection.format.slice(0, 200) || null,
        originalBytes: source.bytes,
        sha256: null,
        bytes: null,
        durationMs: null,
        loudnessBeforeLufs: round(inspection.loudness.integrated),
        loudnessAfterLufs: null,
        truePeakAfterDb: null,
        createdBy: by,
        createdAt: now,
        updatedAt: now,
      };
      await this.storage.keepUpload(file.path, clip.id);
      await this.repo.insert(clip);
      this.logger.log(
        `clip=${clip.id} accepted (${clip.originalFormat}, ${inspection.decodedMs} ms, ${clip.loudnessBeforeLufs} LUFS); processing`,
      );
      const job = this.schedule(clip.id, inspection.loudness);
      if (wait) await job;
      return { ...this.toDto((await this.repo.find(clip.id)) ?? clip), duplicate: false };
    } finally {
      await this.storage.remove(file.path);
    }
  }

  /** Transcodes in the background; the ffmpeg semaphore decides when it actually runs. */
  private schedule(clipId: string, measured: Loudness | null): Promise<void> {
    const job = this.process(clipId, measured).finally(() => this.jobs.delete(job));
    this.jobs.add(job);
    return job;
  }

  private async process(clipId: string, measured: Loudness | null): Promise<void> {
    const source = this.storage.uploadPath(clipId);
    const out = this.storage.workPath('.mp3');
    try {
      const loudness = measured ?? (await this.processor.inspect(source)).loudness;
      await this.processor.normalise([source], loudness, out);
      const after = await this.processor.measure([out]);
      const durationMs = await this.processor.durationMs(out);
      const stored = await this.storage.store(out);
      await this.repo.update(clipId, {
        status: 'ready',
        sha256: stored.sha256,
        bytes: stored.bytes,
        durationMs,
        loudnessAfterLufs: round(after.integrated),
        truePeakAfterDb: round(after.truePeak),
        updatedAt: this.clock.now().getTime(),
      });
      await this.storage.remove(source);
      this.logger.log(
        `clip=${clipId} ready: ${stored.bytes} bytes, ${durationMs} ms, ${round(after.integrated)} LUFS, sha256=${stored.sha256}`,
      );
      this.emit({ clipId, status: 'ready' });
      // Emergencies must not wait for ffmpeg: the emergency-tone version is made now, ahead of need.
      void this.withAttentionTone(clipId, 'emergency').catch((err: Error) =>
        this.logger.warn(`clip=${clipId} emergency rendition not made ahead: ${err.message}`),
      );
    } catch (err) {
      await this.storage.remove(out);
      if (this.stopping) return; // killed by shutdown: resumes at the next start
      const reason =
        err instanceof AudioRejected
          ? err.message
          : `processing failed: ${(err as Error).message}`.slice(0, 500);
      await this.storage.remove(source);
      await this.fail(clipId, reason);
    }
  }

  private async fail(clipId: string, reason: string): Promise<void> {
    await this.repo.update(clipId, {
      status: 'failed',
      failureReason: reason,
      updatedAt: this.clock.now().getTime(),
    });
    this.logger.warn(`clip=${clipId} failed: ${reason}`);
    this.emit({ clipId, status: 'failed' });
  }

  private emit(change: ClipChange): void {
    if (!this.stopping) this.changes$.next(change);
  }

  // ---- library ----

  async list(query: ClipQuery): Promise<Page<ClipDto>> {
    const { limit, offset } = pageWindow(query);
    const [rows, total] = await this.repo.list(query.q, query.status, limit, offset);
    return { items: rows.map((c) => this.toDto(c)), total, limit, offset };
  }

  async get(id: string): Promise<ClipDto> {
    return this.toDto(await this.require(id));
  }

  async rename(id: string, title: string): Promise<ClipDto> {
    await this.require(id);
    await this.repo.update(id, { title, updatedAt: this.clock.now().getTime() });
    return this.get(id);
  }

  async remove(id: string): Promise<void> {
    const clip = await this.require(id);
    for (const check of this.usageChecks) {
      const reason = await check(id);
      if (reason)
        throw new DomainError('conflict', 'CLIP_IN_USE', `Clip ${id} is in use: ${reason}`);
    }
    const renditions = await this.repo.renditionsOf(id);
    await this.repo.delete(id);
    for (const sha of [clip.sha256, ...renditions.map((r) => r.sha256)]) {
      if (sha && !(await this.repo.isAudioReferenced(sha))) await this.storage.removeAudio(sha);
    }
    await this.storage.remove(this.storage.uploadPath(id));
    this.logger.log(`clip=${id} deleted`);
  }

  /** The stored delivery audio of a ready clip (for the preview and for broadcasts). */
  async audioOf(id: string): Promise<DeliverableAudio> {
    const clip = await this.require(id);
    if (
      clip.status !== 'ready' ||
      !clip.sha256 ||
      clip.bytes === null ||
      clip.durationMs === null
    ) {
      throw new DomainError(
        'conflict',
        'CLIP_NOT_READY',
        `Clip ${id} is ${clip.status}${clip.failureReason ? `: ${clip.failureReason}` : ''}`,
      );
    }
    return { sha256: clip.sha256, bytes: clip.bytes, durationMs: clip.durationMs };
  }

  /**
   * The clip with an attention tone in front, normalised together; made once per (clip, tone)
   * and kept (concurrent requests share one rendering).
   */
  async withAttentionTone(clipId: string, tone: ToneFamily): Promise<RenditionDto> {
    const clip = await this.audioOf(clipId);
    const existing = await this.repo.findRendition(clipId, tone);
    if (existing && (await this.storage.size(existing.sha256)) !== undefined) {
      return {
        tone,
        sha256: existing.sha256,
        bytes: existing.bytes,
        durationMs: existing.durationMs,
      };
    }
    if (!this.ffmpeg.available) {
      throw new DomainError(
        'unavailable',
        'AUDIO_UNAVAILABLE',
        `Rendering is unavailable: ${this.ffmpeg.unavailableReason}`,
      );
    }
    const key = `${clipId}/${tone}`;
    let rendering = this.renderings.get(key);
    if (!rendering) {
      rendering = this.render(clipId, clip.sha256, tone).finally(() => this.renderings.delete(key));
      this.renderings.set(key, rendering);
    }
    return { tone, ...(await rendering) };
  }

  private async render(
    clipId: string,
    clipSha: string,
    tone: ToneFamily,
  ): Promise<DeliverableAudio> {
    const inputs = [tonePath(this.config.audio.soundsDir, tone), this.storage.audioPath(clipSha)];
    const out = this.storage.workPath('.mp3');
    try {
      const measured = await this.processor.measure(inputs);
      await this.processor.normalise(inputs, measured, out);
      const durationMs = await this.processor.durationMs(out);
      const stored = await this.storage.store(out);
      await this.repo.insertRendition({
        clipId,
        tone,
        ...stored,
        durationMs,
        createdAt: this.clock.now().getTime(),
      });
      this.logger.log(`clip=${clipId} rendered with the ${tone} tone: sha256=${stored.sha256}`);
      return { ...stored, durationMs };
    } finally {
      await this.storage.remove(out);
    }
  }

  private async require(id: string): Promise<ClipEntity> {
    const clip = await this.repo.find(id);
    if (!clip) throw new NotFoundError('clip', id);
    return clip;
  }

  private toDto(c: ClipEntity): ClipDto {
    return {
      id: c.id,
      title: c.title,
      status: c.status,
      failureReason: c.failureReason,
      sha256: c.sha256,
      bytes: c.bytes,
      durationMs: c.durationMs,
      loudnessBeforeLufs: c.loudnessBeforeLufs,
      loudnessAfterLufs: c.loudnessAfterLufs,
      truePeakAfterDb: c.truePeakAfterDb,
      originalName: c.originalName,
      originalFormat: c.originalFormat,
      originalBytes: c.originalBytes,
      deliveryFormat: `mp3, mono, 44.1 kHz, ${this.config.audio.bitrateKbps} kbit/s`,
      createdBy: c.createdBy,
      createdAt: isoTime(c.createdAt),
      updatedAt: isoTime(c.updatedAt),
    };
  }
}

function round(n: number): number {
  return Math.round(n * 100) / 100;
}
