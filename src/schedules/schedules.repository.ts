import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { Repository } from 'typeorm';
import { isUniqueViolation } from '../database/db-errors.js';
import { WriteQueue } from '../database/write-queue.js';
import { ScheduleEntity, ScheduleFiringEntity } from './schedule.entity.js';

/** The only file that speaks TypeORM for schedules and their firings. */
@Injectable()
export class SchedulesRepository {
  constructor(
    @InjectRepository(ScheduleEntity) private readonly schedules: Repository<ScheduleEntity>,
    @InjectRepository(ScheduleFiringEntity)
    private readonly firings: Repository<ScheduleFiringEntity>,
    private readonly writes: WriteQueue,
  ) {}

  find(id: string): Promise<ScheduleEntity | null> {
    return this.schedules.findOneBy({ id });
  }

  enabled(): Promise<ScheduleEntity[]> {
    return this.schedules.findBy({ enabled: true });
  }

  /** Every schedule in list order (a town official's list is filtered by target, in memory). */
  all(): Promise<ScheduleEntity[]> {
    return this.schedules.find({ order: { createdAt: 'ASC', id: 'ASC' } });
  }

  list(limit: number, offset: number): Promise<[ScheduleEntity[], number]> {
    return this.schedules.findAndCount({
      order: { createdAt: 'ASC', id: 'ASC' },
      take: limit,
      skip: offset,
    });
  }

  async insert(row: ScheduleEntity): Promise<void> {
    await this.writes.run((m) => m.insert(ScheduleEntity, row));
  }

  async update(id: string, patch: Partial<ScheduleEntity>): Promise<void> {
    await this.writes.run((m) => m.update(ScheduleEntity, { id }, patch));
  }

  async delete(id: string): Promise<boolean> {
    return this.writes.run(
      async (m) => ((await m.delete(ScheduleEntity, { id })).affected ?? 0) > 0,
    );
  }

  /** Moves `lastFireAt` forward only (two servers may advance it; it never goes back). */
  async advance(id: string, to: number): Promise<void> {
    await this.writes.run((m) =>
      m
        .createQueryBuilder()
        .update(ScheduleEntity)
        .set({ lastFireAt: to })
        .where('id = :id AND (last_fire_at IS NULL OR last_fire_at < :to)', { id, to })
        .execute(),
    );
  }

  /** Records a firing once; false when it was already recorded (by this or another server). */
  async record(row: ScheduleFiringEntity): Promise<boolean> {
    try {
      await this.writes.run((m) => m.insert(ScheduleFiringEntity, row));
      return true;
    } catch (err) {
      if (isUniqueViolation(err)) return false;
      throw err;
    }
  }

  firingsOf(
    scheduleId: string,
    limit: number,
    offset: number,
  ): Promise<[ScheduleFiringEntity[], number]> {
    return this.firings.findAndCount({
      where: { scheduleId },
      order: { fireAt: 'DESC' },
      take: limit,
      skip: offset,
    });
  }
}
