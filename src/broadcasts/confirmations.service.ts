import { Injectable, Logger } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { Clock } from '../common/clock.js';
import { DomainError, NotFoundError, ValidationFailedError } from '../common/domain-error.js';
import { isoTime } from '../common/time.js';
import { DevicesService } from '../devices/devices.service.js';
import { toConfirmationDto } from './broadcast-dto.js';
import type { BroadcastErrorCode } from './broadcast-errors.js';
import { BroadcastEvents } from './broadcast-events.js';
import { BroadcastEntity, ManualConfirmationEntity } from './broadcast.entity.js';
import { BroadcastReadsRepository } from './broadcast-reads.repository.js';
import { BroadcastScope } from './broadcast-scope.js';
import { BroadcastsRepository } from './broadcasts.repository.js';
import { ConfirmationsRepository } from './confirmations.repository.js';
import { DeliveryLedger } from './delivery-ledger.js';
import type { ConfirmationDto, ManualConfirmationDto } from './dto/broadcast.dto.js';

/** A time heard this far in the future, or before the start, still counts (clocks differ a little). */
const HEARD_SLACK_MS = 60_000;

/**
 * Manual confirmations: staff record that a village heard a broadcast (speaker carts, devices
 * without a network), and an admin withdraws one that did not hold up. Either can change the
 * outcome of a broadcast that has ended.
 */
@Injectable()
export class ConfirmationsService {
  private readonly logger = new Logger('broadcasts');

  constructor(
    private readonly repo: BroadcastsRepository,
    private readonly reads: BroadcastReadsRepository,
    private readonly scope: BroadcastScope,
    private readonly confirmations: ConfirmationsRepository,
    private readonly ledger: DeliveryLedger,
    private readonly devices: DevicesService,
    private readonly events: BroadcastEvents,
    private readonly clock: Clock,
  ) {}

  /**
   * Staff confirm by hand that a village (or a device) heard the broadcast: for speaker carts and
   * devices without a network. Stored as a manual confirmation with how and when it was heard,
   * reported apart from the devices' own and kept when a device confirms later.
   */
  async confirm(
    id: string,
    input: ConfirmationDto,
    principal: string,
    towns: readonly string[] | null = null,
  ): Promise<ManualConfirmationDto> {
    const b = await this.require(id, towns);
    if (b.dispatchedAt === null)
      throw new DomainError<BroadcastErrorCode>(
        'conflict',
        'NOT_DISPATCHED',
        `Broadcast ${id} has not been sent yet`,
      );
    if (b.status === 'cancelled')
      throw new DomainError<BroadcastErrorCode>(
        'conflict',
        'BROADCAST_CANCELLED',
        `Broadcast ${id} was cancelled; a village cannot be confirmed for it`,
      );
    if ((input.village === undefined) === (input.device === undefined)) {
      throw new ValidationFailedError([
        { field: 'village', rule: 'oneOf', message: 'give exactly one of village or device' },
      ]);
    }
    const now = this.clock.now().getTime();
    const heardAt = input.heardAt ? Date.parse(input.heardAt) : now;
    if (heardAt > now + HEARD_SLACK_MS) {
      throw new ValidationFailedError([
        { field: 'heardAt', rule: 'notFuture', message: 'heardAt is in the future' },
      ]);
    }
    // Staff type minutes, not seconds: a minute before the start is still "at the start".
    if (heardAt < b.startAt - HEARD_SLACK_MS) {
      throw new ValidationFailedError([
        {
          field: 'heardAt',
          rule: 'notBeforeStart',
          message: `heardAt is before the broadcast started (${isoTime(b.startAt)})`,
        },
      ]);
    }
    let villageCode = input.village;
    if (input.device !== undefined) {
      const device = await this.devices.get(input.device).catch(() => null);
      if (!device)
        throw new ValidationFailedError([
          {
            field: 'device',
            rule: 'exists',
            message: `device: device ${input.device} does not exist`,
          },
        ]);
      villageCode = device.villageCode;
    }
    await this.scope.requireVillage(villageCode!, towns);
    if (!(await this.reads.isVillageTargeted(id, villageCode!))) {
      throw new ValidationFailedError([
        {
          field: input.device ? 'device' : 'village',
          rule: 'targeted',
          message: `village ${villageCode} is not in this broadcast's target`,
        },
      ]);
    }
    const row: ManualConfirmationEntity = {
      id: randomUUID(),
      broadcastId: id,
      villageCode: villageCode!,
      deviceId: input.device ?? null,
      confirmedAt: heardAt,
      confirmedBy: input.by ?? principal,
      note: input.note ?? null,
      method: input.method,
      recordedBy: principal,
      withdrawnAt: null,
      withdrawnBy: null,
      withdrawReason: null,
      createdAt: now,
    };
    await this.confirmations.insert(row);
    // After the end a confirmation changes the outcome; before it, the end counts it.
    await this.ledger.refreshOutcome(b);
    this.logger.log(
      `broadcast=${id} village=${row.villageCode} confirmed by hand method=${row.method} by=${JSON.stringify(row.confirmedBy)} recordedBy=${JSON.stringify(principal)}`,
    );
    this.events.emit({
      kind: 'confirmation',
      broadcastId: id,
      villageCode: row.villageCode,
      deviceId: row.deviceId,
      at: now,
    });
    return toConfirmationDto(row);
  }

  /**
   * An admin withdraws a manual confirmation that did not hold up: it stays on record with who
   * withdrew it and why, and coverage goes back to what the devices (and other confirmations) say.
   */
  async withdrawConfirmation(
    id: string,
    confirmationId: string,
    reason: string,
    by: string,
    towns: readonly string[] | null = null,
  ): Promise<ManualConfirmationDto> {
    const b = await this.require(id, towns);
    const found = await this.confirmations.find(id, confirmationId);
    const codes = await this.scope.villageCodes(towns);
    if (!found || (codes && !codes.includes(found.villageCode)))
      throw new NotFoundError('confirmation', confirmationId);
    const now = this.clock.now().getTime();
    if (!(await this.confirmations.withdraw(confirmationId, now, by, reason)))
      throw new DomainError<BroadcastErrorCode>(
        'conflict',
        'CONFIRMATION_WITHDRAWN',
        `Confirmation ${confirmationId} was already withdrawn`,
      );
    await this.ledger.refreshOutcome(b);
    this.logger.log(
      `broadcast=${id} village=${found.villageCode} confirmation=${confirmationId} withdrawn by=${JSON.stringify(by)} reason=${JSON.stringify(reason)}`,
    );
    this.events.emit({
      kind: 'confirmation',
      broadcastId: id,
      villageCode: found.villageCode,
      deviceId: found.deviceId,
      at: now,
    });
    return toConfirmationDto((await this.confirmations.find(id, confirmationId))!);
  }

  /** A town official sees the confirmations of their villages only. */
  async list(id: string, towns: readonly string[] | null = null): Promise<ManualConfirmationDto[]> {
    await this.require(id, towns);
    const codes = await this.scope.villageCodes(towns);
    const rows = await this.confirmations.ofBroadcast(id);
    return (codes ? rows.filter((c) => codes.includes(c.villageCode)) : rows).map((c) =>
      toConfirmationDto(c),
    );
  }

  /** The broadcast, or 404 when it is not there or reaches none of `towns`. */
  private async require(id: string, towns: readonly string[] | null): Promise<BroadcastEntity> {
    const b = await this.repo.find(id);
    if (!b) throw new NotFoundError('broadcast', id);
    await this.scope.requireVisible(b, towns);
    return b;
  }
}
