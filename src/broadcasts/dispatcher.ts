import { BeforeApplicationShutdown, Injectable, Logger } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import type { Subscription } from 'rxjs';
import type { AppConfig } from '../config/app-config.js';
import { InjectConfig } from '../config/config.module.js';
import type { DeliveryEvent, DeliveryState, PlayCommand } from '../contract/messages.js';
import { PROTOCOL_VERSION } from '../contract/messages.js';
import { toneFamilyOf } from '../clips/attention-tones.js';
import { ClipsService, DeliverableAudio } from '../clips/clips.service.js';
import { MediaService } from '../clips/media.service.js';
import { Clock } from '../common/clock.js';
import { isoTime } from '../common/time.js';
import { chunks } from '../database/batch.js';
import { ThrottledLog } from '../common/throttled-log.js';
import { DevicesService } from '../devices/devices.service.js';
import { PresenceService } from '../devices/presence.service.js';
import { MetricsService } from '../metrics/metrics.service.js';
import { DeviceGateway, InboundEvent } from '../mqtt/device-gateway.js';
import { VillagesService } from '../villages/villages.service.js';
import { BroadcastEvents } from './broadcast-events.js';
import { BroadcastFactsRepository } from './broadcast-facts.repository.js';
import { milestoneTimes, settle, Settlement } from './broadcast-outcome.js';
import { BroadcastEntity, DeliveryEntity } from './broadcast.entity.js';
import { BroadcastsRepository, DeliveryChange } from './broadcasts.repository.js';
import {
  DeliveryInput,
  isTerminal,
  Transition,
  transition,
  UNACKNOWLEDGED_STATES,
} from './delivery-state-machine.js';
import { endOfQuiet, heldByQuietHours } from './quiet-window.js';
import { resolveTargets, Target } from './targets.js';

/** How long a send took: preparing and saving its deliveries, then publishing their commands. */
interface SendTimes {
  savedMs: number;
  publishedMs: number;
  published: number;
}

/** A dispatch being saved: the broadcast as it will be, its villages, and the change to store. */
interface DispatchWrite {
  broadcast: BroadcastEntity;
  villageCodes: string[];
  patch: Partial<BroadcastEntity>;
}

/** Device events are applied in batches: this many, or whatever arrived within the delay. */
const INGEST_BATCH = 500;
const INGEST_DELAY_MS = 10;
/**
 * A backlog of batches gives the event loop a turn once this much time has gone on them, so a
 * dispatch (an emergency) arriving meanwhile is not held until the whole backlog is stored.
 */
const INGEST_SLICE_MS = 20;
const SEND_BATCH = 5000;
/** A cancel re-reads what is still open this many times at most (each race costs one round). */
const CANCEL_ROUNDS = 5;
/**
 * Devices coming online are looked up together: those that came within `onlineDelayMs` (or while
 * the previous lookup ran), this many to a query. One by one, 10,000 devices reconnecting after a
 * restart cost 30,000 queries and 10,000 transactions (the reconnect-storm benchmark).
 */
const ONLINE_BATCH = 500;
const ONLINE_RETRY_MS = 1000;
/**
 * A dispatch claimed by another server this long ago and still not saved was interrupted (that
 * server died): it is dispatched again. Saving a dispatch is atomic and only from `dispatching`,
 * so two servers that both try save it once.
 */
const DISPATCH_LEASE_MS = 60_000;

/** Why a play command goes out: the first send, a resend of the same command, a resumption. */
type SendKind = 'first' | 'resend' | 'resume';

interface EventWithTime {
  deviceId: string;
  message: DeliveryEvent;
  receivedAt: number;
}

/** A buffered event and the promise its device's PUBACK waits for. */
interface QueuedEvent extends EventWithTime {
  stored: () => void;
  failed: (err: Error) => void;
}

/**
 * The broadcast engine. One tick (every DISPATCH_TICK_MS, or `tick(now)` from tests) dispatches
 * broadcasts that are due, sends and resends play commands, and ends what is past its deadline.
 * Devices coming online get what is waiting for them at once; their events are applied in batches.
 * Everything it knows is in the database, so a restart loses nothing.
 */
@Injectable()
export class BroadcastDispatcher implements BeforeApplicationShutdown {
  private readonly logger = new Logger('dispatch');
  private readonly refusals = new ThrottledLog(this.logger);
  private timer?: NodeJS.Timeout;
  private ticking: Promise<void> | null = null;
  private readonly subscriptions: Subscription[] = [];
  private buffer: QueuedEvent[] = [];
  private flushTimer?: NodeJS.Timeout;
  private ingesting: Promise<void> = Promise.resolve();
  /** Devices that came online whose open deliveries are not yet looked up. */
  private readonly cameOnline = new Set<string>();
  private onlineTimer?: NodeJS.Timeout;
  /** Resolves when the pending online timer has fired (and chained its run). */
  private onlineDue: Promise<void> = Promise.resolve();
  private onlineFired?: () => void;
  private onlineRun: Promise<void> = Promise.resolve();
  private running = false;
  /** Broadcasts this process is dispatching now; any other `dispatching` one may be interrupted. */
  private readonly dispatchingNow = new Set<string>();
  /** When this process started: a dispatch claimed before then was interrupted by its end. */
  private startedAt = 0;
  /** Broadcasts due whose audio is being made (logged once each). */
  private readonly waitingForAudio = new Set<string>();
  /** Attention-tone versions that could not be made (`clipId tone`): sent without the tone. */
  private readonly toneFailed = new Set<string>();

