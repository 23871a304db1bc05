import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { EntityManager, In, IsNull, Not, Repository } from 'typeorm';
import type { DeviceType } from '../contract/device.js';
import { randomUUID } from 'node:crypto';
import { AppMetaRepository } from '../database/app-meta.repository.js';
import { chunks, insertMany, rawSql } from '../database/batch.js';
import { escapeLike } from '../database/db-errors.js';
import { WriteQueue } from '../database/write-queue.js';
import { DeviceEntity } from './device.entity.js';

export interface DeviceFilter {
  /** Restrict to these villages (already resolved from a town); an empty list matches nothing. */
  villageCodes?: string[];
  type?: DeviceType;
  enabled?: boolean;
  q?: string;
  limit?: number;
  offset?: number;
}

/** The app_meta key whose value changes with every device write. */
const REGISTRY_VERSION_KEY = 'devices.version';

/** The only file that speaks TypeORM for devices. */
@Injectable()
export class DevicesRepository {
  constructor(
    @InjectRepository(DeviceEntity) private readonly devices: Repository<DeviceEntity>,
    private readonly writes: WriteQueue,
    private readonly meta: AppMetaRepository,
  ) {}

  /**
   * One transaction of device writes. It also stores a new registry version, so that every
   * server process sharing the database sees that its {@link DeviceDirectory} is out of date.
   */
  write<T>(work: (tx: DevicesTx) => Promise<T>): Promise<T> {
    return this.writes.run(async (m) => {
      const out = await work(new DevicesTx(m));
      await AppMetaRepository.setIn(m, REGISTRY_VERSION_KEY, randomUUID());
      return out;
    });
  }

  /** Changes with every committed device write ('' before the first). */
  async registryVersion(): Promise<string> {
    return (await this.meta.get(REGISTRY_VERSION_KEY)) ?? '';
  }

  find(id: string): Promise<DeviceEntity | null> {
    return this.devices.findOneBy({ id });
  }

  private credentialsSql?: string;

  /**
   * What a login checks: whether the device is enabled, and its secret hash. Plain SQL: the query
   * builder's cost per login adds up when a whole fleet comes back after a restart.
   */
  async credentials(id: string): Promise<{ enabled: boolean; secretHash: string | null } | null> {
    const m = this.devices.manager;
    if (!this.credentialsSql) {
      const { table, column, placeholder } = rawSql(m, DeviceEntity);
      this.credentialsSql =
        `SELECT ${column('enabled')} AS enabled, ${column('secretHash')} AS secret_hash ` +
        `FROM ${table} WHERE ${column('id')} = ${placeholder(1)}`;
    }
    const rows = (await m.query(this.credentialsSql, [id])) as {
      enabled: boolean | number;
      secret_hash: string | null;
    }[];
    const row = rows[0];
    // SQLite answers 1/0 for a boolean column, PostgreSQL true/false.
    return row ? { enabled: Boolean(row.enabled), secretHash: row.secret_hash } : null;
  }

  /**
   * Stores the same secret in a newer hash form, unless the secret changed meanwhile (a rotation
   * wins). Not a registry change: the directory holds no secrets, so its version stays.
   */
  async replaceSecretHash(id: string, from: string, to: string): Promise<void> {
    await this.writes.run((m) =>
      m.update(DeviceEntity, { id, secretHash: from }, { secretHash: to }),
    );
  }

  async list(filter: DeviceFilter): Promise<[DeviceEntity[], number]> {
    if (filter.villageCodes?.length === 0) return [[], 0];
    const query = this.devices.createQueryBuilder('d');
    if (filter.villageCodes)
      query.andWhere('d.village_code IN (:...codes)', { codes: filter.villageCodes });
    if (filter.type) query.andWhere('d.type = :type', { type: filter.type });
    if (filter.enabled !== undefined)
      query.andWhere('d.enabled = :enabled', { enabled: filter.enabled });
    if (filter.q) {
      query.andWhere("(LOWER(d.id) LIKE :q ESCAPE '\\' OR LOWER(d.label) LIKE :q ESCAPE '\\')", {
        q: `%${escapeLike(filter.q.toLowerCase())}%`,
      });
    }
    query.orderBy('d.village_code', 'ASC').addOrderBy('d.id', 'ASC');
    if (filter.limit !== undefined) query.take(filter.limit).skip(filter.offset ?? 0);
    return query.getManyAndCount();
  }

