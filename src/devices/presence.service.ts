import { Injectable, Logger, OnModuleDestroy } from '@nestjs/common';
import { Observable, Subject } from 'rxjs';
import type { AppConfig } from '../config/app-config.js';
import { InjectConfig } from '../config/config.module.js';
import type { StateMessage, TelemetryMessage } from '../contract/messages.js';
import { Clock } from '../common/clock.js';
import { Ticker } from '../common/ticker.js';
import { DeviceEvents } from './device-events.js';
import type { DevicePresenceEntity } from './presence.entity.js';
import { IntervalChange, PresenceRepository } from './presence.repository.js';
import { TypeMismatchLog } from './type-mismatch-log.js';

/** Latest telemetry fields kept for a device (the message minus its envelope). */
export type Telemetry = Omit<TelemetryMessage, 'v' | 'type' | 'id' | 'ts'>;

export interface Presence {
  online: boolean;
  session: string | null;
  lastSeenAt: number | null;
  onlineSince: number | null;
  firmware: string | null;
  codecs: string[];
  reportedType: string | null;
  /** Signature algorithms its latest hello says it verifies commands with (none: it does not say). */
  verifies: string[];
  volume: number | null;
  telemetry: Telemetry | null;
  telemetryAt: number | null;
}

export interface PresenceChange {
  deviceId: string;
  online: boolean;
  at: number;
  /** Why it went offline: `offline` (said so / Will), `timeout`, `server_stop`. */
  reason?: string;
}

/** Rows written per batch at most; a bigger backlog is written in several. */
const BATCH_ROWS = 5000;
const FLUSH_DELAY_MS = 200;
/** The silence sweep's job on the {@link Ticker}, every half heartbeat interval. */
const SWEEP_JOB = 'presence sweep';

/**
 * Which devices are online, from their `state` messages, Last Wills and heartbeats. Kept in memory
 * (one entry per device) and written in batches, so ten thousand devices connecting at once are a
 * handful of transactions, not ten thousand.
 */
@Injectable()
export class PresenceService implements OnModuleDestroy {
  private readonly logger = new Logger('presence');
  private readonly states = new Map<string, Presence>();
  private readonly known = new Set<string>();
  private readonly dirty = new Set<string>();
  private intervalChanges: IntervalChange[] = [];
  private flushTimer?: NodeJS.Timeout;
  private flushing: Promise<void> = Promise.resolve();
  private readonly changes$ = new Subject<PresenceChange>();
  private loaded = false;

  constructor(
    private readonly repo: PresenceRepository,
    private readonly clock: Clock,
    private readonly ticker: Ticker,
    private readonly deviceEvents: DeviceEvents,
    private readonly typeMismatches: TypeMismatchLog,
    @InjectConfig() private readonly config: AppConfig,
  ) {
    this.deviceEvents.changes.subscribe((change) => {
      if (change.kind === 'created') this.known.add(change.deviceId);
      if (change.kind === 'deleted') {
        this.known.delete(change.deviceId);
        this.states.delete(change.deviceId);
        this.dirty.delete(change.deviceId);
      }
    });
  }

  /** Online/offline transitions, for the dispatcher and live views. */
  get changes(): Observable<PresenceChange> {
    return this.changes$.asObservable();
  }

  /** How long a device may stay silent before it counts as offline. */
  get silenceLimitMs(): number {
    return this.config.presence.heartbeatIntervalS * this.config.presence.missedHeartbeats * 1000;
  }

  /**
   * Loads what is known and starts the silence sweep. With `brokerRestarted` (the embedded broker
   * starts with the server, so every session is gone), devices still marked online are closed at
   * their last-heard time.
   */
  async start(options: { brokerRestarted: boolean }): Promise<void> {
    for (const id of await this.repo.deviceIds()) this.known.add(id);
    for (const row of await this.repo.loadAll()) this.states.set(row.deviceId, fromRow(row));
    if (options.brokerRestarted) {
      const open = new Set((await this.repo.openIntervals()).map((i) => i.deviceId));
      for (const [deviceId, p] of this.states) {
        if (!p.online && !open.has(deviceId)) continue;
        const at = p.lastSeenAt ?? this.clock.now().getTime();
        this.goOffline(deviceId, p, at, 'server_restart', false);
      }
      await this.flush();
    }
    this.loaded = true;
    const every = Math.max(250, (this.config.presence.heartbeatIntervalS * 1000) / 2);
    this.ticker.every(SWEEP_JOB, every, (at) => this.sweep(at ?? this.clock.now()));
  }