  constructor(
    private readonly repo: BroadcastsRepository,
    private readonly facts: BroadcastFactsRepository,
    private readonly gateway: DeviceGateway,
    private readonly presence: PresenceService,
    private readonly villages: VillagesService,
    private readonly devices: DevicesService,
    private readonly clips: ClipsService,
    private readonly media: MediaService,
    private readonly events: BroadcastEvents,
    private readonly metrics: MetricsService,
    private readonly clock: Clock,
    @InjectConfig() private readonly config: AppConfig,
  ) {}

  start(options: { timer?: boolean } = {}): void {
    this.running = true;
    this.startedAt = this.clock.now().getTime();
    this.subscriptions.push(
      this.gateway.events.subscribe((e) => {
        if (e.message.type === 'delivery')
          e.ackAfter(this.enqueue(e as InboundEvent & { message: DeliveryEvent }));
      }),
      this.presence.changes.subscribe((c) => {
        if (c.online) this.queueOnline(c.deviceId);
      }),
      // Audio that became ready may be what a due broadcast waits for: dispatch it now.
      this.clips.changes.subscribe((c) => {
        if (c.kind === 'rendition' && c.status === 'failed')
          this.toneFailed.add(`${c.clipId} ${c.tone}`);
        if (c.kind === 'clip' && c.status !== 'ready') return;
        if (this.waitingForAudio.size)
          void this.tick().catch((err: Error) =>
            this.logger.error(`tick failed: ${err.stack ?? err.message}`),
          );
      }),
    );
    if (options.timer !== false) {
      this.timer = setInterval(
        () =>
          void this.tick().catch((err: Error) =>
            this.logger.error(`tick failed: ${err.stack ?? err.message}`),
          ),
        this.config.broadcasts.tickMs,
      );
      this.timer.unref();
    }
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.running = false;
    clearInterval(this.timer);
    for (const s of this.subscriptions) s.unsubscribe();
    this.lookUpCameOnline(); // stops the timer; with `running` false, looks up nothing
    await this.onlineRun;
    await this.flushEvents();
    await this.ticking;
  }

  // ---- the tick ----

  /**
   * One pass of the engine. The timer's passes (no `at`) share the pass that is running; a pass
   * asked for at a given time (tests, with their clock) runs after it, at that time.
   */
  async tick(at?: Date): Promise<void> {
    if (at) while (this.ticking) await this.ticking.catch(() => undefined);
    if (!this.ticking) {
      const now = (at ?? this.clock.now()).getTime();
      this.ticking = this.runTick(now).finally(() => (this.ticking = null));
    }
    return this.ticking;
  }

  private async runTick(now: number): Promise<void> {
    const { graceMs, prefetchMs } = this.config.broadcasts;
    // One broadcast that cannot be handled (a database error) must not hold up the others.
    const each = async (b: BroadcastEntity, what: string, work: () => Promise<void>) =>
      work().catch((err: Error) =>
        this.logger.error(`broadcast=${b.id} ${what} failed: ${err.stack ?? err.message}`),
      );
    for (const b of await this.repo.missedWindow(now)) {
      this.waitingForAudio.delete(b.id);
      const interrupted = b.status === 'dispatching';
      if (
        await this.repo.transitionStatus(b.id, [b.status], {
          status: 'expired',
          outcome: 'expired',
          endedAt: now,
          updatedAt: now,
          endReason: interrupted
            ? 'its window closed before it could be sent (its dispatch was interrupted)'
            : 'its window closed before it could be sent',
        })
      ) {
        this.logger.warn(
          `broadcast=${b.id} expired before dispatch (${interrupted ? 'its dispatch was interrupted' : 'the server was down or it could not be prepared'})`,
        );
        this.emitStatus(b.id, 'expired', now);
      }
    }
    await this.resumeInterrupted(now);
    for (const b of await this.repo.dueForDispatch(now + prefetchMs))
      await each(b, 'dispatch', () => this.dispatch(b, now));
    for (const b of await this.repo.pastDeadline(now - graceMs))
      await each(b, 'end at its deadline', () => this.finish(b, now));
    const due = await this.repo.dueToSend(now, SEND_BATCH);
    if (due.length) await this.send(due, now, false);
  }

  // ---- dispatch ----

  /**
   * Broadcasts left `dispatching` by a server that stopped before saving the dispatch (nothing of
   * it is stored then) go back to `scheduled`, so this tick dispatches them.
   */
  private async resumeInterrupted(now: number): Promise<void> {
    const claimedBefore = Math.max(this.startedAt, now - DISPATCH_LEASE_MS);
    for (const b of await this.repo.interruptedDispatches(claimedBefore)) {
      if (this.dispatchingNow.has(b.id)) continue;
      if (await this.repo.reclaimDispatch(b.id, b.updatedAt, now))
        this.logger.warn(
          `broadcast=${b.id} level=${b.level} was being dispatched when a server stopped (claimed ${isoTime(b.updatedAt)}): dispatching it again`,
        );
    }
  }

  /** Resolves the target, creates one pending delivery per device, and sends to the devices online. */
  async dispatch(b: BroadcastEntity, now: number): Promise<void> {
    if (
      !(await this.repo.transitionStatus(b.id, ['scheduled'], {
        status: 'dispatching',
        updatedAt: now,
      }))
    )
      return;
    this.dispatchingNow.add(b.id);
    try {
      await this.dispatchClaimed(b, now);
    } catch (err) {
      // Back to scheduled at once: the next tick tries again (a database error may be brief).
      await this.repo
        .reclaimDispatch(b.id, now, now)
        .catch((e: Error) => this.logger.error(`broadcast=${b.id} not rescheduled: ${e.message}`));
      throw err;
    } finally {
      this.dispatchingNow.delete(b.id);
    }
  }

