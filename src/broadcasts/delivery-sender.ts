import { Injectable, Logger } from '@nestjs/common';
import type { AppConfig } from '../config/app-config.js';
import { InjectConfig } from '../config/config.module.js';
import type { PlayCommand } from '../contract/messages.js';
import { PROTOCOL_VERSION } from '../contract/messages.js';
import { MediaService } from '../clips/media.service.js';
import { Clock } from '../common/clock.js';
import { PresenceService } from '../devices/presence.service.js';
import { MetricsService } from '../metrics/metrics.service.js';
import { DeviceGateway } from '../devices/device-gateway.js';
import { VillagesService } from '../villages/villages.service.js';
import { BroadcastEntity, DeliveryEntity } from './broadcast.entity.js';
import { BroadcastsRepository, DeliveryChange } from './broadcasts.repository.js';
import { DeliveryLedger, DispatchWrite } from './delivery-ledger.js';
import { UNACKNOWLEDGED_STATES } from './delivery-state-machine.js';
import { endOfQuiet, heldByQuietHours } from '../common/quiet-hours.js';

/** What a send did: how long saving and publishing took, and which devices to look up again. */
export interface SendResult {
  savedMs: number;
  publishedMs: number;
  published: number;
  /**
   * Devices whose delivery was parked (no device online) but that are online now: they came
   * online while it was being saved, so their lookup missed it and must be done again.
   */
  cameOnlineMeanwhile: string[];
}

/** Why a play command goes out: the first send, a resend of the same command, a resumption. */
type SendKind = 'first' | 'resend' | 'resume';

/** Sends worked out for a set of deliveries: the changes to store, then the commands to publish. */
interface SendPlan {
  broadcasts: Map<string, BroadcastEntity>;
  changes: DeliveryChange[];
  /** Deliveries whose device is offline: they wait for it (no send time) instead of the tick. */
  park: DeliveryEntity[];
  commands: Map<string, { deviceId: string; command: PlayCommand; kind: SendKind }>;
  started: number;
}

/**
 * Play and stop commands out to devices. Only deliveries a device has not acknowledged (pending,
 * sent) are ever sent; each send is recorded through the ledger before it is published, so a
 * device that answers at once finds its delivery `sent`.
 */
@Injectable()
export class DeliverySender {
  protected readonly logger = new Logger('dispatch');

  constructor(
    protected readonly repo: BroadcastsRepository,
    protected readonly ledger: DeliveryLedger,
    private readonly gateway: DeviceGateway,
    private readonly presence: PresenceService,
    private readonly villages: VillagesService,
    private readonly media: MediaService,
    private readonly metrics: MetricsService,
    protected readonly clock: Clock,
    @InjectConfig() private readonly config: AppConfig,
  ) {}

  /**
   * The first send of a dispatch's new deliveries: they are inserted already in the state this send
   * leaves them (with its events), in the one transaction that also saves the dispatch, which saves
   * an UPDATE of every row. Null when the broadcast was cancelled or expired meanwhile: nothing is
   * stored or sent then.
   */
  async sendFirst(
    deliveries: DeliveryEntity[],
    now: number,
    dispatch: DispatchWrite,
  ): Promise<SendResult | null> {
    const plan = await this.plan(
      deliveries,
      new Map([[dispatch.broadcast.id, dispatch.broadcast]]),
      now,
      false,
    );
    if (!(await this.ledger.saveDispatch(dispatch, deliveries, plan.changes, plan.park, now)))
      return null;
    return this.publish(plan, new Set(plan.changes.map((c) => c.id)));
  }

  /**
   * Sends what the tick found due: a first send never recorded, a resumption, or a resend after the
   * ack timeout (a delivery sent too often fails instead). Each send is a guarded change (state and
   * attempts as read), and only the sends that were applied publish: a tick and a device coming
   * back that read the same row send it once.
   */
  async resend(deliveries: DeliveryEntity[], now: number): Promise<SendResult> {
    return this.sendStored(deliveries, now, false);
  }

  /**
   * Sends to devices that came back what they have not acknowledged: never sent, or sent to an
   * earlier connection (what was sent to the connection they have now waits for its ack timeout).
   */
  async resendToReconnected(deliveries: DeliveryEntity[], now: number): Promise<SendResult> {
    return this.sendStored(deliveries, now, true);
  }

  /** Tells a device to stop a broadcast; the reason is the cancel's (the device shows it). */
  sendStop(deviceId: string, broadcastId: string, reason: string, now: number): Promise<void> {
    return this.gateway.sendCommand(deviceId, {
      v: PROTOCOL_VERSION,
      type: 'stop',
      id: `stop-${broadcastId}`,
      ts: now,
      broadcastId,
      reason,
    });
  }

  private async sendStored(
    deliveries: DeliveryEntity[],
    now: number,
    comingOnline: boolean,
  ): Promise<SendResult> {
    const broadcasts = new Map(
      (await this.repo.findMany([...new Set(deliveries.map((d) => d.broadcastId))])).map((b) => [
        b.id,
        b,
      ]),
    );
    const plan = await this.plan(deliveries, broadcasts, now, comingOnline);
    await this.repo.parkUntilOnline(plan.park);
    return this.publish(plan, await this.ledger.commit(plan.changes, now));
  }

  /**
   * What sending these deliveries to the devices online means: the changes to record (sent, or
   * expired, failed, held by quiet hours) and the play commands to publish once they are.
   */
  private async plan(
    deliveries: DeliveryEntity[],
    broadcasts: Map<string, BroadcastEntity>,
    now: number,
    comingOnline: boolean,
  ): Promise<SendPlan> {
    const started = performance.now();
    const { ackTimeoutMs, maxResends } = this.config.broadcasts;
    const needQuiet = [...broadcasts.values()].some((b) => heldByQuietHours(b.level));
    const quiet = needQuiet
      ? new Map((await this.villages.targetingSnapshot()).map((v) => [v.code, v.quietHours]))
      : new Map<string, string | null>();
    // Read after the last await: every device seen online below came online before this instant,
    // so its connection got this send, and a replay when it comes back can tell.
    const sendAt = Math.max(now, this.clock.now().getTime());
    const changes: DeliveryChange[] = [];
    const park: DeliveryEntity[] = [];
    const commands: SendPlan['commands'] = new Map();

    for (const d of deliveries) {
      const b = broadcasts.get(d.broadcastId);
      if (!b || b.status !== 'active' || !UNACKNOWLEDGED_STATES.includes(d.state)) continue;
      if (now >= b.expiresAt) {
        changes.push(
          this.ledger.change(d, { kind: 'expired' }, now, 'not delivered before it expired'),
        );
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
          ...this.ledger.change(d, { kind: 'failed' }, now, `no answer after ${d.attempts} sends`),
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
          const c = this.ledger.change(
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
        const c = this.ledger.change(d, { kind: 'sent' }, sendAt);
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
          event: this.ledger.event(d, 'sent', 'sent', sendAt),
          of: d,
        });
    }
    return { broadcasts, changes, park, commands, started };
  }

  /**
   * Publishes the planned commands whose sends were recorded (`applied`). A publish that fails is
   * sent again at nextSendAt.
   */
  private async publish(plan: SendPlan, applied: Set<string>): Promise<SendResult> {
    const { broadcasts, park, commands, started } = plan;
    const cameOnlineMeanwhile = park
      .filter((d) => this.presence.get(d.deviceId)?.online)
      .map((d) => d.deviceId);
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
      cameOnlineMeanwhile,
    };
  }

  /** The play command of a delivery: the one place it is built, for first sends, resends and resumptions. */
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
}
