import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it, afterAll } from '@jest/globals';
import { DataSource } from 'typeorm';
import { loadConfig } from '../src/config/app-config.js';
import { dataSourceOptions } from '../src/database/data-source-options.js';
import { MIGRATIONS } from '../src/database/schema.js';
import { ENTITIES } from '../src/entities.js';
import { freshPostgresSchema, TEST_DATABASE_URL } from './support/postgres.js';
import { tempDir } from './support/server.js';

/** Statements TypeORM would run to make the database match the entities: none, when in step. */
async function drift(ds: DataSource): Promise<string[]> {
  const sql = await ds.driver.createSchemaBuilder().log();
  return sql.upQueries.map((q) => q.query);
}

async function checkMigrations(ds: DataSource): Promise<void> {
  const ran = await ds.runMigrations({ transaction: 'each' });
  assert.deepEqual(
    ran.map((m) => m.name),
    MIGRATIONS.map((M) => new M().name),
    'every migration runs once, in order',
  );
  assert.deepEqual(await drift(ds), [], 'entities and migrations agree');
  assert.equal(await ds.showMigrations(), false, 'nothing pending');

  // Down and up again: the migrations are reversible.
  for (let i = 0; i < MIGRATIONS.length; i++) await ds.undoLastMigration({ transaction: 'each' });
  const tables = await ds
    .createQueryRunner()
    .getTables(['towns', 'villages', 'devices', 'api_tokens']);
  assert.deepEqual(tables, [], 'down() removes every table');
  await ds.runMigrations({ transaction: 'each' });
  assert.deepEqual(await drift(ds), []);
}