  private async dispatchClaimed(b: BroadcastEntity, now: number): Promise<void> {
    let audio: DeliverableAudio | null;
    try {
      audio = await this.readyAudio(b);
    } catch (err) {
      // Back to scheduled: the tick tries again, and the broadcast expires if it never can.
      const reason = `could not prepare the audio: ${(err as Error).message}`.slice(0, 200);
      await this.repo.transitionStatus(b.id, ['dispatching'], {
        status: 'scheduled',
        endReason: reason,
        updatedAt: now,
      });
      this.logger.error(`broadcast=${b.id} ${reason}`);
      return;
    }
    if (!audio) {
      // Being made in the urgent lane: the clip's ready event brings the dispatch back.
      await this.repo.reclaimDispatch(b.id, now, now);
      if (!this.waitingForAudio.has(b.id))
        this.logger.log(`broadcast=${b.id} level=${b.level} waits for its audio to be ready`);
      this.waitingForAudio.add(b.id);
      return;
    }
    this.waitingForAudio.delete(b.id);
    const [villages, devices] = await Promise.all([
      this.villages.targetingSnapshot(),
      this.devices.targetingSnapshot(),
    ]);
    const target = JSON.parse(b.target) as Target;
    const resolved = resolveTargets(target, villages, devices);
    const byId = new Map(devices.map((d) => [d.id, d]));
    const deliveries: DeliveryEntity[] = resolved.deviceIds.map((deviceId) => ({
      id: randomUUID(),
      broadcastId: b.id,
      deviceId,
      villageCode: byId.get(deviceId)!.villageCode,
      deviceType: byId.get(deviceId)!.type,
      state: 'pending',
      reason: null,
      attempts: 0,
      resumes: 0,
      commandSends: 0,
      heldUntil: null,
      // Sent right below; the tick picks a delivery up only if that send never gets recorded (a
      // crash in between), so a tick running meanwhile cannot send the same command twice.
      nextSendAt: now + this.config.broadcasts.ackTimeoutMs,
      sentAt: null,
      receivedAt: null,
      startedAt: null,
      playedAt: null,
      updatedAt: now,
    }));
    const empty = deliveries.length === 0;
    if (this.config.broadcasts.baseline.perDeviceDispatch && !empty)
      return this.dispatchOneByOne(b, resolved.villageCodes, deliveries, audio, now);
    const patch: Partial<BroadcastEntity> = {
      status: empty ? 'completed' : 'active',
      ...(empty ? settle('completed', b.startAt, new Map(), resolved.villageCodes, new Set()) : {}),
      audioSha256: audio.sha256,
      audioBytes: audio.bytes,
      audioDurationMs: audio.durationMs,
      dispatchedAt: now,
      updatedAt: now,
      endedAt: empty ? now : null,
      endReason: empty ? 'no enabled device in the target' : null,
    };
    // The deliveries are written as their first send leaves them, in the dispatch's transaction.
    const took = await this.send(deliveries, now, false, {
      broadcast: { ...b, ...patch },
      villageCodes: resolved.villageCodes,
      patch,
    });
    if (!took) {
      this.logger.warn(
        `broadcast=${b.id} was cancelled or expired while being dispatched: nothing sent`,
      );
      return;
    }
    this.logger.log(
      `broadcast=${b.id} level=${b.level} dispatched: ${resolved.villageCodes.length} village(s), ${deliveries.length} device(s); ${took.published} command(s) to devices online, saved in ${took.savedMs} ms, handed to the broker in ${took.publishedMs} ms`,
    );
  }

  /**
   * The audio the broadcast's devices get, if it is ready; null while it is being made (never
   * waited for: the dispatch comes back when it is ready). An emergency goes out without its
   * attention tone rather than not at all when the tone version cannot be made.
   */
  private async readyAudio(b: BroadcastEntity): Promise<DeliverableAudio | null> {
    const urgent = !heldByQuietHours(b.level);
    const tone = b.attentionTone ? toneFamilyOf(b.level) : null;
    if (tone && this.toneFailed.has(`${b.clipId} ${tone}`)) {
      const plain = await this.clips.readyAudio(b.clipId, null, { urgent });
      if (plain)
        this.logger.warn(
          `broadcast=${b.id} sent without its attention tone: the ${tone} tone version could not be made`,
        );
      return plain;
    }
    return this.clips.readyAudio(b.clipId, tone, { urgent });
  }

  /**
   * The benchmark's baseline (BENCH_BASELINE=per-device-dispatch), the simplest correct dispatch:
   * save each delivery row on its own, then for each device in turn publish its command, wait for
   * the broker and record it sent. `npm run bench` compares the batched dispatch above with this.
   */
  private async dispatchOneByOne(
    b: BroadcastEntity,
    villageCodes: string[],
    deliveries: DeliveryEntity[],
    audio: DeliverableAudio,
    now: number,
  ): Promise<void> {
    // Not due for the tick (which would send them in batches): this loop sends each.
    for (const d of deliveries) await this.repo.insertDelivery({ ...d, nextSendAt: null });
    const saved = await this.repo.saveDispatch(b.id, villageCodes, [], {
      status: 'active',
      audioSha256: audio.sha256,
      audioBytes: audio.bytes,
      audioDurationMs: audio.durationMs,
      dispatchedAt: now,
      updatedAt: now,
    });
    if (!saved) return;
    this.emitStatus(b.id, 'active', now);
    for (const d of deliveries) await this.send([d], this.clock.now().getTime(), false);
  }

