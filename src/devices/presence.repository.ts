import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { IsNull, Repository } from 'typeorm';
import { chunks } from '../database/batch.js';
import { WriteQueue } from '../database/write-queue.js';
import { DeviceEntity } from './device.entity.js';
import { DevicePresenceEntity, PresenceIntervalEntity } from './presence.entity.js';

export type IntervalChange =
  | { kind: 'open'; deviceId: string; at: number }
  | { kind: 'close'; deviceId: string; at: number; reason: string };

/** The only file that speaks TypeORM for presence. */
@Injectable()
export class PresenceRepository {
  constructor(
    @InjectRepository(DevicePresenceEntity)
    private readonly presence: Repository<DevicePresenceEntity>,
    @InjectRepository(PresenceIntervalEntity)
    private readonly intervals: Repository<PresenceIntervalEntity>,
    @InjectRepository(DeviceEntity) private readonly devices: Repository<DeviceEntity>,
    private readonly writes: WriteQueue,
  ) {}

  loadAll(): Promise<DevicePresenceEntity[]> {
    return this.presence.find();
  }

  async deviceIds(): Promise<string[]> {
    return (await this.devices.find({ select: { id: true } })).map((d) => d.id);
  }

  openIntervals(): Promise<PresenceIntervalEntity[]> {
    return this.intervals.findBy({ endedAt: IsNull() });
  }

  /**
   * Milliseconds each device was online within [from, to) (`to` no later than now), summed in SQL
   * over the intervals that overlap the period; an interval still open counts until `now`.
   */
  async onlineMsBetween(from: number, to: number, now: number): Promise<Map<string, number>> {
    const end = 'COALESCE(i.ended_at, :now)';
    const rows = await this.intervals
      .createQueryBuilder('i')
      .select('i.device_id', 'deviceId')
      .addSelect(
        `SUM((CASE WHEN ${end} < :to THEN ${end} ELSE :to END) - (CASE WHEN i.started_at > :from THEN i.started_at ELSE :from END))`,
        'onlineMs',
      )
      .where('i.started_at < :to', { to })
      .andWhere('(i.ended_at IS NULL OR i.ended_at > :from)', { from })
      .setParameter('now', now)
      .groupBy('i.device_id')
      .getRawMany<{ deviceId: string; onlineMs: string | number | null }>();
    return new Map(rows.map((r) => [r.deviceId, Math.max(0, Number(r.onlineMs ?? 0))]));
  }

  history(deviceId: string, limit: number): Promise<PresenceIntervalEntity[]> {
    return this.intervals.find({ where: { deviceId }, order: { startedAt: 'DESC' }, take: limit });
  }

  /**
   * One transaction for a whole batch: the changed presence rows (upserted) and the history
   * intervals opened and closed since the last batch, in order.
   */
  async saveBatch(rows: DevicePresenceEntity[], changes: IntervalChange[]): Promise<void> {
    if (rows.length === 0 && changes.length === 0) return;
    await this.writes.run(async (m) => {
      for (const chunk of chunks(rows, 200)) {
        await m.upsert(DevicePresenceEntity, chunk, { conflictPaths: ['deviceId'] });
      }
      const opens: Partial<PresenceIntervalEntity>[] = [];
      const flushOpens = async () => {
        for (const chunk of chunks(opens.splice(0), 500))
          await m.insert(PresenceIntervalEntity, chunk);
      };
      for (const change of changes) {
        if (change.kind === 'open') {
          opens.push({
            deviceId: change.deviceId,
            startedAt: change.at,
            endedAt: null,
            endReason: null,
          });
          continue;
        }
        await flushOpens();
        await m.update(
          PresenceIntervalEntity,
          { deviceId: change.deviceId, endedAt: IsNull() },
          { endedAt: change.at, endReason: change.reason },
        );
      }
      await flushOpens();
    });
  }
}
