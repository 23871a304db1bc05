import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { LessThanOrEqual, Repository } from 'typeorm';
import { WriteQueue } from '../../database/write-queue.js';
import { AlertFeedEntity } from '../alert.entity.js';

/** The only file that speaks TypeORM for CAP feeds. */
@Injectable()
export class FeedsRepository {
  constructor(
    @InjectRepository(AlertFeedEntity) private readonly feeds: Repository<AlertFeedEntity>,
    private readonly writes: WriteQueue,
  ) {}

  find(id: string): Promise<AlertFeedEntity | null> {
    return this.feeds.findOneBy({ id });
  }

  findByUrl(url: string): Promise<AlertFeedEntity | null> {
    return this.feeds.findOneBy({ url });
  }

  list(limit: number, offset: number): Promise<[AlertFeedEntity[], number]> {
    return this.feeds.findAndCount({
      order: { createdAt: 'ASC', id: 'ASC' },
      take: limit,
      skip: offset,
    });
  }

  /** Enabled feeds whose next poll is due, the longest waiting first. */
  due(now: number, limit: number): Promise<AlertFeedEntity[]> {
    return this.feeds.find({
      where: { enabled: true, nextPollAt: LessThanOrEqual(now) },
      order: { nextPollAt: 'ASC' },
      take: limit,
    });
  }

  async insert(row: AlertFeedEntity): Promise<void> {
    await this.writes.run((m) => m.insert(AlertFeedEntity, row));
  }

  async update(id: string, patch: Partial<AlertFeedEntity>): Promise<boolean> {
    return this.writes.run(
      async (m) => ((await m.update(AlertFeedEntity, { id }, patch)).affected ?? 0) > 0,
    );
  }

  /**
   * Takes the feed's poll for `leaseUntil` if its next poll is still `seenNextPollAt`: of two
   * servers (or a tick and a restart) seeing it due, exactly one polls it; a server that dies
   * mid-poll leaves it to be polled again when the lease runs out.
   */
  async claim(id: string, seenNextPollAt: number, leaseUntil: number): Promise<boolean> {
    return this.writes.run(
      async (m) =>
        ((
          await m.update(
            AlertFeedEntity,
            { id, nextPollAt: seenNextPollAt },
            { nextPollAt: leaseUntil },
          )
        ).affected ?? 0) > 0,
    );
  }

  async remove(id: string): Promise<boolean> {
    return this.writes.run(
      async (m) => ((await m.delete(AlertFeedEntity, { id })).affected ?? 0) > 0,
    );
  }
}