  /**
   * Sends (or resends, or resumes) play commands for these deliveries to the devices that are online.
   * Only deliveries a device has not acknowledged (pending, sent) are ever sent. With `dispatch`,
   * the deliveries are new: they are inserted already in the state this send leaves them (with its
   * events), in the one transaction that also saves the dispatch — for 10,000 devices that saves an
   * UPDATE of every row (~0.6 s of the API call, measured by the bench). Otherwise each send is a
   * guarded change (state and attempts as read), and only the sends that were applied publish: a
   * tick and a device coming back that read the same row send it once.
   */
  private async send(
    deliveries: DeliveryEntity[],
    now: number,
    comingOnline: boolean,
    dispatch?: DispatchWrite,
  ): Promise<SendTimes | null> {
    const started = performance.now();
    const { ackTimeoutMs, maxResends } = this.config.broadcasts;
    const broadcasts = dispatch
      ? new Map([[dispatch.broadcast.id, dispatch.broadcast]])
      : new Map(
          (await this.repo.findMany([...new Set(deliveries.map((d) => d.broadcastId))])).map(
            (b) => [b.id, b],
          ),
        );
    const needQuiet = [...broadcasts.values()].some((b) => heldByQuietHours(b.level));
    const quiet = needQuiet
      ? new Map((await this.villages.targetingSnapshot()).map((v) => [v.code, v.quietHours]))
      : new Map<string, string | null>();
    // Read after the last await: every device seen online below came online before this instant,
    // so its connection got this send, and a replay when it comes back can tell.
    const sendAt = Math.max(now, this.clock.now().getTime());
    const changes: DeliveryChange[] = [];
    const park: DeliveryEntity[] = [];
    const commands = new Map<string, { deviceId: string; command: PlayCommand; kind: SendKind }>();

    for (const d of deliveries) {
      const b = broadcasts.get(d.broadcastId);
      if (!b || b.status !== 'active' || !UNACKNOWLEDGED_STATES.includes(d.state)) continue;
      if (now >= b.expiresAt) {
        changes.push(this.change(d, { kind: 'expired' }, now, 'not delivered before it expired'));
        continue;
      }
      const presence = this.presence.get(d.deviceId);
      if (!presence?.online) {
        if (d.nextSendAt !== null) park.push(d);
        continue;
      }
      // Sent to the connection the device has now: the ack timeout resends it if need be.
      if (comingOnline && d.state === 'sent' && d.updatedAt >= (presence.onlineSince ?? 0))
        continue;
      if (d.state === 'sent' && !comingOnline && d.attempts > maxResends) {
        // Guarded like a send: a device coming back may have been sent it again meanwhile.
        changes.push({
          ...this.change(d, { kind: 'failed' }, now, `no answer after ${d.attempts} sends`),
          expectAttempts: d.attempts,
        });
        continue;
      }
      // The broadcast's start, unless quiet hours hold it: a resend or a resumption carries the
      // same notBefore as the first command (kept as heldUntil when quiet hours set it).
      let notBefore = d.heldUntil ?? b.startAt;
      let heldUntil: number | null = d.heldUntil;
      if (heldUntil === null && heldByQuietHours(b.level)) {
        const earliest = Math.max(b.startAt, now);
        const end = endOfQuiet(earliest, quiet.get(d.villageCode) ?? null, this.config.timeZone);
        if (end > earliest) notBefore = heldUntil = end;
        if (notBefore >= b.expiresAt) {
          const c = this.change(
            d,
            { kind: 'expired' },
            now,
            'quiet hours last until after it expires',
          );
          changes.push({ ...c, patch: { ...c.patch, heldUntil } });
          continue;
        }
      }
      commands.set(d.id, {
        deviceId: d.deviceId,
        command: this.playCommand(b, d, notBefore, sendAt),
        kind: d.state === 'sent' ? 'resend' : d.resumes > 0 ? 'resume' : 'first',
      });
      // The wait doubles with each send of this command; a resumption is a new command and
      // starts again at the ack timeout (the resend limit counts every send of the delivery).
      const commandSends = d.state === 'pending' ? 1 : d.commandSends + 1;
      const patch: Partial<DeliveryEntity> = {
        attempts: d.attempts + 1,
        commandSends,
        sentAt: d.sentAt ?? sendAt,
        nextSendAt: sendAt + ackTimeoutMs * 2 ** Math.min(commandSends - 1, 10),
        updatedAt: sendAt,
        heldUntil,
      };
      if (d.state === 'pending') {
        const c = this.change(d, { kind: 'sent' }, sendAt);
        changes.push({
          ...c,
          expectAttempts: d.attempts,
          patch: { ...patch, state: 'sent' },
        });
      } else
        changes.push({
          id: d.id,
          expect: 'sent',
          expectAttempts: d.attempts,
          patch,
          event: this.event(d, 'sent', 'sent', sendAt),
          of: d,
        });
    }
    // Recorded as sent before it is published: a device that answers at once finds its delivery
    // `sent`, not `pending` (its `received` was lost from the event log when it raced the commit).
    // A publish that fails is sent again at nextSendAt.
    let applied: Set<string>;
    if (dispatch) {
      if (!(await this.saveDispatch(dispatch, deliveries, changes, park, now))) return null;
      applied = new Set(changes.map((c) => c.id));
    } else {
      await this.repo.parkUntilOnline(park);
      applied = await this.commit(changes, now);
    }
    // A device that came online while this was being saved was looked up before its delivery
    // existed (or was parked): look again.
    for (const d of park) if (this.presence.get(d.deviceId)?.online) this.queueOnline(d.deviceId);
    // Read just before publishing, with nothing awaited after it: a cancel that lands after this
    // finds the deliveries sent and tells their devices to stop, after the play.
    const live = commands.size ? await this.repo.activeAmong([...broadcasts.keys()]) : new Set();
    const saved = performance.now();
    const publishes: Promise<unknown>[] = [];
    for (const [id, { deviceId, command, kind }] of commands) {
      if (!applied.has(id) || !live.has(command.broadcastId)) continue;
      publishes.push(
        this.gateway.sendCommand(deviceId, command).then(
          () => this.metrics.commandsSent.inc({ kind }),
          (err: Error) =>
            this.logger.warn(`delivery=${id} device=${deviceId} send failed: ${err.message}`),
        ),
      );
    }
    await Promise.all(publishes);
    return {
      savedMs: Math.round(saved - started),
      publishedMs: Math.round(performance.now() - saved),
      published: publishes.length,
    };
  }

