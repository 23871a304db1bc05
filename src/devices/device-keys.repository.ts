import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { IsNull, Not, Repository } from 'typeorm';
import type { SignatureAlgorithm } from '../contract/signing.js';
import { rawSql } from '../database/batch.js';
import { WriteQueue } from '../database/write-queue.js';
import { DeviceEntity } from './device.entity.js';

/** A device's own key as pinned (protocol 1.1). */
export interface PinnedKey {
  alg: SignatureAlgorithm;
  publicKey: string;
  pinnedAt: number;
}

/** The device-key columns of `devices`. Not a registry change: the directory holds no keys. */
@Injectable()
export class DeviceKeysRepository {
  private keysSql?: string;

  constructor(
    @InjectRepository(DeviceEntity) private readonly devices: Repository<DeviceEntity>,
    private readonly writes: WriteQueue,
  ) {}

  /** Undefined for an unknown device, null for a device with no pinned key. */
  async keyOf(id: string): Promise<PinnedKey | null | undefined> {
    const d = await this.devices.findOne({
      select: { id: true, deviceKeyAlg: true, devicePublicKey: true, deviceKeyAt: true },
      where: { id },
    });
    if (!d) return undefined;
    return pinned(d.deviceKeyAlg, d.devicePublicKey, d.deviceKeyAt);
  }

  /**
   * The pinned keys of these devices (those without one are left out). Plain SQL with the list as
   * one parameter: it runs for every ingest batch that holds `playing`/`played` events.
   */
  async keysOf(ids: string[]): Promise<Map<string, PinnedKey>> {
    const m = this.devices.manager;
    const sql = rawSql(m, DeviceEntity);
    this.keysSql ??=
      `SELECT ${sql.column('id')} AS id, ${sql.column('deviceKeyAlg')} AS alg, ` +
      `${sql.column('devicePublicKey')} AS public_key, ${sql.column('deviceKeyAt')} AS at ` +
      `FROM ${sql.table} WHERE ${sql.column('id')} ${sql.inList(1)} ` +
      `AND ${sql.column('devicePublicKey')} IS NOT NULL`;
    const rows = (await m.query(this.keysSql, [sql.list(ids)])) as {
      id: string;
      alg: SignatureAlgorithm;
      public_key: string;
      at: string | number;
    }[];
    return new Map(
      rows.map((r) => [r.id, { alg: r.alg, publicKey: r.public_key, pinnedAt: Number(r.at) }]),
    );
  }

  /** Pins a key unless the device already has one (another server may have pinned it first). */
  async pin(id: string, key: PinnedKey): Promise<boolean> {
    const result = await this.writes.run((m) =>
      m.update(
        DeviceEntity,
        { id, devicePublicKey: IsNull() },
        { deviceKeyAlg: key.alg, devicePublicKey: key.publicKey, deviceKeyAt: key.pinnedAt },
      ),
    );
    return (result.affected ?? 0) > 0;
  }

  /** Forgets the pinned key; false when there was none. */
  async clear(id: string): Promise<boolean> {
    const result = await this.writes.run((m) =>
      m.update(
        DeviceEntity,
        { id, devicePublicKey: Not(IsNull()) },
        { deviceKeyAlg: null, devicePublicKey: null, deviceKeyAt: null },
      ),
    );
    return (result.affected ?? 0) > 0;
  }
}

function pinned(
  alg: SignatureAlgorithm | null | undefined,
  publicKey: string | null | undefined,
  at: number | null | undefined,
): PinnedKey | null {
  return alg && publicKey ? { alg, publicKey, pinnedAt: at ?? 0 } : null;
}