describe('migrations', () => {
  it('run on a fresh SQLite file, leave no drift, and revert cleanly', async () => {
    const config = loadConfig({ DATA_DIR: tempDir() });
    const ds = await new DataSource(dataSourceOptions(config, ENTITIES)).initialize();
    try {
      await checkMigrations(ds);
      const [{ journal_mode }] = await ds.query('PRAGMA journal_mode');
      assert.equal(journal_mode, 'wal');
      const [{ foreign_keys }] = await ds.query('PRAGMA foreign_keys');
      assert.equal(foreign_keys, 1);
      assert.equal(
        config.database.type === 'sqlite' && config.database.path,
        join(config.dataDir, 'dalaba.db'),
      );
      await assert.rejects(
        ds.query(
          "INSERT INTO devices (id, village_code, type, enabled, secret_hash, secret_rotated_at, created_at, updated_at) VALUES ('d', '999999999999', 'flood_pa', 1, 'x', 0, 0, 0)",
        ),
        /FOREIGN KEY/,
        'foreign keys are enforced',
      );
    } finally {
      await ds.destroy();
    }
  });

  it('gives broadcasts that ended before outcomes existed the outcome their deliveries tell', async () => {
    const config = loadConfig({ DATA_DIR: tempDir() });
    const ds = await new DataSource(dataSourceOptions(config, ENTITIES)).initialize();
    try {
      await ds.runMigrations({ transaction: 'each' });
      // Back to just before the outcomes migration (later ones are undone first).
      const outcomes = MIGRATIONS.findIndex((m) => m.name === 'DeliveryOutcomes1764835200000');
      for (let i = outcomes; i < MIGRATIONS.length; i++)
        await ds.undoLastMigration({ transaction: 'each' });
      const q = (sql: string, params: unknown[] = []) => ds.query(sql, params);
      await q(`INSERT INTO towns VALUES ('611026100', '镇', 0, 0)`);
      for (const v of ['611026100201', '611026100202'])
        await q(
          `INSERT INTO villages (code, name, town_code, created_at, updated_at) VALUES (?, ?, '611026100', 0, 0)`,
          [v, v],
        );
      for (const [id, v] of [
        ['d1', '611026100201'],
        ['d2', '611026100202'],
      ])
        await q(
          `INSERT INTO devices (id, village_code, type, enabled, secret_hash, secret_rotated_at, created_at, updated_at) VALUES (?, ?, 'flood_pa', 1, 'x', 0, 0, 0)`,
          [id, v],
        );
      await q(
        `INSERT INTO clips (id, title, status, source_sha256, original_bytes, created_by, created_at, updated_at) VALUES ('c', 'c', 'ready', 'x', 1, 't', 0, 0)`,
      );
      // all: both villages played; some: one played; none: nothing played; byHand: none played,
      // both confirmed by hand; cancelled; empty: no village targeted.
      const plan: [string, string, string[], string[], string[]][] = [
        ['all', 'completed', ['611026100201', '611026100202'], ['d1', 'd2'], []],
        ['some', 'completed', ['611026100201', '611026100202'], ['d1'], []],
        ['none', 'completed', ['611026100201'], [], []],
        [
          'byHand',
          'completed',
          ['611026100201', '611026100202'],
          [],
          ['611026100201', '611026100202'],
        ],
        ['cancelled', 'cancelled', ['611026100201'], ['d1'], []],
        ['empty', 'completed', [], [], []],
      ];
      for (const [id, status, villages, played, confirmed] of plan) {
        await q(
          `INSERT INTO broadcasts (id, title, clip_id, level, target, start_at, expires_at, repeat, attention_tone, status, created_by, created_at, updated_at) VALUES (?, ?, 'c', 'II', '{}', 0, 1, 1, 0, ?, 't', 0, 0)`,
          [id, id, status],
        );
        for (const v of villages) await q(`INSERT INTO broadcast_villages VALUES (?, ?)`, [id, v]);
        for (const [k, d] of ['d1', 'd2'].entries()) {
          if (!villages.includes(`61102610020${k + 1}`)) continue;
          await q(
            `INSERT INTO deliveries (id, broadcast_id, device_id, village_code, state, attempts, updated_at) VALUES (?, ?, ?, ?, ?, 1, 0)`,
            [`${id}-${d}`, id, d, `61102610020${k + 1}`, played.includes(d) ? 'played' : 'expired'],
          );
        }
        for (const v of confirmed)
          await q(
            `INSERT INTO manual_confirmations (id, broadcast_id, village_code, confirmed_at, confirmed_by, created_at) VALUES (?, ?, ?, 0, 't', 0)`,
            [`${id}-${v}`, id, v],
          );
      }
      await ds.runMigrations({ transaction: 'each' });
      const rows = (await q(`SELECT id, outcome FROM broadcasts ORDER BY id`)) as {
        id: string;
        outcome: string;
      }[];
      assert.deepEqual(Object.fromEntries(rows.map((r) => [r.id, r.outcome])), {
        all: 'completed',
        byHand: 'completed',
        cancelled: 'cancelled',
        empty: 'failed',
        none: 'failed',
        some: 'partially_completed',
      });
    } finally {
      await ds.destroy();
    }
  });

  describe('on PostgreSQL', () => {
    const cleanups: (() => Promise<void>)[] = [];
    afterAll(async () => {
      for (const c of cleanups) await c();
    });

    it('run on a fresh schema of 127.0.0.1:5432/test, leave no drift, and revert cleanly', async () => {
      const { schema, drop } = await freshPostgresSchema();
      cleanups.push(drop);
      const config = loadConfig({ DATABASE_URL: TEST_DATABASE_URL, DATABASE_SCHEMA: schema });
      const ds = await new DataSource(dataSourceOptions(config, ENTITIES)).initialize();
      try {
        await checkMigrations(ds);
        const rows = await ds.query(
          `SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY table_name`,
          [schema],
        );
        assert.deepEqual(
          rows.map((r: { table_name: string }) => r.table_name),
          [...ds.entityMetadatas.map((m) => m.tableName), 'migrations'].sort(),
        );
      } finally {
        await ds.destroy();
      }
    });
  });
});