  /** Inserts a dispatch's new deliveries with their first changes applied, then announces it. */
  private async saveDispatch(
    dispatch: DispatchWrite,
    deliveries: DeliveryEntity[],
    changes: DeliveryChange[],
    park: DeliveryEntity[],
    now: number,
  ): Promise<boolean> {
    const changed = new Map(changes.map((c) => [c.id, c]));
    const parked = new Set(park.map((d) => d.id));
    const rows = deliveries.map((d): DeliveryEntity => {
      const c = changed.get(d.id);
      if (c) return { ...d, ...c.patch };
      return parked.has(d.id) ? { ...d, nextSendAt: null } : d;
    });
    const b = dispatch.broadcast;
    const saved = await this.repo.saveDispatch(
      b.id,
      dispatch.villageCodes,
      rows,
      dispatch.patch,
      changes.map((c) => c.event),
    );
    if (!saved) return false;
    this.emitStatus(b.id, b.status, now);
    this.announce(changes, new Set(changes.map((c) => c.id)), now);
    // Quiet hours can expire every delivery at once.
    if (changes.some((c) => isTerminal(c.event.toState))) await this.completeIfDone([b.id], now);
    return true;
  }

  private playCommand(
    b: BroadcastEntity,
    d: DeliveryEntity,
    notBefore: number,
    now: number,
  ): PlayCommand {
    const grace = this.config.broadcasts.graceMs;
    const cmd: PlayCommand = {
      v: PROTOCOL_VERSION,
      type: 'play',
      // A resumption is a new command: a device that obeys "a known delivery is never played
      // twice" must be able to tell it from a resend, which repeats the id.
      id: d.resumes > 0 ? `play-${d.id}-r${d.resumes}` : `play-${d.id}`,
      ts: now,
      deliveryId: d.id,
      broadcastId: b.id,
      level: b.level,
      title: b.title,
      clip: {
        url: this.media.urlFor(b.audioSha256!, d.deviceId, b.expiresAt + grace),
        sha256: b.audioSha256!,
        bytes: b.audioBytes!,
        durationMs: b.audioDurationMs!,
        codec: 'mp3',
      },
      notBefore,
      expiresAt: b.expiresAt,
      repeat: b.repeat,
    };
    if (b.volume !== null) cmd.volume = b.volume;
    if (d.resumes > 0) cmd.resume = d.resumes;
    return cmd;
  }

  /**
   * A device came online: soon, what it has not acknowledged goes out (never sent, or sent to an
   * earlier connection), and `stop` for what was cancelled while it was away.
   */
  private queueOnline(deviceId: string, delayMs = this.config.broadcasts.onlineDelayMs): void {
    if (!this.running) return;
    this.cameOnline.add(deviceId);
    if (this.onlineTimer) return;
    this.onlineDue = new Promise((resolve) => (this.onlineFired = resolve));
    this.onlineTimer = setTimeout(() => this.lookUpCameOnline(), delayMs);
  }

  private lookUpCameOnline(): void {
    clearTimeout(this.onlineTimer);
    this.onlineTimer = undefined;
    if (this.running)
      this.onlineRun = this.onlineRun
        .then(() => this.sendToCameOnline())
        .catch((err: Error) =>
          this.logger.error(`resend to devices online failed: ${err.message}`),
        );
    this.onlineFired?.();
  }

  /**
   * Looks up now what waits for the devices that came online, instead of after the delay, and
   * waits for it: tests make the order of a dispatch and that lookup certain with it.
   */
  async flushOnline(): Promise<void> {
    if (this.onlineTimer) this.lookUpCameOnline();
    await this.idle();
  }

  /**
   * Resolves once everything queued so far has run: devices that came online got what waits for
   * them, and device events were applied. For tests, which await it instead of sleeping.
   */
  async idle(): Promise<void> {
    for (;;) {
      if (this.onlineTimer) {
        await this.onlineDue;
        continue;
      }
      const run = this.onlineRun;
      await run;
      await this.flushEvents();
      if (!this.onlineTimer && run === this.onlineRun) return;
    }
  }

  /**
   * Sends what is open for every device queued so far, a batch of devices at a time, and `stop`
   * for broadcasts cancelled while a device that holds them was away. A batch that fails is queued
   * again: a delivery parked until its device returns is sent by nothing else.
   */
  private async sendToCameOnline(): Promise<void> {
    const ids = [...this.cameOnline];
    this.cameOnline.clear();
    for (const batch of chunks(ids, ONLINE_BATCH)) {
      if (!this.running) return;
      try {
        await this.sendOnline(batch);
      } catch (err) {
        this.logger.error(
          `resend to ${batch.length} device(s) that came online failed (again in ${ONLINE_RETRY_MS} ms): ${(err as Error).message}`,
        );
        for (const id of batch) this.queueOnline(id, ONLINE_RETRY_MS);
      }
    }
  }

