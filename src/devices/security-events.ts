import { BeforeApplicationShutdown, Injectable, Logger } from '@nestjs/common';
import type { SecurityEventKind } from '../contract/security-reasons.js';
import { NotFoundError } from '../common/domain-error.js';
import { isoTime } from '../common/time.js';
import { ThrottledLog } from '../common/throttled-log.js';
import { DevicesService } from './devices.service.js';
import type { SecurityEventDto } from './dto/security-event.dto.js';
import type { SecurityEventEntity } from './security-event.entity.js';
import { SecurityEventsRepository } from './security-events.repository.js';

/** One security event as a caller records it. */
export interface SecurityEventInput {
  deviceId: string;
  kind: SecurityEventKind;
  /** For `command_rejected` the device's reason code; otherwise usually the kind. */
  reason: string;
  detail?: string | null;
  commandId?: string | null;
  seq?: number | null;
  kid?: string | null;
  /** Server receipt time, epoch ms. */
  at: number;
}

export type SecurityEvent = SecurityEventEntity;

/** How far back the board counts a village's security events. */
export const SECURITY_RECENT_MS = 24 * 3600_000;

/** Events are stored in batches: this many, or whatever arrived within the delay. */
const BATCH_ROWS = 1000;
const DELAY_MS = 50;
/**
 * Events waiting beyond this are counted and logged but not stored: a flood of forged commands
 * to every device must not grow memory without bound while the database catches up.
 */
const MAX_PENDING = 50_000;

interface Pending {
  row: Omit<SecurityEventEntity, 'id'>;
  stored: () => void;
  failed: (err: Error) => void;
}

/**
 * Security events of devices: every `rejected` event (a command a device refused, taken in by
 * {@link CommandRejections}) and what other modules record what they refuse of a device (a changed device key, a bad device
 * signature) through {@link record}. Stored in batches, so a flood of forged commands answered by
 * thousands of devices costs a few transactions, not one write each.
 */
@Injectable()
export class SecurityEvents implements BeforeApplicationShutdown {
  private readonly logger = new Logger('security');
  private readonly throttled = new ThrottledLog(this.logger);
  private pending: Pending[] = [];
  private timer?: NodeJS.Timeout;
  private writing: Promise<void> = Promise.resolve();

  constructor(
    private readonly repo: SecurityEventsRepository,
    private readonly devices: DevicesService,
  ) {}

  /** Stores one event with the next batch; resolves once it is stored. */
  record(e: SecurityEventInput): Promise<void> {
    if (this.pending.length >= MAX_PENDING) {
      this.throttled.warn(
        'overflow',
        `security events arrive faster than they are stored; device=${e.deviceId} ${e.kind} ${e.reason} not stored`,
        e.at,
      );
      return Promise.resolve();
    }
    return new Promise((stored, failed) => {
      this.pending.push({
        row: {
          deviceId: e.deviceId,
          at: e.at,
          kind: e.kind,
          reason: e.reason,
          detail: e.detail ?? null,
          commandId: e.commandId ?? null,
          seq: e.seq ?? null,
          kid: e.kid ?? null,
        },
        stored,
        failed,
      });
      if (this.pending.length >= BATCH_ROWS) void this.flush();
      else this.timer ??= setTimeout(() => void this.flush(), DELAY_MS);
    });
  }

  /** Writes every event recorded so far; resolves when they are stored (or failed). */
  flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    const run = this.writing.then(async () => {
      while (this.pending.length) {
        const batch = this.pending.splice(0, BATCH_ROWS);
        try {
          await this.repo.insert(batch.map((p) => p.row));
          for (const p of batch) p.stored();
        } catch (err) {
          this.logger.error(
            `${batch.length} security event(s) not stored: ${(err as Error).stack ?? err}`,
          );
          for (const p of batch) p.failed(err as Error);
        }
      }
    });
    this.writing = run;
    return run;
  }

  /** A device's events for the API, newest first; 404 for a device that does not exist. */
  async list(deviceId: string, limit = 50): Promise<SecurityEventDto[]> {
    if (!(await this.devices.exists(deviceId))) throw new NotFoundError('device', deviceId);
    return (await this.recent(deviceId, { limit })).map((e) => ({ ...e, at: isoTime(e.at) }));
  }

  /** A device's events since `since` (default: all), newest first, the unwritten ones included. */
  async recent(
    deviceId: string,
    { limit = 50, since = 0 }: { limit?: number; since?: number } = {},
  ): Promise<SecurityEvent[]> {
    await this.flush();
    return this.repo.ofDevice(deviceId, limit, since);
  }

  /** Events since `since` per village (by its devices now), the unwritten ones included. */
  async countsByVillage(villageCodes: string[], since: number): Promise<Map<string, number>> {
    await this.flush();
    return this.repo.countsByVillage(villageCodes, since);
  }

  async beforeApplicationShutdown(): Promise<void> {
    await this.flush();
  }
}
