import { Injectable } from '@nestjs/common';
import { DataSource, EntityManager } from 'typeorm';
import { AppMetaEntity } from './app-meta.entity.js';
import { WriteQueue } from './write-queue.js';

/** Key/value facts about this installation. */
@Injectable()
export class AppMetaRepository {
  constructor(
    private readonly dataSource: DataSource,
    private readonly writes: WriteQueue,
  ) {}

  async get(key: string): Promise<string | undefined> {
    const row = await this.dataSource.getRepository(AppMetaEntity).findOneBy({ key });
    return row?.value;
  }

  /** Sets a key inside a transaction the caller already holds (e.g. a registry's change token). */
  static async setIn(m: EntityManager, key: string, value: string): Promise<void> {
    await m.getRepository(AppMetaEntity).upsert({ key, value }, ['key']);
  }

  /** Sets a key only if none is set: two servers starting together keep the first one's value. */
  async setIfAbsent(key: string, value: string): Promise<void> {
    await this.writes.run((m) =>
      m
        .createQueryBuilder()
        .insert()
        .into(AppMetaEntity)
        .values({ key, value })
        .orIgnore()
        .execute(),
    );
  }

  async set(key: string, value: string): Promise<void> {
    await this.writes.run((m) => AppMetaRepository.setIn(m, key, value));
  }
}