  private async sendOnline(deviceIds: string[]): Promise<void> {
    const now = this.clock.now().getTime();
    const open = await this.repo.unacknowledgedForDevices(deviceIds);
    if (open.length) await this.send(open, now, true);
    const held = await this.repo.cancelledHeldByDevices(deviceIds, now);
    const told = new Set<string>();
    for (const d of held) {
      const key = `${d.deviceId} ${d.broadcastId}`;
      if (told.has(key)) continue;
      told.add(key);
      await this.gateway
        .sendCommand(d.deviceId, {
          v: PROTOCOL_VERSION,
          type: 'stop',
          id: `stop-${d.broadcastId}`,
          ts: now,
          broadcastId: d.broadcastId,
          // The reason the cancel gave, as in the first `stop`: it is the same command again.
          reason: d.reason ?? 'cancelled',
        })
        .catch(() => undefined);
    }
  }

  // ---- the end of a broadcast ----

  /**
   * Past its deadline: whatever is still open expires, and the broadcast is complete. `expiresAt`
   * is the latest start: a device that began playing in time may finish (its clip `repeat` times
   * and the grace period from its `playing`), so until then the broadcast waits for it.
   */
  private async finish(b: BroadcastEntity, now: number): Promise<void> {
    const { graceMs } = this.config.broadcasts;
    const open = await this.repo.openOfBroadcast(b.id);
    const playingFor = (b.audioDurationMs ?? 0) * b.repeat + graceMs;
    // In `playing`, updatedAt is when this run began (a resumption starts a new one); a device
    // judges "before expiresAt" on its estimate of the server's clock, hence the grace.
    const stillPlaying = (d: DeliveryEntity) =>
      d.state === 'playing' &&
      d.updatedAt <= b.expiresAt + graceMs &&
      d.updatedAt + playingFor > now;
    const ending = open.filter((d) => !stillPlaying(d));
    await this.commit(
      ending.map((d) => this.change(d, { kind: 'expired' }, now, 'not played before the deadline')),
      now,
    );
    if (ending.length < open.length) return;
    const settlement = await this.settleIfClosed(b, ['active', 'dispatching'], now);
    if (settlement) {
      this.logger.log(
        `broadcast=${b.id} completed at its deadline, ${settlement.outcome} (${open.length} delivery(ies) expired)`,
      );
      this.emitStatus(b.id, 'completed', now);
    }
  }

  /**
   * Completes a broadcast in `from` that has no delivery left open, with its outcome and
   * milestones worked out inside that write: a delivery event or a manual confirmation queued
   * before it is in the figures, and one that reopened a delivery (preempted) keeps it open (a
   * change that lost to such an event is tried again by the next tick). Null if it did not.
   */
  private settleIfClosed(
    b: BroadcastEntity,
    from: BroadcastEntity['status'][],
    now: number,
  ): Promise<Settlement | null> {
    return this.repo.transitionWith(b.id, from, async () => {
      if ((await this.repo.withOpenDeliveries([b.id])).size) return null;
      const settlement = await this.settlement(b, 'completed');
      return { status: 'completed' as const, ...settlement, endedAt: now, updatedAt: now };
    });
  }

  /** Staff confirming a village by hand after the end can change what came of a broadcast. */
  async refreshOutcome(b: BroadcastEntity): Promise<void> {
    await this.repo.transitionWith(b.id, ['completed'], async () => ({
      outcome: (await this.settlement(b, 'completed')).outcome,
    }));
  }

  /** The outcome and milestones of a broadcast ending now in `status`, from its deliveries. */
  private async settlement(
    b: Pick<BroadcastEntity, 'id' | 'startAt' | 'expiresAt'>,
    status: 'completed',
  ): Promise<Settlement> {
    const facts = await this.facts.settlementFacts(b.id, b.expiresAt);
    return settle(status, b.startAt, facts.times, facts.targeted, facts.manual);
  }

  /** Cancels a broadcast: open deliveries end `cancelled`, and devices that have it are told to stop. */
  async cancel(b: BroadcastEntity, reason: string, by: string, now: number): Promise<boolean> {
    if (
      !(await this.repo.transitionStatus(b.id, ['scheduled', 'dispatching', 'active'], {
        status: 'cancelled',
        outcome: 'cancelled',
        endReason: reason,
        cancelledBy: by,
        endedAt: now,
        updatedAt: now,
      }))
    ) {
      return false;
    }
    // Each change is guarded on the state it was read in: one that a device event or a send moved
    // meanwhile is missed, so read again until nothing is open (nothing reopens a cancelled one).
    const cancelled: DeliveryEntity[] = [];
    for (let round = 0; round < CANCEL_ROUNDS; round++) {
      const open = await this.repo.openOfBroadcast(b.id);
      if (!open.length) break;
      const applied = await this.commit(
        open.map((d) => this.change(d, { kind: 'cancelled' }, now, reason)),
        now,
      );
      cancelled.push(...open.filter((d) => applied.has(d.id)));
    }
    // The milestones of what did go out before the cancel (the outcome is already `cancelled`).
    const facts = await this.facts.settlementFacts(b.id, b.expiresAt);
    await this.repo.update(b.id, milestoneTimes(b.startAt, facts.times, facts.targeted));
    const told = new Set<string>();
    for (const d of cancelled) {
      if (d.sentAt === null || told.has(d.deviceId) || !this.presence.get(d.deviceId)?.online)
        continue;
      told.add(d.deviceId);
      await this.gateway
        .sendCommand(d.deviceId, {
          v: PROTOCOL_VERSION,
          type: 'stop',
          id: `stop-${b.id}`,
          ts: now,
          broadcastId: b.id,
          reason: reason.slice(0, 200) || 'cancelled',
        })
        .catch((err: Error) =>
          this.logger.warn(`device=${d.deviceId} stop not sent: ${err.message}`),
        );
    }
    this.logger.log(
      `broadcast=${b.id} cancelled: ${cancelled.length} open delivery(ies) cancelled, ${told.size} device(s) told to stop`,
    );
    this.emitStatus(b.id, 'cancelled', now);
    return true;
  }

