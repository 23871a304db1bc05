import assert from 'node:assert/strict';
import { describe, it, beforeAll, afterAll } from '@jest/globals';
import { DataSource } from 'typeorm';
import { loadConfig } from '../src/config/app-config.js';
import { dataSourceOptions } from '../src/database/data-source-options.js';
import { WriteQueue } from '../src/database/write-queue.js';
import { ENTITIES } from '../src/entities.js';
import { SequenceAllocator } from '../src/signing/sequence-allocator.js';
import { freshPostgresSchema, TEST_DATABASE_URL } from './support/postgres.js';

/**
 * Two servers on one PostgreSQL, each with its own connection pool, writer and allocator (what a
 * server process has), handing out seqs for the same devices at the same time.
 */
describe('command sequences on PostgreSQL shared by two servers', () => {
  const sources: DataSource[] = [];
  let drop: () => Promise<void>;
  let one: SequenceAllocator;
  let two: SequenceAllocator;

  const open = async (schema: string, migrate: boolean) => {
    const config = loadConfig({ DATABASE_URL: TEST_DATABASE_URL, DATABASE_SCHEMA: schema });
    const ds = await new DataSource(dataSourceOptions(config, ENTITIES)).initialize();
    sources.push(ds);
    if (migrate) await ds.runMigrations({ transaction: 'each' });
    return new SequenceAllocator(new WriteQueue(ds));
  };

  beforeAll(async () => {
    const fresh = await freshPostgresSchema();
    drop = fresh.drop;
    one = await open(fresh.schema, true);
    two = await open(fresh.schema, false);
  });
  afterAll(async () => {
    for (const ds of sources) await ds.destroy();
    await drop?.();
  });

  it('never hands out the same seq twice for one device, and each server’s seqs rise in request order', async () => {
    const devices = ['dev-a', 'dev-b', 'dev-c'];
    const got = new Map<string, { server: number; seq: number }[]>(devices.map((d) => [d, []]));
    const rounds = 20;
    const before = [one.statementCount, two.statementCount];
    for (let round = 0; round < rounds; round++) {
      // One turn per server per round: each server's requests are one statement, and the two
      // servers' statements race on the same rows.
      const asked: Promise<void>[] = [];
      for (const [server, allocator] of [one, two].entries()) {
        for (const device of devices)
          for (let k = 0; k < 3; k++)
            asked.push(
              allocator.next(device).then((seq) => void got.get(device)!.push({ server, seq })),
            );
      }
      await Promise.all(asked);
    }
    assert.deepEqual(
      [one.statementCount - before[0], two.statementCount - before[1]],
      [rounds, rounds],
      'one statement per server per turn',
    );
    for (const device of devices) {
      const seqs = got.get(device)!.map((g) => g.seq);
      assert.equal(new Set(seqs).size, seqs.length, `${device}: no seq handed out twice`);
      assert.deepEqual(
        [...seqs].sort((a, b) => a - b),
        Array.from({ length: rounds * 6 }, (_, i) => i + 1),
        `${device}: every number from 1 on, none skipped`,
      );
      for (const server of [0, 1]) {
        const mine = got
          .get(device)!
          .filter((g) => g.server === server)
          .map((g) => g.seq);
        for (let i = 1; i < mine.length; i++)
          assert.ok(
            mine[i] > mine[i - 1],
            `${device} server ${server}: ${mine[i]} after ${mine[i - 1]}`,
          );
      }
    }

    // A server started later (a restart) continues where both left off.
    const later = await open((sources[0].options as { schema: string }).schema, false);
    assert.equal(await later.next('dev-a'), rounds * 6 + 1);
    assert.equal(await later.next('dev-new'), 1);
  });
});