  /**
   * Milliseconds each device was online in [from, to) from the presence history, the changes not
   * yet written included; time after now does not count.
   */
  async onlineMsBetween(from: number, to: number): Promise<Map<string, number>> {
    await this.flush();
    const now = this.clock.now().getTime();
    return this.repo.onlineMsBetween(from, Math.min(to, now), now);
  }

  isKnownDevice(deviceId: string): boolean {
    return this.known.has(deviceId);
  }

  get(deviceId: string): Presence | undefined {
    return this.states.get(deviceId);
  }

  /** The devices online now. */
  onlineIds(): string[] {
    const ids: string[] = [];
    for (const [id, p] of this.states) if (p.online) ids.push(id);
    return ids;
  }

  onlineCount(): number {
    let n = 0;
    for (const p of this.states.values()) if (p.online) n++;
    return n;
  }

  /** A `state` message: `online` with a hello opens a session; `offline` for the current session ends it. */
  recordState(deviceId: string, msg: StateMessage, receivedAt: number): void {
    const p = this.entry(deviceId);
    if (msg.status === 'online') {
      // Online without a session: opened by a message that overtook this state (telemetry at
      // QoS 0 often does) or heard after a server restart. The state names that same connection:
      // it adopts the interval instead of closing it as a reconnect a few ms long.
      const adopting = p.online && p.session === null;
      const reconnected = p.online && !adopting && p.session !== msg.session;
      if (reconnected) this.closeInterval(deviceId, receivedAt, 'reconnect');
      const opening = !p.online || reconnected;
      p.online = true;
      p.session = msg.session;
      p.lastSeenAt = receivedAt;
      if (opening) {
        p.onlineSince = receivedAt;
        this.intervalChanges.push({ kind: 'open', deviceId, at: receivedAt });
        this.changes$.next({ deviceId, online: true, at: receivedAt });
      }
      if (msg.hello) {
        p.firmware = msg.hello.firmware;
        p.codecs = msg.hello.codecs;
        p.reportedType = msg.hello.deviceType;
        p.verifies = msg.hello.verifies ?? [];
        p.volume = msg.hello.volume;
        this.typeMismatches.heard(deviceId, msg.hello.deviceType);
      }
      this.markDirty(deviceId);
      return;
    }
    // A Will from an older connection arriving after the device reconnected changes nothing.
    if (!p.online || (p.session !== null && p.session !== msg.session)) return;
    this.goOffline(deviceId, p, receivedAt, 'offline');
  }

  recordTelemetry(deviceId: string, msg: TelemetryMessage, receivedAt: number): void {
    const p = this.entry(deviceId);
    const { v: _v, type: _t, id: _i, ts: _ts, ...fields } = msg;
    p.telemetry = fields;
    p.telemetryAt = receivedAt;
    if (fields.volume !== undefined) p.volume = fields.volume;
    this.touchEntry(deviceId, p, receivedAt);
  }

  /** The device acknowledged a `volume` command: its output volume is now that. */
  recordVolume(deviceId: string, volume: number): void {
    this.entry(deviceId).volume = volume;
    this.markDirty(deviceId);
  }

  /** Any message from a device proves it is alive. */
  touch(deviceId: string, receivedAt: number): void {
    this.touchEntry(deviceId, this.entry(deviceId), receivedAt);
  }

  /** Marks offline every online device silent for longer than the limit. */
  sweep(now: Date): number {
    if (!this.loaded) return 0;
    const limit = now.getTime() - this.silenceLimitMs;
    let n = 0;
    for (const [deviceId, p] of this.states) {
      if (p.online && (p.lastSeenAt ?? 0) < limit) {
        this.goOffline(deviceId, p, p.lastSeenAt ?? now.getTime(), 'timeout');
        n++;
      }
    }
    if (n > 0)
      this.logger.log(
        `${n} device(s) silent for over ${this.silenceLimitMs / 1000} s: marked offline`,
      );
    return n;
  }

  /** At shutdown with the embedded broker: every session ends now. */
  async markAllOffline(reason: string): Promise<void> {
    const at = this.clock.now().getTime();
    for (const [deviceId, p] of this.states) if (p.online) this.goOffline(deviceId, p, at, reason);
    await this.flush();
  }