  async snapshot(): Promise<
    Pick<DeviceEntity, 'id' | 'villageCode' | 'type' | 'enabled' | 'createdAt'>[]
  > {
    return this.devices.find({
      select: { id: true, villageCode: true, type: true, enabled: true, createdAt: true },
    });
  }

  /** The villages of these devices (unknown ids are left out). */
  async villagesOf(ids: string[]): Promise<Set<string>> {
    const out = new Set<string>();
    for (const chunk of chunks([...new Set(ids)], 500)) {
      for (const d of await this.devices.find({
        select: { villageCode: true },
        where: { id: In(chunk) },
      }))
        out.add(d.villageCode);
    }
    return out;
  }

  /** The resource codes of those of these devices that have one. */
  async resourceCodes(ids: string[]): Promise<Map<string, string>> {
    const rows = await this.coded('id', ids);
    return new Map(rows.map((d) => [d.id, d.resourceCode]));
  }

  /** The device holding each of these resource codes, by code (those that are held). */
  async holdersOf(codes: string[]): Promise<Map<string, string>> {
    const rows = await this.coded('resourceCode', codes);
    return new Map(rows.map((d) => [d.resourceCode, d.id]));
  }

  /** Devices with a resource code whose `by` is one of `values`, 500 at a time. */
  private async coded(
    by: 'id' | 'resourceCode',
    values: string[],
  ): Promise<{ id: string; resourceCode: string }[]> {
    const out: { id: string; resourceCode: string }[] = [];
    for (const chunk of chunks(values, 500))
      for (const d of await this.devices.find({
        select: { id: true, resourceCode: true },
        where: { [by]: In(chunk), resourceCode: Not(IsNull()) },
      }))
        out.push({ id: d.id, resourceCode: d.resourceCode! });
    return out;
  }

  async existingIds(ids: string[]): Promise<Set<string>> {
    const out = new Set<string>();
    for (const chunk of chunks([...new Set(ids)], 500)) {
      for (const d of await this.devices.find({ select: { id: true }, where: { id: In(chunk) } }))
        out.add(d.id);
    }
    return out;
  }

  async enabledCredentials(): Promise<{ id: string; mqttPasswordHash: string | null }[]> {
    const rows = await this.devices
      .createQueryBuilder('d')
      .select(['d.id'])
      .addSelect('d.mqttPasswordHash')
      .where('d.enabled = :enabled', { enabled: true })
      .orderBy('d.id', 'ASC')
      .getMany();
    return rows.map((d) => ({ id: d.id, mqttPasswordHash: d.mqttPasswordHash ?? null }));
  }

  count(): Promise<number> {
    return this.devices.count();
  }
}

/** Writes on devices inside one transaction of the {@link WriteQueue}. */
export class DevicesTx {
  constructor(private readonly m: EntityManager) {}

  find(id: string): Promise<DeviceEntity | null> {
    return this.m.findOneBy(DeviceEntity, { id });
  }

  all(): Promise<DeviceEntity[]> {
    return this.m.find(DeviceEntity);
  }

  /** The device holding this resource code, if any. */
  async holderOf(resourceCode: string): Promise<string | null> {
    const d = await this.m.findOne(DeviceEntity, { select: { id: true }, where: { resourceCode } });
    return d?.id ?? null;
  }

  /** Plain multi-row SQL: TypeORM's insert() builds each row, seconds in a large import. */
  async insert(rows: DeviceEntity[]): Promise<void> {
    await insertMany(this.m, DeviceEntity, rows);
  }

  async update(id: string, patch: Partial<DeviceEntity>): Promise<void> {
    await this.m.update(DeviceEntity, { id }, patch);
  }

  async delete(id: string): Promise<boolean> {
    return ((await this.m.delete(DeviceEntity, { id })).affected ?? 0) > 0;
  }
}
