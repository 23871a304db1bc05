import { basename } from 'node:path';
import { BeforeApplicationShutdown, Injectable, Logger } from '@nestjs/common';
import { createHash, randomUUID } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { Observable, Subject } from 'rxjs';
import type { AppConfig } from '../config/app-config.js';
import { InjectConfig } from '../config/config.module.js';
import { Clock } from '../common/clock.js';
import { DomainError, NotFoundError } from '../common/domain-error.js';
import type { ClipErrorCode } from './clip-errors.js';
import { Page, pageWindow } from '../common/pagination.js';
import { isoTime } from '../common/time.js';
import { stripControl } from '../common/validators.js';
import { ReadinessChecks } from '../common/readiness-checks.js';
import { TONE_FAMILIES, ToneFamily, tonePath } from './attention-tones.js';
import { AudioProcessor, AudioRejected, Inspection, SpeechInspection } from './audio-processor.js';
import type { Loudness, LoudnessSummary } from './audio-analysis.js';
import { ClipEntity, ClipStatus } from './clip.entity.js';
import { ClipStorage } from './clip-storage.js';
import { ClipsRepository } from './clips.repository.js';
import type {
  ClipDto,
  ClipQuery,
  ClipUploadResultDto,
  RenditionDto,
  UploadPriority,
} from './dto/clip.dto.js';
import { Ffmpeg, TranscodeCancelled } from './ffmpeg.js';
import { Lane, SHORT_CLIP_MS, TranscodeTicket } from './transcode-lanes.js';

/** An uploaded file as multer left it in the work directory. */
export interface UploadedAudio {
  path: string;
  size: number;
  originalName: string;
}

/** Decides whether a clip may be deleted: a reason when something still uses it. */
export type ClipUsageCheck = (clipId: string) => Promise<string | null>;

/**
 * A clip finished processing (`ready` or `failed`), or one of its attention-tone renditions did
 * (`tone` set; `audio` when ready, `reason` when failed). A failed rendition is made again the
 * next time it is asked for.
 */
export type ClipChange =
  | { kind: 'clip'; clipId: string; status: ClipStatus }
  | {
      kind: 'rendition';
      clipId: string;
      tone: ToneFamily;
      status: 'ready' | 'failed';
      audio?: DeliverableAudio;
      reason?: string;
    };

/** The audio a device gets for a clip (the clip itself or a rendition with an attention tone). */
export interface DeliverableAudio {
  sha256: string;
  bytes: number;
  durationMs: number;
}

const MAX_LABEL = 255;

/**
 * What the check measured, for the normalisation: loudnorm's first pass (uploads), or ebur128's
 * figures for synthetic speech ({@link ClipsService.addSpeech}).
 */
type Measured = { speech: false; loudness: Loudness } | { speech: true; loudness: LoudnessSummary };

/** Speech normalised further than this from the target is normalised again, corrected. */
const SPEECH_RETRY_LU = 0.5;

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
 * attention-tone renditions (made ahead of need, see transcode-lanes.ts for the order), and the
 * audio devices download.
 */
@Injectable()
export class ClipsService implements BeforeApplicationShutdown {
  private readonly logger = new Logger('clips');
  private readonly usageChecks: ClipUsageCheck[] = [];
  private readonly changes$ = new Subject<ClipChange>();
  private readonly jobs = new Set<Promise<void>>();
  private readonly renderings = new Map<string, Promise<DeliverableAudio>>();
  /** The queue tickets of transcodes and renditions not done yet, by `clipId` or `clipId/tone`. */
  private readonly tickets = new Map<string, TranscodeTicket>();
  /** The accepts of each source (sha256) under way here, one at a time (see turnFor). */
  private readonly sourceTurns = new Map<string, Promise<void>>();
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

  /** Clips and renditions becoming ready or failing, as it happens. */
  get changes(): Observable<ClipChange> {
    return this.changes$.asObservable();
  }

  /** Another module (broadcasts) says when a clip is in use and must not be deleted. */
  registerUsageCheck(check: ClipUsageCheck): void {
    this.usageChecks.push(check);
  }

