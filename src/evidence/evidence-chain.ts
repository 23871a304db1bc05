import { Injectable } from '@nestjs/common';
import { DataSource, EntityManager } from 'typeorm';
import { insertMany, rawSql } from '../database/batch.js';
import { EvidenceEntryEntity } from './evidence-entry.entity.js';
import { bodyText, entryHash, EvidenceDraft, GENESIS_HASH } from './evidence-hash.js';

/** A place in the chain: an entry's seq and hash. */
export interface ChainHead {
  seq: number;
  hash: string;
}

/** The key of the PostgreSQL advisory lock that orders appends across servers ("dalaba:evidence"). */
const APPEND_LOCK = 0x64_6c_62_65_76;
/** Hashing a big dispatch's entries gives the event loop a turn once this much time has gone. */
const HASH_SLICE_MS = 20;

/**
 * The evidence hash chain (docs/evidence.md): one global chain of entries, each appended inside
 * the transaction of the rows it proves. Appends are serialised: on SQLite by the one writer
 * (WriteQueue) whose transaction the caller holds; on PostgreSQL, where several servers write, by
 * a transaction-scoped advisory lock taken before the head is read.
 */
@Injectable()
export class EvidenceChain {
  constructor(private readonly dataSource: DataSource) {}

  /**
   * Appends entries, in the given order, inside the caller's transaction `m`; returns the new head
   * (null when there was nothing to append). Call it last in the transaction: the advisory lock is
   * held until commit, so what comes after it would hold up every other server's appends.
   */
  async append(m: EntityManager, drafts: EvidenceDraft[]): Promise<ChainHead | null> {
    if (!drafts.length) return null;
    if (m.connection.options.type === 'postgres')
      await m.query('SELECT pg_advisory_xact_lock($1)', [APPEND_LOCK]);
    const head = await this.readHead(m);
    let prev = head?.hash ?? GENESIS_HASH;
    let seq = head?.seq ?? 0;
    const rows: EvidenceEntryEntity[] = [];
    let sliceStart = performance.now();
    for (const d of drafts) {
      seq++;
      const body = bodyText(d.body);
      const hash = entryHash(prev, {
        seq,
        at: d.at,
        kind: d.kind,
        broadcastId: d.broadcastId,
        subject: d.subject,
        body,
      });
      rows.push({
        seq,
        at: d.at,
        kind: d.kind,
        broadcastId: d.broadcastId,
        subject: d.subject,
        body,
        prevHash: prev,
        hash,
      });
      prev = hash;
      // A dispatch to 10,000 devices hashes 10,000 entries; the writer's queue waits either way.
      if (performance.now() - sliceStart >= HASH_SLICE_MS) {
        await new Promise((turn) => setImmediate(turn));
        sliceStart = performance.now();
      }
    }
    await insertMany(m, EvidenceEntryEntity, rows);
    return { seq, hash: prev };
  }

  /** The last entry of the chain, or null while it is empty. */
  head(m: EntityManager = this.dataSource.manager): Promise<ChainHead | null> {
    return this.readHead(m);
  }

  /** The last entry of one broadcast, or null when it has none. */
  async headOf(
    broadcastId: string,
    m: EntityManager = this.dataSource.manager,
  ): Promise<ChainHead | null> {
    const { table, column, placeholder } = rawSql(m, EvidenceEntryEntity);
    const rows: { seq: string | number; hash: string }[] = await m.query(
      `SELECT ${column('seq')} AS "seq", ${column('hash')} AS "hash" FROM ${table} WHERE ${column('broadcastId')} = ${placeholder(1)} ORDER BY ${column('seq')} DESC LIMIT 1`,
      [broadcastId],
    );
    return rows.length ? { seq: Number(rows[0].seq), hash: rows[0].hash } : null;
  }

  private async readHead(m: EntityManager): Promise<ChainHead | null> {
    const { table, column } = rawSql(m, EvidenceEntryEntity);
    const rows: { seq: string | number; hash: string }[] = await m.query(
      `SELECT ${column('seq')} AS "seq", ${column('hash')} AS "hash" FROM ${table} ORDER BY ${column('seq')} DESC LIMIT 1`,
    );
    return rows.length ? { seq: Number(rows[0].seq), hash: rows[0].hash } : null;
  }
}
