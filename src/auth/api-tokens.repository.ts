import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { In, IsNull, Repository } from 'typeorm';
import { WriteQueue } from '../database/write-queue.js';
import { ApiTokenEntity } from './api-token.entity.js';

@Injectable()
export class ApiTokensRepository {
  constructor(
    @InjectRepository(ApiTokenEntity) private readonly tokens: Repository<ApiTokenEntity>,
    private readonly writes: WriteQueue,
  ) {}

  findActiveByHash(tokenHash: string): Promise<ApiTokenEntity | null> {
    return this.tokens.findOneBy({ tokenHash, revokedAt: IsNull() });
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