  /**
   * Finds ffmpeg, cleans up after a crash (half-written files, uploads whose clip is gone),
   * resumes clips that were still processing and makes the renditions a crash left unmade.
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
      // Its length is known only once read again: background until then.
      if (kept.has(clip.id) && this.ffmpeg.available) this.schedule(clip.id, null, 'background');
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
    let unmade = 0;
    if (this.ffmpeg.available) {
      for (const { clipId, tones } of await this.repo.missingRenditions(TONE_FAMILIES)) {
        unmade += tones.length;
        this.track(this.renderAhead(clipId, tones, 'background'));
      }
    }
    if (cleared + removed + unmade > 0 || processing.size > 0) {
      this.logger.log(
        `start-up: ${cleared + removed} orphaned file(s) removed, ${processing.size} clip(s) resumed or failed, ${unmade} rendition(s) to make`,
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

  /**
   * Adds a recording shipped with the server (the sample announcement) as a clip: checked and
   * transcoded like a routine upload, renditions included, so an emergency still goes first. The
   * same file again returns the same clip.
   */
  async addShipped(path: string, title: string, by: string): Promise<ClipUploadResultDto> {
    if (!this.ffmpeg.available) {
      throw new DomainError<ClipErrorCode>(
        'unavailable',
        'AUDIO_UNAVAILABLE',
        `Clip upload is unavailable: ${this.ffmpeg.unavailableReason}`,
      );
    }
    const copy = await this.storage.copyIn(path);
    return this.upload(
      { path: copy.path, size: copy.size, originalName: basename(path) },
      title,
      by,
      false,
    );
  }

  /**
   * Checks an upload and accepts it for transcoding. `urgent` work goes ahead of everything;
   * other recordings up to {@link SHORT_CLIP_MS} go ahead of longer ones (transcode-lanes.ts).
   */
  async upload(
    file: UploadedAudio,
    title: string | undefined,
    by: string,
    wait: boolean,
    priority: UploadPriority = 'routine',
  ): Promise<ClipUploadResultDto> {
    return this.accept(file, title, by, wait, priority, false);
  }

  /**
   * Adds what a text-to-speech engine wrote as a clip and waits until it is ready: checked and
   * stored like an upload (the same row, the same delivery format, the result measured the same
   * way), but normalised in one pass for synthetic speech (`AudioProcessor.normaliseSpeech`: the
   * loudness measured on the engine's PCM, a linear gain and a true-peak limiter) instead of
   * loudnorm's two.
   */
  async addSpeech(
    file: UploadedAudio,
    title: string,
    by: string,
    priority: UploadPriority = 'routine',
  ): Promise<ClipUploadResultDto> {
    return this.accept(file, title, by, true, priority, true);
  }

