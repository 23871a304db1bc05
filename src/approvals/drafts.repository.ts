import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { FindOptionsWhere, IsNull, LessThanOrEqual, Like, Repository } from 'typeorm';
import { WriteQueue } from '../database/write-queue.js';
import { DraftEntity, DraftStatus } from './draft.entity.js';

/** The only file that speaks TypeORM for drafts. */
@Injectable()
export class DraftsRepository {
  constructor(
    @InjectRepository(DraftEntity) private readonly drafts: Repository<DraftEntity>,
    private readonly writes: WriteQueue,
  ) {}

  find(id: string): Promise<DraftEntity | null> {
    return this.drafts.findOneBy({ id });
  }

  /** The draft a received alert made (createForAlert), whatever became of it. */
  findForAlert(alertId: string): Promise<DraftEntity | null> {
    return this.drafts.findOne({
      where: {
        kind: 'broadcast',
        draftedByUserId: IsNull(),
        payload: Like(`%"alertId":${JSON.stringify(alertId)}%`),
      },
      order: { createdAt: 'ASC' },
    });
  }

  list(
    filter: { status?: DraftStatus; draftedBy?: { userId: string | null; name: string } },
    limit: number,
    offset: number,
  ): Promise<[DraftEntity[], number]> {
    const where: FindOptionsWhere<DraftEntity> = {};
    if (filter.status) where.status = filter.status;
    if (filter.draftedBy) {
      if (filter.draftedBy.userId) where.draftedByUserId = filter.draftedBy.userId;
      else where.draftedBy = filter.draftedBy.name;
    }
    return this.drafts.findAndCount({
      where,
      order: { createdAt: 'DESC', id: 'ASC' },
      take: limit,
      skip: offset,
    });
  }

  countPending(): Promise<number> {
    return this.drafts.countBy({ status: 'pending' });
  }

  withStatus(status: DraftStatus): Promise<DraftEntity[]> {
    return this.drafts.find({ where: { status }, order: { createdAt: 'ASC' }, take: 500 });
  }

  overdue(now: number): Promise<DraftEntity[]> {
    return this.drafts.find({
      where: { status: 'pending', expiresAt: LessThanOrEqual(now) },
      take: 500,
    });
  }

  async insert(row: DraftEntity): Promise<void> {
    await this.writes.run((m) => m.insert(DraftEntity, row));
  }

  /**
   * Moves a draft on only if it is still `from`: of two people deciding at once (or two servers
   * finishing it), exactly one gets true.
   */
  async transition(
    id: string,
    from: DraftStatus,
    patch: Partial<DraftEntity> & { status: DraftStatus },
  ): Promise<boolean> {
    return this.writes.run(
      async (m) => ((await m.update(DraftEntity, { id, status: from }, patch)).affected ?? 0) > 0,
    );
  }
}
