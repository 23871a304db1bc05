import { Injectable } from '@nestjs/common';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { InjectRepository } from '@nestjs/typeorm';
import { EntityManager, In, Repository, SelectQueryBuilder } from 'typeorm';
import { chunks, insertMany, rawSql, updateManyGuarded } from '../database/batch.js';
import { DomainError } from '../common/domain-error.js';
import type { VillageErrorCode } from './village-errors.js';
import { escapeLike } from '../database/db-errors.js';
import { WriteQueue } from '../database/write-queue.js';
import { TownEntity } from './town.entity.js';
import { VillageEntity } from './village.entity.js';
import type { VillageRef } from './village-ref.js';

export interface VillageFilter {
  town?: string;
  /** Only villages of these towns (a town official's); an empty list matches nothing. */
  towns?: readonly string[] | null;
  q?: string;
  limit?: number;
  offset?: number;
}

/** A village's reference as read: the town's name is null only if its town row is missing. */
export type VillageRefRow = Omit<VillageRef, 'townName'> & { townName: string | null };

export interface TownWithCount extends TownEntity {
  villageCount: number;
}

/** The only file that speaks TypeORM for towns and villages. */
@Injectable()
export class VillagesRepository {
  constructor(
    @InjectRepository(TownEntity) private readonly towns: Repository<TownEntity>,
    @InjectRepository(VillageEntity) private readonly villages: Repository<VillageEntity>,
    private readonly writes: WriteQueue,
  ) {}

  /** Runs `work` as one serialised write transaction over both tables. */
  write<T>(work: (tx: VillagesTx) => Promise<T>): Promise<T> {
    return this.writes.run((m) => work(new VillagesTx(m)));
  }

  findTown(code: string): Promise<TownEntity | null> {
    return this.towns.findOneBy({ code });
  }

  allTowns(): Promise<TownEntity[]> {
    return this.towns.find({ order: { code: 'ASC' } });
  }

  async listTowns(
    q: string | undefined,
    limit: number,
    offset: number,
    only: readonly string[] | null = null,
  ): Promise<[TownWithCount[], number]> {
    if (only?.length === 0) return [[], 0];
    const query = this.towns.createQueryBuilder('t');
    if (only) query.where('t.code IN (:...only)', { only });
    if (q) {
      query.andWhere("(LOWER(t.name) LIKE :q ESCAPE '\\' OR t.code LIKE :prefix ESCAPE '\\')", {
        q: `%${escapeLike(q.toLowerCase())}%`,
        prefix: `${escapeLike(q)}%`,
      });
    }
    const total = await query.getCount();
    const towns = await query.orderBy('t.code', 'ASC').limit(limit).offset(offset).getMany();
    const counts = await this.villageCounts(towns.map((t) => t.code));
    return [towns.map((t) => ({ ...t, villageCount: counts.get(t.code) ?? 0 })), total];
  }

  async villageCounts(townCodes: string[]): Promise<Map<string, number>> {
    if (townCodes.length === 0) return new Map();
    const rows = await this.villages
      .createQueryBuilder('v')
      .select('v.town_code', 'townCode')
      .addSelect('COUNT(*)', 'n')
      .where('v.town_code IN (:...townCodes)', { townCodes })
      .groupBy('v.town_code')
      .getRawMany<{ townCode: string; n: string | number }>();
    return new Map(rows.map((r) => [r.townCode, Number(r.n)]));
  }

  findVillage(code: string): Promise<VillageEntity | null> {
    return this.villages.findOne({ where: { code }, relations: { town: true } });
  }

  /** Every village as plain rows, for planning an import. */
  villagesForImport(): Promise<VillageEntity[]> {
    return plainVillages(this.villages.manager);
  }

  /** In slices: a devices import names up to 100,000 villages, past SQLite's parameter limit. */
  async findVillages(codes: string[]): Promise<VillageEntity[]> {
    const found: VillageEntity[] = [];
    for (const chunk of chunks(codes, 500))
      found.push(...(await this.villages.findBy({ code: In(chunk) })));
    return found;
  }

  async listVillages(filter: VillageFilter): Promise<[VillageEntity[], number]> {
    const query = this.villages.createQueryBuilder('v').leftJoinAndSelect('v.town', 't');
    matching(query, filter).orderBy('v.code', 'ASC');
    if (filter.limit !== undefined) query.take(filter.limit).skip(filter.offset ?? 0);
    return query.getManyAndCount();
  }

  /**
   * Every village matching the filter (no paging), by code, as plain rows: the status board and
   * coverage read all of them on each request, and hydrating 800 entities with their towns (and
   * counting them) cost several milliseconds of it.
   */
  villageRefs(filter: Pick<VillageFilter, 'town' | 'q' | 'towns'> = {}): Promise<VillageRefRow[]> {
    const query = this.villages
      .createQueryBuilder('v')
      .leftJoin('v.town', 't')
      .select('v.code', 'code')
      .addSelect('v.name', 'name')
      .addSelect('v.town_code', 'townCode')
      .addSelect('t.name', 'townName');
    return matching(query, filter).orderBy('v.code', 'ASC').getRawMany<VillageRefRow>();
  }

