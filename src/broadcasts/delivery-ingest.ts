import { Injectable, Logger } from '@nestjs/common';
import type { AppConfig } from '../config/app-config.js';
import { InjectConfig } from '../config/config.module.js';
import type { DeliveryEvent, DeliveryState } from '../contract/messages.js';
import { Clock } from '../common/clock.js';
import { ThrottledLog } from '../common/throttled-log.js';
import { DeviceKeys, PinnedKey } from '../devices/device-keys.js';
import { SecurityEvents } from '../devices/security-events.js';
import { MetricsService } from '../metrics/metrics.service.js';
import { DeliveryEntity } from './broadcast.entity.js';
import { BroadcastsRepository, DeliveryChange } from './broadcasts.repository.js';
import { DeliveryLedger } from './delivery-ledger.js';
import { checkDeviceSignature, SignatureCheck, SIGNED_STATES } from './device-proof.js';
import { isTerminal, Transition, transition } from './delivery-state-machine.js';

/** Device events are applied in batches: this many, or whatever arrived within the delay. */
const INGEST_BATCH = 500;
const INGEST_DELAY_MS = 10;
/**
 * A backlog of batches gives the event loop a turn once this much time has gone on them, so a
 * dispatch (an emergency) arriving meanwhile is not held until the whole backlog is stored.
 */
const INGEST_SLICE_MS = 20;

export interface EventWithTime {
  deviceId: string;
  message: DeliveryEvent;
  receivedAt: number;
}

/** A buffered event and the promise its device's PUBACK waits for. */
export interface QueuedEvent extends EventWithTime {
  stored: () => void;
  failed: (err: Error) => void;
}

/**
 * Device delivery events in: buffered, checked against the state machine and applied through the
 * ledger a batch at a time; each device's PUBACK waits until its event is stored.
 */
@Injectable()
export class DeliveryIngest {
  private readonly logger = new Logger('dispatch');
  private readonly refusals = new ThrottledLog(this.logger);
  private buffer: QueuedEvent[] = [];
  private flushTimer?: NodeJS.Timeout;
  private ingesting: Promise<void> = Promise.resolve();

  constructor(
    private readonly repo: BroadcastsRepository,
    private readonly ledger: DeliveryLedger,
    private readonly metrics: MetricsService,
    private readonly deviceKeys: DeviceKeys,
    private readonly security: SecurityEvents,
    private readonly clock: Clock,
    @InjectConfig() private readonly config: AppConfig,
  ) {}

  /**
   * Buffers a device event; resolves once the batch it joined is committed (the event applied, or
   * refused and counted), and rejects if it could not be stored. The device's PUBACK waits for it.
   */
  enqueue(e: EventWithTime): Promise<void> {
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
      // better-sqlite3 answers synchronously: without a yield the whole backlog is one macrotask.
      let sliceStart = performance.now();
      while (this.buffer.length) {
        await this.ingestQueued(this.buffer.splice(0, INGEST_BATCH));
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
  protected async ingestQueued(batch: QueuedEvent[]): Promise<void> {
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
    // Before the rows are read: checking signatures may yield, and the rows should be fresh.
    const signatures = await this.signatureChecks(batch);
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
    for (const [i, { deviceId, message, receivedAt }] of batch.entries()) {
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
      const signature = signatures[i];
      if (!signature.ok) {
        // Refused outright, no state change: a forged `played` must not cover a village; the
        // genuine device's own event still applies when it comes.
        count('bad_device_signature');
        this.refuseSignature(deviceId, d.id, message, signature, now);
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
          deviceProof: signature.proof,
        },
      });
      Object.assign(d, patch);
    }
    for (const [result, n] of results) this.metrics.deliveryEvents.inc({ result }, n);
    await this.ledger.commit(changes, now);
  }

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

  /**
   * Each event's device-signature check. The pinned keys are read only for devices that sent a
   * signed event or a `playing`/`played` (which a device with a key must sign): none for a batch
   * of acks. An SM2 verify in JavaScript takes milliseconds, so a batch of them gives the event
   * loop a turn every INGEST_SLICE_MS, as a backlog of batches does.
   */
  private async signatureChecks(batch: EventWithTime[]): Promise<SignatureCheck[]> {
    const ids = new Set<string>();
    for (const { deviceId, message } of batch)
      if (message.sig !== undefined || SIGNED_STATES.includes(message.state)) ids.add(deviceId);
    const keys: Map<string, PinnedKey> = ids.size
      ? await this.deviceKeys.pinnedKeys(ids)
      : new Map();
    const out: SignatureCheck[] = [];
    let sliceStart = performance.now();
    for (const { deviceId, message } of batch) {
      out.push(checkDeviceSignature(message, keys.get(deviceId)));
      if (message.sig !== undefined && performance.now() - sliceStart >= INGEST_SLICE_MS) {
        await new Promise((turn) => setImmediate(turn));
        sliceStart = performance.now();
      }
    }
    return out;
  }

  private refuseSignature(
    deviceId: string,
    deliveryId: string,
    message: DeliveryEvent,
    check: { detail: string; kid?: string },
    now: number,
  ): void {
    this.refusals.warn(
      `bad_device_signature:${deviceId}`,
      `device=${deviceId} delivery=${deliveryId}: bad_device_signature: ${message.state} refused, ${check.detail}`,
      now,
    );
    // Not awaited: the batch (and every device's PUBACK in it) does not wait on the security log.
    this.security
      .record({
        deviceId,
        kind: 'bad_device_signature',
        reason: 'bad_device_signature',
        detail: `delivery ${deliveryId} ${message.state}: ${check.detail}`,
        ...(check.kid ? { kid: check.kid } : {}),
        at: now,
      })
      .catch((err: Error) =>
        this.logger.error(`device=${deviceId} security event not recorded: ${err.message}`),
      );
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
