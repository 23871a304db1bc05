import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { In, IsNull, MoreThan, Not, Repository } from 'typeorm';
import { WriteQueue } from '../database/write-queue.js';
import { SessionEntity } from './user.entity.js';

/** The one file that speaks TypeORM for `sessions`. */
@Injectable()
export class SessionsRepository {
  constructor(
    @InjectRepository(SessionEntity) private readonly sessions: Repository<SessionEntity>,
    private readonly writes: WriteQueue,
  ) {}

  findById(id: string): Promise<SessionEntity | null> {
    return this.sessions.findOneBy({ id });
  }

  async insert(session: SessionEntity): Promise<void> {
    await this.writes.run((m) => m.getRepository(SessionEntity).insert(session));
  }

  async touch(id: string, at: number): Promise<void> {
    await this.writes.run((m) => m.getRepository(SessionEntity).update({ id }, { lastSeenAt: at }));
  }

  async revoke(id: string, at: number): Promise<void> {
    await this.writes.run((m) =>
      m.getRepository(SessionEntity).update({ id, revokedAt: IsNull() }, { revokedAt: at }),
    );
  }

  /** Ends every open session of the user but `exceptId`; returns the ids it ended. */
  async revokeAllOf(userId: string, at: number, exceptId?: string): Promise<string[]> {
    return this.writes.run(async (m) => {
      const repo = m.getRepository(SessionEntity);
      const where = {
        userId,
        revokedAt: IsNull(),
        ...(exceptId ? { id: Not(exceptId) } : {}),
      };
      const open = await repo.find({ select: { id: true }, where });
      if (open.length) await repo.update({ id: In(open.map((s) => s.id)) }, { revokedAt: at });
      return open.map((s) => s.id);
    });
  }

  /** Which of these ids are sessions still open at `now`: not expired, nor idle for `idleMs`. */
  async activeIds(ids: string[], now: number, idleMs: number): Promise<string[]> {
    if (ids.length === 0) return [];
    const rows = await this.sessions.find({
      select: { id: true },
      where: {
        id: In(ids),
        revokedAt: IsNull(),
        expiresAt: MoreThan(now),
        lastSeenAt: MoreThan(now - idleMs),
      },
    });
    return rows.map((r) => r.id);
  }
}
