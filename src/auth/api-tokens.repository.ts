import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { In, IsNull, Repository } from 'typeorm';
import { WriteQueue } from '../database/write-queue.js';
import { ApiTokenEntity } from './api-token.entity.js';
import type { Role } from './roles.js';
import { UserEntity, UserTownEntity } from './user.entity.js';

/** What a token needs of the person who owns it. */
export interface TokenOwner {
  id: string;
  username: string;
  displayName: string;
  role: Role;
  phone: string | null;
  disabledAt: number | null;
  towns: string[];
}

@Injectable()
export class ApiTokensRepository {
  constructor(
    @InjectRepository(ApiTokenEntity) private readonly tokens: Repository<ApiTokenEntity>,
    private readonly writes: WriteQueue,
  ) {}

  findActiveByHash(tokenHash: string): Promise<ApiTokenEntity | null> {
    return this.tokens.findOneBy({ tokenHash, revokedAt: IsNull() });
  }

  async ownerOf(userId: string): Promise<TokenOwner | null> {
    const m = this.tokens.manager;
    const user = await m.getRepository(UserEntity).findOneBy({ id: userId });
    if (!user) return null;
    const towns = await m.getRepository(UserTownEntity).find({ where: { userId } });
    return {
      id: user.id,
      username: user.username,
      displayName: user.displayName,
      role: user.role,
      phone: user.phone,
      disabledAt: user.disabledAt,
      towns: towns.map((t) => t.townCode).sort(),
    };
  }

  /** Display names of these users, by id. */
  async namesOf(ids: string[]): Promise<Map<string, string>> {
    const unique = [...new Set(ids)];
    if (unique.length === 0) return new Map();
    const rows = await this.tokens.manager.getRepository(UserEntity).find({
      select: { id: true, displayName: true },
      where: { id: In(unique) },
    });
    return new Map(rows.map((r) => [r.id, r.displayName]));
  }

  async activeIdsOwnedBy(userId: string): Promise<string[]> {
    const rows = await this.tokens.find({
      select: { id: true },
      where: { ownerUserId: userId, revokedAt: IsNull() },
    });
    return rows.map((r) => r.id);
  }

  async activeIds(ids: string[]): Promise<string[]> {
    if (ids.length === 0) return [];
    const rows = await this.tokens.find({
      select: { id: true },
      where: { id: In(ids), revokedAt: IsNull() },
    });
    return rows.map((r) => r.id);
  }

  findById(id: string): Promise<ApiTokenEntity | null> {
    return this.tokens.findOneBy({ id });
  }

  list(
    includeRevoked: boolean,
    limit?: number,
    offset?: number,
  ): Promise<[ApiTokenEntity[], number]> {
    return this.tokens.findAndCount({
      where: includeRevoked ? {} : { revokedAt: IsNull() },
      order: { createdAt: 'ASC', id: 'ASC' },
      take: limit,
      skip: offset,
    });
  }

  countActive(): Promise<number> {
    return this.tokens.countBy({ revokedAt: IsNull() });
  }

  async insert(token: ApiTokenEntity): Promise<void> {
    await this.writes.run((m) => m.getRepository(ApiTokenEntity).insert(token));
  }

  async markRevoked(id: string, at: number): Promise<void> {
    await this.writes.run((m) => m.getRepository(ApiTokenEntity).update({ id }, { revokedAt: at }));
  }

  async markUsed(id: string, at: number): Promise<void> {
    await this.writes.run((m) =>
      m.getRepository(ApiTokenEntity).update({ id }, { lastUsedAt: at }),
    );
  }
}
