import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { MoreThanOrEqual, Repository } from 'typeorm';
import { insertMany } from '../database/batch.js';
import { WriteQueue } from '../database/write-queue.js';
import { DeviceEntity } from './device.entity.js';
import { SecurityEventEntity } from './security-event.entity.js';

/** The only file that speaks TypeORM for security events. */
@Injectable()
export class SecurityEventsRepository {
  constructor(
    @InjectRepository(SecurityEventEntity)
    private readonly events: Repository<SecurityEventEntity>,
    private readonly writes: WriteQueue,
  ) {}

  /** Stores a batch in one transaction (multi-row inserts). */
  insert(rows: Omit<SecurityEventEntity, 'id'>[]): Promise<void> {
    if (!rows.length) return Promise.resolve();
    return this.writes.run((m) => insertMany(m, SecurityEventEntity, rows));
  }

  /** A device's events, newest first. */
  ofDevice(deviceId: string, limit: number, since = 0): Promise<SecurityEventEntity[]> {
    return this.events.find({
      where: { deviceId, at: MoreThanOrEqual(since) },
      order: { at: 'DESC', id: 'DESC' },
      take: limit,
    });
  }

  /** Events since `since` per village of the device that had them (devices deleted since: none). */
  async countsByVillage(villageCodes: string[], since: number): Promise<Map<string, number>> {
    if (!villageCodes.length) return new Map();
    const rows = await this.events
      .createQueryBuilder('e')
      .innerJoin(DeviceEntity, 'd', 'd.id = e.device_id')
      .select('d.village_code', 'villageCode')
      .addSelect('COUNT(*)', 'n')
      .where('e.at >= :since', { since })
      .groupBy('d.village_code')
      .getRawMany<{ villageCode: string; n: string | number }>();
    const wanted = new Set(villageCodes);
    return new Map(
      rows.filter((r) => wanted.has(r.villageCode)).map((r) => [r.villageCode, Number(r.n)]),
    );
  }
}