  /**
   * `joined`: the file is {@link join}'s, named by its parts ({@link joinedSource}) rather than by
   * its bytes.
   */
  private async accept(
    file: UploadedAudio,
    title: string | undefined,
    by: string,
    wait: boolean,
    priority: UploadPriority,
    speech: boolean,
    joined?: string,
  ): Promise<ClipUploadResultDto> {
    try {
      if (!this.ffmpeg.available) {
        throw new DomainError<ClipErrorCode>(
          'unavailable',
          'AUDIO_UNAVAILABLE',
          `Clip upload is unavailable: ${this.ffmpeg.unavailableReason}`,
        );
      }
      if (file.size === 0) throw new AudioRejected('AUDIO_EMPTY', 'The file is empty');
      const source = joined
        ? { sha256: joined, bytes: file.size }
        : await this.storage.digest(file.path);
      // One accept of these bytes at a time here: a second finds the first's clip, not a twin.
      // Never an urgent one, which must not wait behind a routine check in its lane: at worst it
      // makes a twin.
      const release = priority === 'urgent' ? () => undefined : await this.turnFor(source.sha256);
      let job: Promise<unknown>;
      let clip: ClipEntity;
      try {
        const existing = await this.repo.findUsableBySource(source.sha256);
        if (existing) {
          await this.storage.remove(file.path);
          this.logger.log(
            `clip=${existing.id} uploaded again by=${JSON.stringify(by)}: returning the existing clip`,
          );
          if (priority === 'urgent') this.raise(existing.id, null, 'urgent');
          // One still being made for someone else: a caller that waits gets it made, not half-done.
          const settled =
            wait && existing.status === 'processing' ? await this.settled(existing.id) : existing;
          return { ...this.toDto(settled), duplicate: true };
        }
        const label = fileLabel(file.originalName);
        const name = `upload ${JSON.stringify(label)}`;
        let inspection: Inspection | SpeechInspection;
        if (speech) {
          // The engine's own file, bounded by the text's length: no header probe first, and the
          // check measures with ebur128 for the one-pass normalisation.
          inspection = await this.processor.inspectSpeech(
            file.path,
            new TranscodeTicket(priority, name),
          );
        } else {
          // The header first (milliseconds): a recording over the limit is refused before any of
          // it is decoded, and its length says which lane the full check goes in.
          const header = await this.processor.probe(file.path, new TranscodeTicket(priority, name));
          const headerMs = header.headerDurationMs ?? header.estimatedDurationMs;
          const checking = new TranscodeTicket(laneFor(priority, headerMs), name);
          inspection = await this.processor.inspect(file.path, checking);
        }
        const now = this.clock.now().getTime();
        clip = {
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
        const lane = laneFor(priority, inspection.decodedMs);
        this.logger.log(
          `clip=${clip.id} accepted (${clip.originalFormat}, ${inspection.decodedMs} ms, ${clip.loudnessBeforeLufs} LUFS); processing in the ${lane} lane`,
        );
        job = this.schedule(
          clip.id,
          speech
            ? { speech: true, loudness: (inspection as SpeechInspection).loudness }
            : { speech: false, loudness: (inspection as Inspection).loudness },
          lane,
        );
      } finally {
        release();
      }
      if (wait) await job;
      return { ...this.toDto((await this.repo.find(clip.id)) ?? clip), duplicate: false };
    } finally {
      await this.storage.remove(file.path);
    }
  }

  /**
   * One clip of ready clips played one after the other (an alert's own audio between spoken
   * markers), and waits until it is ready: the parts' delivery audio joined losslessly into one
   * source (`AudioProcessor.join`), which is then checked, stored, normalised (two-pass loudnorm
   * over the whole) and recorded like an upload: the same row, the same delivery format, resumed
   * after a restart from the joined source. The source is named by its parts ({@link
   * joinedSource}), so the same parts in the same order return the same clip, without joining them
   * again — after a restart too; one still being made here is waited for. Throws CLIP_NOT_READY
   * when a part is not ready, NotFoundError when there is no such part.
   */
  async join(
    clipIds: string[],
    title: string,
    by: string,
    priority: UploadPriority = 'routine',
  ): Promise<ClipUploadResultDto> {
    if (!this.ffmpeg.available) throw this.unavailable('Joining clips');
    if (clipIds.length === 0) throw new Error('nothing to join');
    const parts = [];
    for (const id of clipIds) parts.push(await this.audioOf(id));
    const source = joinedSource(parts.map((p) => p.sha256));
    const existing = await this.repo.findUsableBySource(source);
    if (existing) {
      if (priority === 'urgent') this.raise(existing.id, null, 'urgent');
      this.logger.log(
        `clip=${existing.id} joined again from the same ${parts.length} parts by=${JSON.stringify(by)}: returning the existing clip`,
      );
      return { ...this.toDto(await this.settled(existing.id)), duplicate: true };
    }
    const out = this.storage.workPath('.flac');
    try {
      await this.processor.join(
        parts.map((p) => this.storage.audioPath(p.sha256)),
        out,
        new TranscodeTicket(priority, `join of ${parts.length} clips`),
      );
      const size = await stat(out).then((s) => s.size);
      return await this.accept(
        { path: out, size, originalName: `joined-${parts.length}-parts.flac` },
        title,
        by,
        true,
        priority,
        false,
        source,
      );
    } finally {
      await this.storage.remove(out);
    }
  }

  /**
   * Waits for the accepts of the same bytes before it in this process; the answer ends this one's
   * turn (called once its clip row exists, or it returned without one).
   */
  private async turnFor(sha256: string): Promise<() => void> {
    const before = this.sourceTurns.get(sha256) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((resolve) => (release = resolve));
    const tail = before.then(() => mine);
    this.sourceTurns.set(sha256, tail);
    await before;
    return () => {
      release();
      if (this.sourceTurns.get(sha256) === tail) this.sourceTurns.delete(sha256);
    };
  }

  /**
   * The clip once its transcode here is over (ready or failed); as it is when none is under way
   * in this process (nothing here would end it).
   */
  private async settled(clipId: string): Promise<ClipEntity> {
    for (;;) {
      // Listened for before the row is read: the change cannot come in between unheard.
      const change = this.tickets.has(clipId) ? this.nextChangeOf(clipId) : null;
      const clip = await this.require(clipId);
      if (clip.status !== 'processing' || !change) {
        change?.cancel();
        return clip;
      }
      await change.done;
    }
  }

  /** Resolves at the next change of the clip itself (or at shutdown). */
  private nextChangeOf(clipId: string): { done: Promise<void>; cancel: () => void } {
    let cancel = () => {};
    const done = new Promise<void>((resolve) => {
      const sub = this.changes$.subscribe({
        next: (c) => {
          if (c.kind === 'clip' && c.clipId === clipId) {
            sub.unsubscribe();
            resolve();
          }
        },
        complete: () => resolve(),
      });
      cancel = () => {
        sub.unsubscribe();
        resolve();
      };
    });
    return { done, cancel };
  }

  /**
   * Transcodes in the background, then makes every family's rendition ahead of need. The
   * tickets are taken now, in order (the clip, then the emergency tone first), so that the clip's
   * work keeps its place in its lane and can be raised before it starts.
   */
  private schedule(clipId: string, measured: Measured | null, lane: Lane): Promise<void> {
    this.tickets.set(clipId, new TranscodeTicket(lane, `clip=${clipId} transcode`));
    for (const tone of TONE_FAMILIES) {
      this.tickets.set(
        `${clipId}/${tone}`,
        new TranscodeTicket(aheadLane(tone, lane), `clip=${clipId} rendition=${tone}`),
      );
    }
    return this.track(
      this.process(clipId, measured).then((sha) => {
        if (sha) this.track(this.renderAhead(clipId, TONE_FAMILIES, 'background'));
        else for (const tone of TONE_FAMILIES) this.tickets.delete(`${clipId}/${tone}`);
      }),
    );
  }

  private track(job: Promise<void>): Promise<void> {
    const tracked = job.finally(() => this.jobs.delete(tracked));
    this.jobs.add(tracked);
    return tracked;
  }

  /** Transcodes a clip; its delivery audio's sha256 when it is ready, null otherwise. */
  private async process(clipId: string, measured: Measured | null): Promise<string | null> {
    const ticket = this.tickets.get(clipId)!;
    const source = this.storage.uploadPath(clipId);
    const out = this.storage.workPath('.mp3');
    try {
      let durationMs: number;
      let after: LoudnessSummary;
      if (measured?.speech) {
        ({ durationMs, after } = await this.normaliseSpeech(
          source,
          measured.loudness,
          out,
          ticket,
        ));
      } else {
        let loudness = measured?.loudness;
        if (!loudness) {
          const inspection = await this.processor.inspect(source, ticket);
          this.ffmpeg.raise(ticket, laneFor(ticket.lane, inspection.decodedMs));
          loudness = inspection.loudness;
        }
        durationMs = await this.processor.normalise([source], loudness, out, ticket);
        after = await this.processor.measureResult(out, ticket);
      }
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
      this.emit({ kind: 'clip', clipId, status: 'ready' });
      return stored.sha256;
    } catch (err) {
      await this.storage.remove(out);
      // Killed by shutdown (resumes at the next start) or its clip was deleted.
      if (this.stopping || err instanceof TranscodeCancelled) return null;
      const reason =
        err instanceof AudioRejected
          ? err.message
          : `processing failed: ${(err as Error).message}`.slice(0, 500);
      await this.storage.remove(source);
      await this.fail(clipId, reason);
      return null;
    } finally {
      this.tickets.delete(clipId);
    }
  }

  /**
   * Synthetic speech in one pass, measured after; once more with the gain corrected when the
   * result is more than {@link SPEECH_RETRY_LU} off the target (a voice unlike espeak-ng's).
   */
  private async normaliseSpeech(
    source: string,
    measured: LoudnessSummary,
    out: string,
    ticket: TranscodeTicket,
  ): Promise<{ durationMs: number; after: LoudnessSummary }> {
    let correction = 0;
    for (let attempt = 1; ; attempt++) {
      const durationMs = await this.processor.normaliseSpeech(
        [source],
        measured,
        out,
        ticket,
        correction,
      );
      const after = await this.processor.measureResult(out, ticket);
      const off = this.config.audio.targetLufs - after.integrated;
      if (attempt === 2 || Math.abs(off) <= SPEECH_RETRY_LU || !Number.isFinite(off))
        return { durationMs, after };
      correction += off;
    }
  }

  private async fail(clipId: string, reason: string): Promise<void> {
    await this.repo.update(clipId, {
      status: 'failed',
      failureReason: reason,
      updatedAt: this.clock.now().getTime(),
    });
    this.logger.warn(`clip=${clipId} failed: ${reason}`);
    this.emit({ kind: 'clip', clipId, status: 'failed' });
  }

  /**
   * Makes the renditions of a ready clip that are missing, so that dispatch never waits for
   * ffmpeg; each family keeps the ticket taken at upload (or a `lane` one when none was).
   */
  private async renderAhead(
    clipId: string,
    tones: readonly ToneFamily[],
    lane: Lane,
  ): Promise<void> {
    await Promise.all(
      tones.map(async (tone) => {
        try {
          const clip = await this.audioOf(clipId);
          if (await this.storedRendition(clipId, tone)) return;
          await this.rendering(clipId, clip.sha256, tone, lane);
        } catch (err) {
          if (!(err instanceof TranscodeCancelled) && !(err instanceof NotFoundError))
            this.logger.warn(
              `clip=${clipId} ${tone} rendition not made ahead: ${(err as Error).message}`,
            );
        }
      }),
    );
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

  /** Deletes a clip, stopping its transcode and renditions if they are still under way. */
  async remove(id: string): Promise<void> {
    const clip = await this.require(id);
    for (const check of this.usageChecks) {
      const reason = await check(id);
      if (reason)
        throw new DomainError<ClipErrorCode>(
          'conflict',
          'CLIP_IN_USE',
          `Clip ${id} is in use: ${reason}`,
        );
    }
    for (const key of [id, ...TONE_FAMILIES.map((tone) => `${id}/${tone}`)]) {
      const ticket = this.tickets.get(key);
      if (ticket) this.ffmpeg.cancel(ticket);
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
    return deliverable(await this.require(id));
  }

  /**
   * The audio to send for a clip, with the attention tone `tone` in front (null: the clip alone),
   * without waiting: the audio when it is ready, else null after making sure it is being made in
   * the urgent lane (`urgent: false`, for routine and test broadcasts: in the clip's own lane).
   * A {@link ClipChange} says when it is ready. Throws when it never will be: no such clip
   * (NotFoundError), the clip failed (CLIP_NOT_READY), no ffmpeg (AUDIO_UNAVAILABLE).
   */
  async readyAudio(
    clipId: string,
    tone: ToneFamily | null,
    options: { urgent?: boolean } = {},
  ): Promise<DeliverableAudio | null> {
    const urgent = options.urgent ?? true;
    let clip = await this.require(clipId);
    // Its transcode may have ended while the row was read.
    if (clip.status === 'processing' && !this.tickets.has(clipId))
      clip = await this.require(clipId);
    if (clip.status === 'processing') {
      if (urgent) this.raise(clipId, tone, 'urgent');
      return null;
    }
    const audio = deliverable(clip);
    if (!tone) return audio;
    const stored = await this.storedRendition(clipId, tone);
    if (stored) return stored;
    if (!this.ffmpeg.available) throw this.unavailable('Rendering');
    const lane = urgent ? 'urgent' : laneFor('routine', audio.durationMs);
    this.rendering(clipId, audio.sha256, tone, lane).catch(() => {
      // Told as a `failed` change; the next request makes it again.
    });
    return null;
  }

  /**
   * The clip with an attention tone in front, normalised together; made once per (clip, tone)
   * and kept (concurrent requests share one rendering). Waits for it: the emergency tone in the
   * urgent lane, the others in the clip's own.
   */
  async withAttentionTone(clipId: string, tone: ToneFamily): Promise<RenditionDto> {
    const clip = await this.audioOf(clipId);
    const existing = await this.storedRendition(clipId, tone);
    if (existing) return { tone, ...existing };
    if (!this.ffmpeg.available) throw this.unavailable('Rendering');
    const lane = tone === 'emergency' ? 'urgent' : laneFor('routine', clip.durationMs);
    return { tone, ...(await this.rendering(clipId, clip.sha256, tone, lane)) };
  }

  /** Moves a clip's pending transcode (and the rendition with `tone`) up to `lane`. */
  private raise(clipId: string, tone: ToneFamily | null, lane: Lane): void {
    for (const key of [clipId, ...(tone ? [`${clipId}/${tone}`] : [])]) {
      const ticket = this.tickets.get(key);
      if (ticket) this.ffmpeg.raise(ticket, lane);
    }
  }

  private async storedRendition(
    clipId: string,
    tone: ToneFamily,
  ): Promise<DeliverableAudio | null> {
    const row = await this.repo.findRendition(clipId, tone);
    if (!row || (await this.storage.size(row.sha256)) === undefined) return null;
    return { sha256: row.sha256, bytes: row.bytes, durationMs: row.durationMs };
  }

  /** The one rendering of (clip, tone) under way, started when there is none; raised to `lane`. */
  private rendering(
    clipId: string,
    clipSha: string,
    tone: ToneFamily,
    lane: Lane,
  ): Promise<DeliverableAudio> {
    const key = `${clipId}/${tone}`;
    let ticket = this.tickets.get(key);
    if (!ticket) {
      ticket = new TranscodeTicket(lane, `clip=${clipId} rendition=${tone}`);
      this.tickets.set(key, ticket);
    }
    this.ffmpeg.raise(ticket, lane);
    let rendering = this.renderings.get(key);
    if (!rendering) {
      rendering = this.render(clipId, clipSha, tone, ticket).finally(() => {
        this.renderings.delete(key);
        if (this.tickets.get(key) === ticket) this.tickets.delete(key);
      });
      this.renderings.set(key, rendering);
    }
    return rendering;
  }

  private async render(
    clipId: string,
    clipSha: string,
    tone: ToneFamily,
    ticket: TranscodeTicket,
  ): Promise<DeliverableAudio> {
    const inputs = [tonePath(this.config.audio.soundsDir, tone), this.storage.audioPath(clipSha)];
    const out = this.storage.workPath('.mp3');
    try {
      const measured = await this.processor.measure(inputs, ticket);
      const durationMs = await this.processor.normalise(inputs, measured, out, ticket);
      const stored = await this.storage.store(out);
      await this.repo.insertRendition({
        clipId,
        tone,
        ...stored,
        durationMs,
        createdAt: this.clock.now().getTime(),
      });
      this.logger.log(
        `clip=${clipId} rendered with the ${tone} tone in the ${ticket.lane} lane: sha256=${stored.sha256}`,
      );
      const audio = { ...stored, durationMs };
      this.emit({ kind: 'rendition', clipId, tone, status: 'ready', audio });
      return audio;
    } catch (err) {
      if (!this.stopping && !(err instanceof TranscodeCancelled))
        this.emit({
          kind: 'rendition',
          clipId,
          tone,
          status: 'failed',
          reason: (err as Error).message.slice(0, 500),
        });
      throw err;
    } finally {
      await this.storage.remove(out);
    }
  }

  private unavailable(what: string): DomainError<ClipErrorCode> {
    return new DomainError<ClipErrorCode>(
      'unavailable',
      'AUDIO_UNAVAILABLE',
      `${what} is unavailable: ${this.ffmpeg.unavailableReason}`,
    );
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

/**
 * The `sourceSha256` of a clip {@link ClipsService.join} made: SHA-256 over its parts' delivery
 * audio SHA-256s, in order, so deterministic parts (espeak-ng speech, the same resource) name the
 * same clip; never the digest of an upload (which is of the file's bytes).
 */
export function joinedSource(partSha256s: readonly string[]): string {
  return createHash('sha256')
    .update(`joined:${partSha256s.join(',')}`)
    .digest('hex');
}

/** The lane of a clip's work: urgent when asked, else by its length (unknown counts as long). */
function laneFor(priority: Lane, durationMs: number | null): Lane {
  if (priority === 'urgent') return 'urgent';
  return durationMs !== null && durationMs <= SHORT_CLIP_MS ? 'routine' : 'background';
}

/** Renditions made ahead: the emergency tone's in the clip's lane, the others behind everything. */
function aheadLane(tone: ToneFamily, clipLane: Lane): Lane {
  return tone === 'emergency' ? clipLane : 'background';
}

function deliverable(clip: ClipEntity): DeliverableAudio {
  if (clip.status !== 'ready' || !clip.sha256 || clip.bytes === null || clip.durationMs === null) {
    throw new DomainError<ClipErrorCode>(
      'conflict',
      'CLIP_NOT_READY',
      `Clip ${clip.id} is ${clip.status}${clip.failureReason ? `: ${clip.failureReason}` : ''}`,
    );
  }
  return { sha256: clip.sha256, bytes: clip.bytes, durationMs: clip.durationMs };
}

function round(n: number): number {
  return Math.round(n * 100) / 100;
}
