import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { In, IsNull, Repository } from 'typeorm';
import { isCountyRole } from './roles.js';
import { WriteQueue } from '../database/write-queue.js';
import { UserEntity, UserTownEntity } from './user.entity.js';

export type UserChanges = Partial<
  Pick<
    UserEntity,
    | 'displayName'
    | 'phone'
    | 'role'
    | 'disabledAt'
    | 'failedLogins'
    | 'lockedUntil'
    | 'lastLoginAt'
    | 'mustChangePassword'
    | 'passwordHash'
    | 'passwordChangedAt'
    | 'updatedAt'
  >
>;

/** The one file that speaks TypeORM for `users` and `user_towns`. */
@Injectable()
export class UsersRepository {
  constructor(
    @InjectRepository(UserEntity) private readonly users: Repository<UserEntity>,
    @InjectRepository(UserTownEntity) private readonly towns: Repository<UserTownEntity>,
    private readonly writes: WriteQueue,
  ) {}

  findById(id: string): Promise<UserEntity | null> {
    return this.users.findOneBy({ id });
  }

  findByUsername(username: string): Promise<UserEntity | null> {
    return this.users.findOneBy({ username });
  }

  /** The stored hash, read only where a password is checked. */
  async passwordHashOf(id: string): Promise<string | null> {
    const row = await this.users.findOne({
      select: { id: true, passwordHash: true },
      where: { id },
    });
    return row?.passwordHash ?? null;
  }

  /**
   * A person as a principal needs them: the row and the towns they act for (read only for a town
   * official; county roles have none).
   */
  async withTowns(id: string): Promise<{ user: UserEntity; towns: string[] } | null> {
    const user = await this.findById(id);
    if (!user) return null;
    const towns = isCountyRole(user.role) ? [] : ((await this.townsOf([id])).get(id) ?? []);
    return { user, towns };
  }

  /** Display names of these users, by id. */
  async displayNamesOf(ids: string[]): Promise<Map<string, string>> {
    const unique = [...new Set(ids)];
    if (unique.length === 0) return new Map();
    const rows = await this.users.find({
      select: { id: true, displayName: true },
      where: { id: In(unique) },
    });
    return new Map(rows.map((r) => [r.id, r.displayName]));
  }

  async townsOf(ids: string[]): Promise<Map<string, string[]>> {
    const out = new Map<string, string[]>(ids.map((id) => [id, []]));
    if (ids.length === 0) return out;
    const rows = await this.towns.find({ where: { userId: In(ids) }, order: { townCode: 'ASC' } });
    for (const r of rows) out.get(r.userId)?.push(r.townCode);
    return out;
  }

  list(limit: number, offset: number): Promise<[UserEntity[], number]> {
    return this.users.findAndCount({
      order: { username: 'ASC' },
      take: limit,
      skip: offset,
    });
  }

  count(): Promise<number> {
    return this.users.count();
  }

  countEnabledAdmins(): Promise<number> {
    return this.users.countBy({ role: 'admin', disabledAt: IsNull() });
  }

  async insert(user: UserEntity, towns: string[]): Promise<void> {
    await this.writes.run(async (m) => {
      await m.getRepository(UserEntity).insert(user);
      if (towns.length)
        await m
          .getRepository(UserTownEntity)
          .insert(towns.map((townCode) => ({ userId: user.id, townCode })));
    });
  }

  /**
   * Counts one wrong password in the database itself (`failed_logins + 1`, never a value read
   * earlier), so parallel failures, here or on another server, each count. `lockFor` turns the
   * new count into the lock's end (or null for none yet); returns the count and the lock.
   */
  async recordFailedLogin(
    id: string,
    lockFor: (failed: number) => number | null,
  ): Promise<{ failed: number; lockedUntil: number | null } | null> {
    return this.writes.run(async (m) => {
      const repo = m.getRepository(UserEntity);
      await m
        .createQueryBuilder()
        .update(UserEntity)
        .set({ failedLogins: () => 'failed_logins + 1' })
        .where('id = :id', { id })
        .execute();
      // Read back inside the same transaction: on PostgreSQL the update holds the row's lock.
      const row = await repo.findOne({
        select: { id: true, failedLogins: true, lockedUntil: true },
        where: { id },
      });
      if (!row) return null;
      const lockedUntil = lockFor(row.failedLogins) ?? row.lockedUntil;
      if (lockedUntil !== row.lockedUntil) await repo.update({ id }, { lockedUntil });
      return { failed: row.failedLogins, lockedUntil };
    });
  }

  /** Changes the row, and replaces its towns when `towns` is given. */
  async update(id: string, changes: UserChanges, towns?: string[]): Promise<void> {
    await this.writes.run(async (m) => {
      if (Object.keys(changes).length) await m.getRepository(UserEntity).update({ id }, changes);
      if (towns) {
        await m.getRepository(UserTownEntity).delete({ userId: id });
        if (towns.length)
          await m
            .getRepository(UserTownEntity)
            .insert(towns.map((townCode) => ({ userId: id, townCode })));
      }
    });
  }
}
