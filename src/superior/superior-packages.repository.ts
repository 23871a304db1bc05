import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { FindOptionsWhere, In, IsNull, LessThan, LessThanOrEqual, Repository } from 'typeorm';
import { WriteQueue } from '../database/write-queue.js';
import {
  type PackageDirection,
  type PackageStatus,
  SuperiorPackageEntity,
} from './superior-package.entity.js';

/** The only file that speaks TypeORM for the packages exchanged with the superior platform. */
@Injectable()
export class SuperiorPackagesRepository {
  constructor(
    @InjectRepository(SuperiorPackageEntity)
    private readonly packages: Repository<SuperiorPackageEntity>,
    private readonly writes: WriteQueue,
  ) {}

  async insert(row: SuperiorPackageEntity): Promise<void> {
    await this.writes.run((m) => m.insert(SuperiorPackageEntity, row));
  }

  find(direction: PackageDirection, ebdId: string): Promise<SuperiorPackageEntity | null> {
    return this.packages.findOneBy({ direction, ebdId });
  }

  /** Outgoing packages whose attempt is due, oldest first (the superior sees them in order). */
  due(now: number, limit: number): Promise<SuperiorPackageEntity[]> {
    return this.packages.find({
      where: { direction: 'out', status: 'pending', nextAttemptAt: LessThanOrEqual(now) },
      order: { createdAt: 'ASC', id: 'ASC' },
      take: limit,
    });
  }

  countPending(): Promise<number> {
    return this.packages.countBy({ direction: 'out', status: 'pending' });
  }

  /** Outgoing packages given up or refused by the superior (until the sweep deletes them). */
  countFailed(): Promise<number> {
    return this.packages.countBy({ direction: 'out', status: 'failed' });
  }

  /**
   * Takes a due package for one attempt: moves its next attempt to `leaseUntil` only if nobody
   * did meanwhile, so of two servers sharing the table exactly one sends it.
   */
  async claim(row: SuperiorPackageEntity, leaseUntil: number): Promise<boolean> {
    return this.writes.run(
      async (m) =>
        (
          await m.update(
            SuperiorPackageEntity,
            { id: row.id, status: 'pending', nextAttemptAt: row.nextAttemptAt! },
            { nextAttemptAt: leaseUntil },
          )
        ).affected === 1,
    );
  }

  async update(id: string, patch: Partial<SuperiorPackageEntity>): Promise<void> {
    await this.writes.run((m) => m.update(SuperiorPackageEntity, { id }, patch));
  }

  /**
   * The newest outgoing package of `type` never attempted yet (the superior has not seen its
   * EBDID), to fold a newer report into it; null when there is none.
   */
  unattempted(type: string): Promise<SuperiorPackageEntity | null> {
    return this.packages.findOne({
      where: { direction: 'out', type, status: 'pending', attempts: 0 },
      order: { createdAt: 'DESC', id: 'ASC' },
    });
  }

  /**
   * Rewrites a package still as `row` was read (pending, never attempted, not claimed since):
   * false when another round or server took it meanwhile.
   */
  async rewrite(
    row: SuperiorPackageEntity,
    patch: Partial<SuperiorPackageEntity>,
  ): Promise<boolean> {
    return this.writes.run(
      async (m) =>
        (
          await m.update(
            SuperiorPackageEntity,
            {
              id: row.id,
              status: 'pending',
              attempts: 0,
              nextAttemptAt: row.nextAttemptAt ?? IsNull(),
            },
            patch,
          )
        ).affected === 1,
    );
  }

  /** Deletes finished packages (sent, failed, received, refused) last touched before `before`. */
  async sweep(before: number): Promise<number> {
    return this.writes.run(
      async (m) =>
        (
          await m.delete(SuperiorPackageEntity, {
            status: In(['sent', 'failed', 'received', 'refused']),
            updatedAt: LessThan(before),
          })
        ).affected ?? 0,
    );
  }

  list(
    filter: { direction?: PackageDirection; status?: PackageStatus; type?: string },
    limit: number,
    offset: number,
  ): Promise<[SuperiorPackageEntity[], number]> {
    const where: FindOptionsWhere<SuperiorPackageEntity> = {};
    if (filter.direction) where.direction = filter.direction;
    if (filter.status) where.status = filter.status;
    if (filter.type) where.type = filter.type;
    return this.packages.findAndCount({
      where,
      order: { createdAt: 'DESC', id: 'ASC' },
      take: limit,
      skip: offset,
    });
  }
}