  /** Writes everything pending now (and waits for a write already under way). */
  async flush(): Promise<void> {
    clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    const run = this.flushing.then(() => this.writePending());
    this.flushing = run.catch(() => undefined);
    await run;
  }

  onModuleDestroy(): void {
    this.ticker.cancel(SWEEP_JOB);
    this.changes$.complete();
  }

  private async writePending(): Promise<void> {
    while (this.dirty.size > 0 || this.intervalChanges.length > 0) {
      const ids = [...this.dirty].slice(0, BATCH_ROWS);
      for (const id of ids) this.dirty.delete(id);
      const changes = this.intervalChanges;
      this.intervalChanges = [];
      const rows = ids.flatMap((id) => {
        const p = this.states.get(id);
        return p ? [toRow(id, p)] : [];
      });
      try {
        await this.repo.saveBatch(rows, changes);
      } catch (err) {
        // Keep what failed for the next attempt rather than losing it.
        for (const id of ids) this.dirty.add(id);
        this.intervalChanges = [...changes, ...this.intervalChanges];
        this.logger.error(
          `presence batch of ${rows.length} row(s) not saved: ${(err as Error).message}`,
        );
        this.scheduleFlush(FLUSH_DELAY_MS * 10);
        return;
      }
    }
  }

  private entry(deviceId: string): Presence {
    let p = this.states.get(deviceId);
    if (!p) {
      p = {
        online: false,
        session: null,
        lastSeenAt: null,
        onlineSince: null,
        firmware: null,
        codecs: [],
        reportedType: null,
        verifies: [],
        volume: null,
        telemetry: null,
        telemetryAt: null,
      };
      this.states.set(deviceId, p);
    }
    return p;
  }

  private touchEntry(deviceId: string, p: Presence, at: number): void {
    p.lastSeenAt = Math.max(p.lastSeenAt ?? 0, at);
    if (!p.online) {
      // Heard from without a fresh `state` (the server restarted and the broker did not, or this
      // message overtook the device's `state`): it is evidently connected. The interval has no
      // session until an `online` state adopts it.
      p.online = true;
      p.onlineSince = at;
      this.intervalChanges.push({ kind: 'open', deviceId, at });
      this.changes$.next({ deviceId, online: true, at });
    }
    this.markDirty(deviceId);
  }

  private goOffline(
    deviceId: string,
    p: Presence,
    at: number,
    reason: string,
    announce = true,
  ): void {
    p.online = false;
    p.session = null;
    p.onlineSince = null;
    this.closeInterval(deviceId, at, reason);
    this.markDirty(deviceId);
    if (announce) this.changes$.next({ deviceId, online: false, at, reason });
  }

  private closeInterval(deviceId: string, at: number, reason: string): void {
    this.intervalChanges.push({ kind: 'close', deviceId, at, reason });
  }

  private markDirty(deviceId: string): void {
    this.dirty.add(deviceId);
    this.scheduleFlush(this.dirty.size >= BATCH_ROWS ? 0 : FLUSH_DELAY_MS);
  }

  private scheduleFlush(delayMs: number): void {
    if (this.flushTimer && delayMs > 0) return;
    clearTimeout(this.flushTimer);
    this.flushTimer = setTimeout(() => {
      this.flushTimer = undefined;
      this.flush().catch(() => undefined);
    }, delayMs);
  }
}

function fromRow(row: DevicePresenceEntity): Presence {
  return {
    online: row.online,
    session: row.session,
    lastSeenAt: row.lastSeenAt,
    onlineSince: row.onlineSince,
    firmware: row.firmware,
    codecs: row.codecs ? row.codecs.split(',') : [],
    reportedType: row.reportedType,
    verifies: row.verifies ? row.verifies.split(',') : [],
    volume: row.volume,
    telemetry: row.telemetry ? (JSON.parse(row.telemetry) as Telemetry) : null,
    telemetryAt: row.telemetryAt,
  };
}

function toRow(deviceId: string, p: Presence): DevicePresenceEntity {
  return {
    deviceId,
    online: p.online,
    session: p.session,
    lastSeenAt: p.lastSeenAt,
    onlineSince: p.onlineSince,
    firmware: p.firmware,
    codecs: p.codecs.length ? p.codecs.join(',') : null,
    reportedType: p.reportedType,
    verifies: p.verifies.length ? p.verifies.join(',') : null,
    volume: p.volume,
    telemetry: p.telemetry ? JSON.stringify(p.telemetry) : null,
    telemetryAt: p.telemetryAt,
  };
}
