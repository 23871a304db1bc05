import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { Repository } from 'typeorm';
import { WriteQueue } from '../database/write-queue.js';
import { ServerKeyEntity } from './signing.entity.js';

/** A key row with its private key (select: false elsewhere). */
export type StoredKey = ServerKeyEntity & { privateKey: string };

/** The only file that speaks TypeORM for the server's keys. */
@Injectable()
export class ServerKeysRepository {
  constructor(
    @InjectRepository(ServerKeyEntity) private readonly keys: Repository<ServerKeyEntity>,
    private readonly writes: WriteQueue,
  ) {}

  /** Every key, the private halves included, oldest first. */
  async loadAll(): Promise<StoredKey[]> {
    const rows = await this.keys
      .createQueryBuilder('k')
      .addSelect('k.privateKey')
      .orderBy('k.created_at', 'ASC')
      .addOrderBy('k.kid', 'ASC')
      .getMany();
    return rows as StoredKey[];
  }

  /** Every key without its private half, for listings. */
  list(): Promise<ServerKeyEntity[]> {
    return this.keys.find({ order: { createdAt: 'ASC', kid: 'ASC' } });
  }

  /**
   * Inserts the first key unless an active one exists. False when another server got there first
   * (the unique index on the active status refuses a second one).
   */
  async insertFirst(key: StoredKey): Promise<boolean> {
    try {
      return await this.writes.run(async (m) => {
        if (await m.existsBy(ServerKeyEntity, { status: 'active' })) return false;
        await m.insert(ServerKeyEntity, key);
        return true;
      });
    } catch (err) {
      if (await this.keys.existsBy({ status: 'active' })) return false;
      throw err;
    }
  }

  /**
   * The active key becomes retiring and `next` becomes active, in one transaction. False when
   * the active key is no longer `previousKid` (rotated meanwhile by another process).
   */
  rotate(previousKid: string, retireAt: number, next: StoredKey): Promise<boolean> {
    return this.writes.run(async (m) => {
      const result = await m.update(
        ServerKeyEntity,
        { kid: previousKid, status: 'active' },
        { status: 'retiring', retireAt },
      );
      if (!result.affected) return false;
      await m.insert(ServerKeyEntity, next);
      return true;
    });
  }

  /** Marks a non-active key revoked; false when it was active or already revoked meanwhile. */
  revoke(kid: string, at: number): Promise<boolean> {
    return this.writes.run(async (m) => {
      const result = await m
        .createQueryBuilder()
        .update(ServerKeyEntity)
        .set({ status: 'revoked', revokedAt: at })
        .where('kid = :kid AND status = :status', { kid, status: 'retiring' })
        .execute();
      return (result.affected ?? 0) > 0;
    });
  }
}
