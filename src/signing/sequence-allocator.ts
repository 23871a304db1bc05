import { Injectable } from '@nestjs/common';
import { WriteQueue } from '../database/write-queue.js';
import { rawSql } from '../database/batch.js';
import { MAX_SEQ } from '../contract/signing.js';
import { CommandSequenceEntity } from './signing.entity.js';

interface Request {
  deviceId: string;
  resolve(seq: number): void;
  reject(err: unknown): void;
}

/** Devices per statement: two parameters each, well under both databases' limits. */
const CHUNK = 5000;

/**
 * Hands out each device's command sequence numbers (`seq`), from `command_sequences`, so they
 * only grow across restarts and across several servers on one PostgreSQL. Every request made in
 * the same turn of the event loop (a fan-out's sends, a device's `keys` and `config`) is answered
 * by one statement through the single writer: `INSERT … ON CONFLICT DO UPDATE SET last_seq =
 * last_seq + n … RETURNING`, one row per device with its count n. Requests are answered in the
 * order they were made, so a device's commands get rising numbers in the order they were sent.
 */
@Injectable()
export class SequenceAllocator {
  private pending: Request[] = [];
  private scheduled = false;
  private statements = 0;

  constructor(private readonly writes: WriteQueue) {}

  /** The next `seq` for a command to `deviceId`. */
  next(deviceId: string): Promise<number> {
    return new Promise<number>((resolve, reject) => {
      this.pending.push({ deviceId, resolve, reject });
      if (this.scheduled) return;
      this.scheduled = true;
      // setImmediate, not a microtask: requests made after an await in the same turn join too.
      setImmediate(() => void this.flush());
    });
  }

  /** Statements run since start (tests: proves a fan-out is one). */
  get statementCount(): number {
    return this.statements;
  }

  private async flush(): Promise<void> {
    const batch = this.pending;
    this.pending = [];
    this.scheduled = false;
    const counts = new Map<string, number>();
    for (const r of batch) counts.set(r.deviceId, (counts.get(r.deviceId) ?? 0) + 1);
    try {
      const last = await this.allocate(counts);
      // Each device's numbers are the n below its new last, handed out in request order.
      const nextOf = new Map([...counts].map(([id, n]) => [id, last.get(id)! - n + 1]));
      for (const r of batch) {
        const seq = nextOf.get(r.deviceId)!;
        nextOf.set(r.deviceId, seq + 1);
        r.resolve(seq);
      }
    } catch (err) {
      for (const r of batch) r.reject(err);
    }
  }

  /** Adds each count to its device's last seq; answers the new last seq per device. */
  private allocate(counts: Map<string, number>): Promise<Map<string, number>> {
    // In device order: two servers' batches lock the same rows in the same order (no deadlock).
    const rows = [...counts].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return this.writes.run(async (m) => {
      const { table, column, placeholder } = rawSql(m, CommandSequenceEntity);
      const postgres = m.connection.options.type === 'postgres';
      const device = column('deviceId');
      const lastSeq = column('lastSeq');
      const last = new Map<string, number>();
      for (let i = 0; i < rows.length; i += CHUNK) {
        const chunk = rows.slice(i, i + CHUNK);
        this.statements++;
        const params: unknown[] = [];
        // SQLite: the rows as one JSON parameter (one prepared statement for any batch size);
        // `WHERE true` keeps SQLite from reading ON CONFLICT as part of the SELECT's join.
        const source = postgres
          ? `VALUES ${chunk
              .map(([id, n]) => {
                params.push(id, n);
                return `(${placeholder(params.length - 1)}, CAST(${placeholder(params.length)} AS bigint))`;
              })
              .join(', ')}`
          : (params.push(JSON.stringify(chunk)),
            `SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]') FROM json_each(?) WHERE true`);
        const result = (await m.query(
          `INSERT INTO ${table} AS s (${device}, ${lastSeq}) ${source} ` +
            `ON CONFLICT (${device}) DO UPDATE SET ${lastSeq} = s.${lastSeq} + excluded.${lastSeq} ` +
            `RETURNING ${device} AS d, ${lastSeq} AS l`,
          params,
        )) as unknown;
        // TypeORM's PostgreSQL runner may answer [rows, count]; SQLite answers the rows.
        const returned = (
          Array.isArray(result) && Array.isArray(result[0]) ? result[0] : result
        ) as { d: string; l: string | number }[];
        for (const r of returned) last.set(String(r.d), Number(r.l));
      }
      for (const [id] of rows) {
        const l = last.get(id);
        if (l === undefined) throw new Error(`no sequence returned for device=${id}`);
        if (l > MAX_SEQ) throw new Error(`sequence of device=${id} passed ${MAX_SEQ}`);
      }
      return last;
    });
  }
}