  /** Codes of the villages in any of these towns: one indexed query, no rows built. */
  async villageCodesOfTowns(towns: readonly string[]): Promise<string[]> {
    if (towns.length === 0) return [];
    const rows = await this.villages
      .createQueryBuilder('v')
      .select('v.code', 'code')
      .where('v.town_code IN (:...towns)', { towns })
      .getRawMany<{ code: string }>();
    return rows.map((r) => r.code);
  }

  async villageCodesInTown(town: string): Promise<string[]> {
    const rows = await this.villages.find({
      select: { code: true },
      where: { townCode: town },
      order: { code: 'ASC' },
    });
    return rows.map((r) => r.code);
  }

  countVillages(): Promise<number> {
    return this.villages.count();
  }

  countTowns(): Promise<number> {
    return this.towns.count();
  }
}

/** Rows per statement of an import's writes, with a turn of the event loop after each. */
const ROWS_PER_STATEMENT = 2_000;

const VILLAGE_FIELDS = [
  'code',
  'name',
  'townCode',
  'lat',
  'lon',
  'quietHours',
  'createdAt',
  'updatedAt',
] as const;

/**
 * Every village as plain rows, without TypeORM's entity building (seconds for 100,000 villages,
 * inside an import's write transaction).
 */
async function plainVillages(m: EntityManager): Promise<VillageEntity[]> {
  const { table, column } = rawSql(m, VillageEntity);
  const select = VILLAGE_FIELDS.map((f) => `${column(f)} AS "${f}"`).join(', ');
  const rows = (await m.query(`SELECT ${select} FROM ${table}`)) as VillageEntity[];
  // PostgreSQL answers BIGINT as text.
  for (const r of rows) {
    r.createdAt = Number(r.createdAt);
    r.updatedAt = Number(r.updatedAt);
  }
  return rows;
}

/** Writes on towns and villages inside one transaction of the {@link WriteQueue}. */
export class VillagesTx {
  constructor(private readonly m: EntityManager) {}

  findTown(code: string): Promise<TownEntity | null> {
    return this.m.findOneBy(TownEntity, { code });
  }

  findVillage(code: string): Promise<VillageEntity | null> {
    return this.m.findOneBy(VillageEntity, { code });
  }

  allTowns(): Promise<TownEntity[]> {
    return this.m.find(TownEntity);
  }

  allVillages(): Promise<VillageEntity[]> {
    return plainVillages(this.m);
  }

  // Plain multi-row SQL: TypeORM's insert() and update() build each row through the query
  // builder, seconds in a large import that holds the write transaction.
  async insertTowns(rows: TownEntity[]): Promise<void> {
    await insertMany(this.m, TownEntity, rows);
  }

  async insertVillages(rows: VillageEntity[]): Promise<void> {
    // A turn of the event loop between slices: the server keeps answering during a large import.
    for (const slice of chunks(rows, ROWS_PER_STATEMENT)) {
      await insertMany(this.m, VillageEntity, slice);
      await nextTurn();
    }
  }

  /** Updates each village still at its `since` time; one changed meanwhile is a conflict. */
  async updateVillages(
    updates: { code: string; patch: Partial<VillageEntity>; since: number }[],
    now: number,
  ): Promise<void> {
    let updated = 0;
    for (const slice of chunks(updates, ROWS_PER_STATEMENT)) {
      const done = await updateManyGuarded(
        this.m,
        VillageEntity,
        'code',
        slice.map((u) => ({
          key: u.code,
          guard: { updatedAt: u.since },
          patch: { ...u.patch, updatedAt: now },
        })),
      );
      updated += done.size;
      await nextTurn();
    }
    if (updated !== updates.length) {
      throw new DomainError<VillageErrorCode>(
        'conflict',
        'IMPORT_RACE',
        'Villages were changed during the import; upload the file again',
      );
    }
  }

  async updateTown(code: string, patch: Partial<TownEntity>): Promise<void> {
    await this.m.update(TownEntity, { code }, patch);
  }

  async updateVillage(code: string, patch: Partial<VillageEntity>): Promise<void> {
    await this.m.update(VillageEntity, { code }, patch);
  }

  async deleteTown(code: string): Promise<boolean> {
    return ((await this.m.delete(TownEntity, { code })).affected ?? 0) > 0;
  }

  async deleteVillage(code: string): Promise<boolean> {
    return ((await this.m.delete(VillageEntity, { code })).affected ?? 0) > 0;
  }
}

/** The town and text filters of a village list, on a query of `v` (villages) joined to `t` (towns). */
function matching<Q extends SelectQueryBuilder<VillageEntity>>(
  query: Q,
  filter: Pick<VillageFilter, 'town' | 'q' | 'towns'>,
): Q {
  // No town at all: a condition nothing meets, so paging and counting still work as one query.
  if (filter.towns?.length === 0) query.andWhere('1 = 0');
  else if (filter.towns) query.andWhere('v.town_code IN (:...towns)', { towns: filter.towns });
  if (filter.town) query.andWhere('v.town_code = :town', { town: filter.town });
  if (filter.q) {
    query.andWhere("(LOWER(v.name) LIKE :q ESCAPE '\\' OR v.code LIKE :prefix ESCAPE '\\')", {
      q: `%${escapeLike(filter.q.toLowerCase())}%`,
      prefix: `${escapeLike(filter.q)}%`,
    });
  }
  return query;
}
