import assert from 'node:assert/strict';
import { describe, it, beforeAll, afterAll } from '@jest/globals';
import pg from 'pg';
import { DataSource } from 'typeorm';
import { DeliveryEntity } from '../src/broadcasts/broadcast.entity.js';
import { BroadcastsRepository, DeliveryChange } from '../src/broadcasts/broadcasts.repository.js';
import { WriteQueue } from '../src/database/write-queue.js';
import { newClip } from './support/broadcasts.js';
import { seedBigBroadcast } from './support/coverage.js';
import { fixtures } from './support/fixtures.js';
import { eventually } from './support/mqtt.js';
import { freshPostgresSchema, TEST_DATABASE_URL } from './support/postgres.js';
import { startTestServer, TestServer } from './support/server.js';

/** A confirmation `received` for a delivery that was `sent`. */
function received(d: DeliveryEntity, at: number): DeliveryChange {
  return {
    id: d.id,
    expect: 'sent',
    patch: { state: 'received', receivedAt: at, updatedAt: at },
    of: d,
    event: {
      deliveryId: d.id,
      fromState: 'sent',
      toState: 'received',
      source: 'mqtt',
      deviceTs: at,
      serverTs: at,
      reason: null,
      anomaly: null,
    },
  };
}

describe('batched delivery updates on PostgreSQL under contention', () => {
  let s: TestServer;
  let schema: string;
  let drop: () => Promise<void>;
  beforeAll(async () => {
    const fresh = await freshPostgresSchema();
    ({ schema, drop } = fresh);
    s = await startTestServer({
      env: { DATABASE_URL: TEST_DATABASE_URL, DATABASE_SCHEMA: schema },
    });
  });
  afterAll(async () => {
    await s?.close();
    await drop?.();
  });

  it('a batch that loses a deadlock (rows locked in opposite order) is retried and applied', async () => {
    const fx = fixtures(s.url, s.adminToken);
    const village = (await fx.newVillage((await fx.newTown()).code)).code;
    const clip = await newClip(s, 1);
    const startAt = Date.now() - 10_000;
    const seeded = await seedBigBroadcast(s, {
      clipId: clip.id,
      villageCodes: [village],
      total: 2,
      startAt,
      plan: () => ({ state: 'sent', sent: true, started: false, type: 'flood_pa' }),
    });
    const rows = await s.server.app
      .get(DataSource)
      .getRepository(DeliveryEntity)
      .findBy({ broadcastId: seeded.id });
    const [first, second] = rows.sort((a, b) => (a.id < b.id ? -1 : 1));

    // Another writer (a second server's batch) holds the later row and then wants the earlier one;
    // its own deadlock check waits 10 s, so the batch under test is the one PostgreSQL aborts.
    const other = new pg.Client({ connectionString: TEST_DATABASE_URL });
    const watcher = new pg.Client({ connectionString: TEST_DATABASE_URL });
    await other.connect();
    await watcher.connect();
    const writes = s.server.app.get(WriteQueue);
    const retriesBefore = writes.retries;
    try {
      await other.query(`SET search_path TO "${schema}"`);
      await other.query(`SET deadlock_timeout = '10s'`);
      await other.query('BEGIN');
      await other.query('UPDATE deliveries SET updated_at = updated_at WHERE id = $1', [second.id]);
      const now = Date.now();
      const batch = s.server.app
        .get(BroadcastsRepository)
        .applyChanges([received(second, now), received(first, now)]);
      const outcome = batch.then(
        (applied) => ({ applied }),
        (err: Error) => ({ err }),
      );
      // The batch now holds the earlier row and waits for the later one.
      await eventually(
        async () =>
          (
            await watcher.query(
              `SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%deliveries%' AND pid <> $1`,
              [(other as unknown as { processID: number }).processID],
            )
          ).rowCount! > 0,
        10_000,
        'the batch to wait for the row the other writer holds',
      );
      const otherDone = other
        .query('UPDATE deliveries SET updated_at = updated_at WHERE id = $1', [first.id])
        .then(() => other.query('COMMIT'));
      const result = await outcome;
      await otherDone;
      assert.ok(!('err' in result), `the batch failed: ${'err' in result && result.err.message}`);
      assert.deepEqual([...result.applied].sort(), [first.id, second.id]);
    } finally {
      await other.end();
      await watcher.end();
    }
    assert.ok(writes.retries > retriesBefore, 'the batch was aborted once and tried again');
    const after = await s.server.app
      .get(DataSource)
      .query(
        `SELECT state, count(*)::int AS n FROM "${schema}".deliveries WHERE broadcast_id = $1 GROUP BY state`,
        [seeded.id],
      );
    assert.deepEqual(after, [{ state: 'received', n: 2 }]);
    const events = await s.server.app
      .get(DataSource)
      .query(
        `SELECT count(*)::int AS n FROM "${schema}".delivery_events e JOIN "${schema}".deliveries d ON d.id = e.delivery_id WHERE d.broadcast_id = $1 AND e.to_state = 'received'`,
        [seeded.id],
      );
    assert.deepEqual(events, [{ n: 2 }], 'each event stored once');
  });
});
