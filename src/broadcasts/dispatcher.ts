import { BeforeApplicationShutdown, Injectable, Logger } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import type { Subscription } from 'rxjs';
import type { AppConfig } from '../config/app-config.js';
import { InjectConfig } from '../config/config.module.js';
import type { DeliveryEvent } from '../contract/messages.js';
import { toneFamilyOf } from '../clips/attention-tones.js';
import { ClipsService, DeliverableAudio } from '../clips/clips.service.js';
import { Clock } from '../common/clock.js';
import { Ticker } from '../common/ticker.js';
import { isoTime } from '../common/time.js';
import { DevicesService } from '../devices/devices.service.js';
import { PresenceService } from '../devices/presence.service.js';
import { DeviceGateway, InboundEvent } from '../devices/device-gateway.js';
import { VillagesService } from '../villages/villages.service.js';
import { settle } from './broadcast-outcome.js';
import { BroadcastEntity, DeliveryEntity } from './broadcast.entity.js';
import { BroadcastsRepository } from './broadcasts.repository.js';
import { DeliveryIngest } from './delivery-ingest.js';
import { DeliveryLedger } from './delivery-ledger.js';
import { DeliverySender, SendResult } from './delivery-sender.js';
import { heldByQuietHours } from '../common/quiet-hours.js';
import { ReconnectReplay } from './reconnect-replay.js';
import { resolveTargets, Target } from './targets.js';

const SEND_BATCH = 5000;
/** A cancel re-reads what is still open this many times at most (each race costs one round). */
const CANCEL_ROUNDS = 5;
/**
 * A dispatch claimed by another server this long ago and still not saved was interrupted (that
 * server died): it is dispatched again. Saving a dispatch is atomic and only from `dispatching`,
 * so two servers that both try save it once.
 */
const DISPATCH_LEASE_MS = 60_000;
/** The dispatcher's job on the {@link Ticker}, every DISPATCH_TICK_MS. */
const TICK_JOB = 'dispatch tick';

/**
 * The broadcast engine. One tick (every DISPATCH_TICK_MS, or `tick(now)` from tests) dispatches
 * broadcasts that are due, sends and resends play commands, and ends what is past its deadline.
 * Devices coming online get what is waiting for them at once (ReconnectReplay); their events are
 * applied in batches (DeliveryIngest); commands go out through DeliverySender, and every change
 * to a delivery is written by DeliveryLedger. Everything it knows is in the database, so a
 * restart loses nothing.
 */
@Injectable()
export class BroadcastDispatcher implements BeforeApplicationShutdown {
  private readonly logger = new Logger('dispatch');
  private ticking: Promise<void> | null = null;
  private readonly subscriptions: Subscription[] = [];
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
    private readonly ledger: DeliveryLedger,
    private readonly sender: DeliverySender,
    private readonly ingest: DeliveryIngest,
    private readonly replay: ReconnectReplay,
    private readonly gateway: DeviceGateway,
    private readonly presence: PresenceService,
    private readonly villages: VillagesService,
    private readonly devices: DevicesService,
    private readonly clips: ClipsService,
    private readonly clock: Clock,
    private readonly ticker: Ticker,
    @InjectConfig() private readonly config: AppConfig,
  ) {}

  start(): void {
    this.replay.start();
    this.startedAt = this.clock.now().getTime();
    this.subscriptions.push(
      this.gateway.events.subscribe((e) => {
        if (e.message.type === 'delivery')
          e.ackAfter(this.ingest.enqueue(e as InboundEvent & { message: DeliveryEvent }));
      }),
      this.presence.changes.subscribe((c) => {
        if (c.online) this.replay.queueOnline(c.deviceId);
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
    this.ticker.every(TICK_JOB, this.config.broadcasts.tickMs, (at) => this.tick(at));
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.ticker.cancel(TICK_JOB);
    for (const s of this.subscriptions) s.unsubscribe();
    await this.replay.stop();
    await this.ingest.flushEvents();
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
        this.ledger.emitStatus(b.id, 'expired', now);
      }
    }
    await this.resumeInterrupted(now);
    for (const b of await this.repo.dueForDispatch(now + prefetchMs))
      await each(b, 'dispatch', () => this.dispatch(b, now));
    for (const b of await this.repo.pastDeadline(now - graceMs))
      await each(b, 'end at its deadline', () => this.finish(b, now));
    const due = await this.repo.dueToSend(now, SEND_BATCH);
    if (due.length) this.recheck(await this.sender.resend(due, now));
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
    const took = await this.sender.sendFirst(deliveries, now, {
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
    this.recheck(took);
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
    await this.ledger.commit(
      ending.map((d) =>
        this.ledger.change(d, { kind: 'expired' }, now, 'not played before the deadline'),
      ),
      now,
    );
    if (ending.length < open.length) return;
    const settlement = await this.ledger.settleIfClosed(b, ['active', 'dispatching'], now);
    if (settlement) {
      this.logger.log(
        `broadcast=${b.id} completed at its deadline, ${settlement.outcome} (${open.length} delivery(ies) expired)`,
      );
      this.ledger.emitStatus(b.id, 'completed', now);
    }
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
      const applied = await this.ledger.commit(
        open.map((d) => this.ledger.change(d, { kind: 'cancelled' }, now, reason)),
        now,
      );
      cancelled.push(...open.filter((d) => applied.has(d.id)));
    }
    await this.ledger.recordMilestones(b);
    const told = new Set<string>();
    for (const d of cancelled) {
      if (d.sentAt === null || told.has(d.deviceId) || !this.presence.get(d.deviceId)?.online)
        continue;
      told.add(d.deviceId);
      await this.sender
        .sendStop(d.deviceId, b.id, reason.slice(0, 200) || 'cancelled', now)
        .catch((err: Error) =>
          this.logger.warn(`device=${d.deviceId} stop not sent: ${err.message}`),
        );
    }
    this.logger.log(
      `broadcast=${b.id} cancelled: ${cancelled.length} open delivery(ies) cancelled, ${told.size} device(s) told to stop`,
    );
    this.ledger.emitStatus(b.id, 'cancelled', now);
    return true;
  }

  /** Devices whose parked delivery a send missed because they came online meanwhile. */
  private recheck(sent: SendResult): void {
    for (const id of sent.cameOnlineMeanwhile) this.replay.queueOnline(id);
  }

  // ---- for tests ----

  /**
   * Looks up now what waits for the devices that came online, instead of after the delay, and
   * waits for it: tests make the order of a dispatch and that lookup certain with it.
   */
  async flushOnline(): Promise<void> {
    this.replay.flushOnline();
    await this.idle();
  }

  /**
   * Resolves once everything queued so far has run: devices that came online got what waits for
   * them, and device events were applied. For tests, which await it instead of sleeping.
   */
  async idle(): Promise<void> {
    for (;;) {
      const run = await this.replay.settled();
      await this.ingest.flushEvents();
      if (this.replay.settledSince(run)) return;
    }
  }
}