  // ---- device events ----

  /**
   * Buffers a device event; resolves once the batch it joined is committed (the event applied, or
   * refused and counted), and rejects if it could not be stored. The device's PUBACK waits for it.
   */
  private enqueue(e: EventWithTime): Promise<void> {
    return new Promise((stored, failed) => {
      const { deviceId, message, receivedAt } = e;
      this.buffer.push({ deviceId, message, receivedAt, stored, failed });
      if (this.buffer.length >= INGEST_BATCH) void this.flushEvents();
      else this.flushTimer ??= setTimeout(() => void this.flushEvents(), INGEST_DELAY_MS);
    });
  }

  /** Applies every buffered device event (in arrival order) in one transaction. */
  flushEvents(): Promise<void> {
    clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    const run = this.ingesting.then(async () => {
      // The benchmark's baseline (BENCH_BASELINE=per-event-ingest): one transaction per event.
      const size = this.config.broadcasts.baseline.perEventIngest ? 1 : INGEST_BATCH;
      // better-sqlite3 answers synchronously: without a yield the whole backlog is one macrotask.
      let sliceStart = performance.now();
      while (this.buffer.length) {
        await this.ingestQueued(this.buffer.splice(0, size));
        if (this.buffer.length && performance.now() - sliceStart >= INGEST_SLICE_MS) {
          await new Promise((turn) => setImmediate(turn));
          sliceStart = performance.now();
        }
      }
    });
    this.ingesting = run;
    return run;
  }

  /**
   * Ingests a batch and settles its events. A batch that fails is tried again event by event, so
   * one event the database refuses holds back no other device's confirmation; what still fails is
   * left unacknowledged (its device sends it again after the broker closes its connection).
   */
  private async ingestQueued(batch: QueuedEvent[]): Promise<void> {
    try {
      await this.ingest(batch);
      for (const e of batch) e.stored();
      return;
    } catch (err) {
      if (batch.length === 1) {
        this.logger.error(
          `device=${batch[0].deviceId} delivery=${batch[0].message.deliveryId} event not applied: ${(err as Error).stack ?? err}`,
        );
        batch[0].failed(err as Error);
        return;
      }
      this.logger.error(
        `${batch.length} delivery event(s) not applied together, trying each alone: ${(err as Error).message}`,
      );
    }
    for (const e of batch) await this.ingestQueued([e]);
  }

  private async ingest(batch: EventWithTime[]): Promise<void> {
    const rows = new Map(
      (
        await this.repo.deliveriesToIngest([...new Set(batch.map((e) => e.message.deliveryId))])
      ).map((d) => [d.id, d]),
    );
    const broadcasts = await this.repo.openWindows([
      ...new Set([...rows.values()].map((d) => d.broadcastId)),
    ]);
    const now = this.clock.now().getTime();
    const changes: DeliveryChange[] = [];
    // Counted once per result at the end: a labelled counter costs a lookup per increment.
    const results = new Map<string, number>();
    const count = (result: string) => results.set(result, (results.get(result) ?? 0) + 1);
    for (const { deviceId, message, receivedAt } of batch) {
      const d = rows.get(message.deliveryId);
      if (!d) {
        this.refuse(
          'unknown',
          deviceId,
          `device=${deviceId} reported delivery=${message.deliveryId}, which does not exist`,
          now,
        );
        continue;
      }
      if (d.deviceId !== deviceId) {
        this.refuse(
          'foreign',
          deviceId,
          `device=${deviceId} reported delivery=${d.id} of device=${d.deviceId}; refused`,
          now,
        );
        continue;
      }
      const b = broadcasts.get(d.broadcastId)!;
      const sameRun = message.resume === undefined ? undefined : message.resume === d.resumes;
      const result: Transition =
        sameRun === false
          ? { ok: false, reason: 'stale' }
          : transition(
              d.state,
              { kind: 'device', state: message.state },
              {
                broadcastOpen: b.status === 'active' && receivedAt < b.expiresAt,
                sameRun,
                resumes: d.resumes,
                maxResumes: this.config.broadcasts.maxResumes,
              },
            );
      if (!result.ok) {
        // A download reporting its progress says `downloading` again: not a duplicate to warn of.
        if (result.reason === 'duplicate' && message.progressPct !== undefined) {
          count('progress');
          continue;
        }
        count(result.reason);
        if (result.reason !== 'duplicate') {
          this.refusals.warn(
            `${result.reason}:${deviceId}`,
            `device=${deviceId} delivery=${d.id}: ${message.state} after ${d.state} is ${result.reason}; ignored`,
            now,
          );
        }
        continue;
      }
      count('applied');
      for (const step of result.skipped)
        this.metrics.deliveryAnomalies.inc({ kind: `skipped_${step}` });
      const anomaly = result.skipped.length ? `skipped ${result.skipped.join(', ')}` : null;
      // Keyed by what was skipped, not by device: a fleet whose firmware skips a step would
      // otherwise write a line per device, synchronously, in the middle of the batch.
      if (anomaly)
        this.refusals.warn(
          `anomaly:${message.state}:${anomaly}`,
          `device=${deviceId} delivery=${d.id}: ${message.state} after ${d.state} ${anomaly}; accepted`,
          now,
        );
      const patch: Partial<DeliveryEntity> = {
        state: result.next,
        updatedAt: receivedAt,
        reason: this.reasonAfter(d, message, result.next),
      };
      if (result.next !== 'pending' && !d.receivedAt && !isTerminal(result.next))
        patch.receivedAt = receivedAt;
      // The first `playing` is the time to first sound; a resumption does not move it.
      if (result.next === 'playing' && d.startedAt === null) patch.startedAt = receivedAt;
      if (result.next === 'played') patch.playedAt = receivedAt;
      // Heard from: no resend needed; a preempted delivery is resumed right away.
      patch.nextSendAt = result.next === 'pending' ? now : null;
      if (result.next === 'pending') patch.resumes = d.resumes + 1;
      changes.push({
        id: d.id,
        expect: d.state,
        patch,
        of: d,
        event: {
          deliveryId: d.id,
          fromState: d.state,
          toState: result.next,
          source: 'mqtt',
          deviceTs: message.ts,
          serverTs: receivedAt,
          reason: patch.reason ?? null,
          anomaly,
        },
      });
      Object.assign(d, patch);
    }
    for (const [result, n] of results) this.metrics.deliveryEvents.inc({ result }, n);
    await this.commit(changes, now);
  }

  // ---- shared ----

  /**
   * A delivery's reason after a device event: why it failed, was refused or was interrupted; none
   * once it moves on (an interruption that was resumed and played is no longer its story).
   */
  private reasonAfter(
    d: Pick<DeliveryEntity, 'resumes'>,
    message: DeliveryEvent,
    next: DeliveryState,
  ): string | null {
    if (message.state === 'preempted') {
      if (next === 'failed')
        return `interrupted ${d.resumes + 1} times by more urgent broadcasts; not resumed again`;
      return message.reason ?? 'interrupted by a more urgent broadcast';
    }
    if (next === 'failed' || next === 'rejected') return message.reason ?? message.state;
    return null;
  }

  private change(
    d: DeliveryEntity,
    input: DeliveryInput,
    now: number,
    reason?: string,
  ): DeliveryChange {
    const result = transition(d.state, input, { broadcastOpen: false });
    const next: DeliveryState = result.ok ? result.next : d.state;
    return {
      id: d.id,
      expect: d.state,
      patch: { state: next, updatedAt: now, nextSendAt: null, ...(reason ? { reason } : {}) },
      event: this.event(d, d.state, next, now, reason),
      of: d,
    };
  }

  private event(
    d: DeliveryEntity,
    from: DeliveryState,
    to: DeliveryState,
    now: number,
    reason?: string,
  ) {
    return {
      deliveryId: d.id,
      fromState: from,
      toState: to,
      source: 'system' as const,
      deviceTs: null,
      serverTs: now,
      reason: reason ?? null,
      anomaly: null,
    };
  }

  /**
   * Writes changes, tells listeners, and completes broadcasts with nothing left open; returns the
   * ids of the changes applied.
   */
  private async commit(changes: DeliveryChange[], now: number): Promise<Set<string>> {
    if (!changes.length) return new Set();
    const applied = await this.repo.applyChanges(changes);
    const ended = this.announce(changes, applied, now);
    await this.completeIfDone([...ended], now);
    return applied;
  }

  /**
   * Tells live listeners about the applied changes; returns the broadcasts where a delivery ended
   * (only those can be left with nothing open).
   */
  private announce(changes: DeliveryChange[], applied: Set<string>, now: number): Set<string> {
    const ended = new Set<string>();
    for (const c of changes) {
      if (!applied.has(c.id)) continue;
      if (isTerminal(c.event.toState)) ended.add(c.of.broadcastId);
      if (c.event.fromState !== c.event.toState) {
        this.events.emit({
          kind: 'delivery',
          broadcastId: c.of.broadcastId,
          deliveryId: c.id,
          deviceId: c.of.deviceId,
          villageCode: c.of.villageCode,
          state: c.event.toState,
          at: now,
        });
      }
    }
    return ended;
  }

  private async completeIfDone(broadcastIds: string[], now: number): Promise<void> {
    const stillOpen = await this.repo.withOpenDeliveries(broadcastIds);
    const done = await this.repo.findMany(broadcastIds.filter((id) => !stillOpen.has(id)));
    for (const b of done) {
      if (b.status !== 'active') continue;
      const settlement = await this.settleIfClosed(b, ['active'], now);
      if (settlement) {
        this.logger.log(
          `broadcast=${b.id} completed: every delivery has ended, ${settlement.outcome}`,
        );
        this.emitStatus(b.id, 'completed', now);
      }
    }
  }

  private emitStatus(broadcastId: string, status: BroadcastEntity['status'], at: number): void {
    this.events.emit({ kind: 'broadcast', broadcastId, status, at });
  }

  private refuse(
    result: 'unknown' | 'foreign',
    deviceId: string,
    message: string,
    now: number,
  ): void {
    this.metrics.deliveryEvents.inc({ result });
    this.refusals.warn(`${result}:${deviceId}`, message, now);
  }
}
