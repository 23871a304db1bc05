import assert from 'node:assert/strict';
import { describe, it, beforeAll, afterAll } from '@jest/globals';
import { DataSource } from 'typeorm';
import type { DeviceAgent } from '../devices/agent.js';
import type { EvidenceDraft } from '../src/evidence/evidence-hash.js';
import {
  assertFirst,
  chainOf,
  DELIVERY_ENV,
  entriesOf,
  evidenceScenario,
  EvidenceScenario,
  ph,
  sql,
  table,
  verifyCli,
} from './support/evidence.js';
import { freshPostgresSchema, TEST_DATABASE_URL } from './support/postgres.js';
import { api, startTestServer, TestServer } from './support/server.js';

describe('the evidence chain on PostgreSQL', () => {
  let s: TestServer;
  let x: EvidenceScenario;
  let drop: () => Promise<void>;
  let env: Record<string, string>;
  const agents: DeviceAgent[] = [];

  beforeAll(async () => {
    const fresh = await freshPostgresSchema();
    drop = fresh.drop;
    env = { DATABASE_URL: TEST_DATABASE_URL, DATABASE_SCHEMA: fresh.schema };
    s = await startTestServer({ env: { ...DELIVERY_ENV, ...env } });
    x = await evidenceScenario(s);
    agents.push(...x.agents);
  });
  afterAll(async () => {
    await Promise.all(agents.map((a) => a.stop()));
    await s?.close();
    await drop?.();
  });

  it('verify passes on a real broadcast; coverage carries the broadcast’s head', async () => {
    const ok = await verifyCli(s, env);
    assert.equal(ok.code, 0, JSON.stringify(ok.result.first));
    assert.deepEqual(ok.result.head, await chainOf(s).head());
    assert.ok(ok.result.entries >= 14, `${ok.result.entries} entries`);
    const c = (
      await api(s.url, s.adminToken).get(`/api/broadcasts/${x.played}/coverage`).expect(200)
    ).body;
    assert.deepEqual(c.evidence, await chainOf(s).headOf(x.played));
    assert.equal(typeof c.evidence.seq, 'number', 'BIGINT seq comes back as a number');
  });

  it('catches a delivery set to played, a changed time and an entry deleted from the middle', async () => {
    const last = (await entriesOf(s, x.waitingDelivery)).at(-1);
    await sql(s, `UPDATE ${table(s, 'deliveries')} SET state = 'played' WHERE id = $1`, [
      x.waitingDelivery,
    ]);
    try {
      assertFirst(await verifyCli(s, env), {
        seq: last?.seq ?? null,
        table: 'deliveries',
        rowId: x.waitingDelivery,
        problem: `is 'played' but`,
      });
    } finally {
      await sql(s, `UPDATE ${table(s, 'deliveries')} SET state = 'pending' WHERE id = $1`, [
        x.waitingDelivery,
      ]);
    }

    const playing = (await entriesOf(s, x.playedDelivery)).find(
      (e) => e.body.toState === 'playing',
    )!;
    const t = table(s, 'delivery_events');
    await sql(
      s,
      `UPDATE ${t} SET server_ts = server_ts + 5000 WHERE delivery_id = $1 AND to_state = 'playing'`,
      [x.playedDelivery],
    );
    try {
      assertFirst(await verifyCli(s, env), {
        seq: playing.seq,
        table: 'delivery_events',
        problem: `serverTs: entry ${playing.body.serverTs as number}, row ${(playing.body.serverTs as number) + 5000}`,
      });
    } finally {
      await sql(
        s,
        `UPDATE ${t} SET server_ts = server_ts - 5000 WHERE delivery_id = $1 AND to_state = 'playing'`,
        [x.playedDelivery],
      );
    }

    const e = table(s, 'evidence_entries');
    const [saved] = (await sql(s, `SELECT * FROM ${e} WHERE seq = $1`, [playing.seq])) as Record<
      string,
      unknown
    >[];
    await sql(s, `DELETE FROM ${e} WHERE seq = $1`, [playing.seq]);
    try {
      assertFirst(await verifyCli(s, env), {
        seq: playing.seq,
        table: 'evidence_entries',
        problem: `entry seq ${playing.seq} is missing`,
      });
    } finally {
      const columns = Object.keys(saved);
      await sql(
        s,
        `INSERT INTO ${e} (${columns.join(', ')}) VALUES (${columns.map((_, i) => ph(s, i + 1)).join(', ')})`,
        columns.map((k) => saved[k]),
      );
    }
    assert.equal((await verifyCli(s, env)).code, 0, 'restored');
  });

  it('serialises appends from concurrent transactions (as of several servers) with the advisory lock', async () => {
    const ds = s.server.app.get(DataSource);
    const chain = chainOf(s);
    const drafts = (n: number, tag: string): EvidenceDraft[] =>
      Array.from({ length: n }, (_, i) => ({
        at: Date.now(),
        kind: 'approval',
        broadcastId: x.played,
        subject: x.played,
        body: { tag, i },
      }));
    const before = (await chain.head())!.seq;
    // Each transaction reads the head, then holds its connection a moment before inserting: without
    // the lock both would take the same seqs and one would fail on the primary key.
    await Promise.all(
      ['a', 'b', 'c'].map((tag) =>
        ds.transaction(async (m) => {
          await chain.append(m, drafts(40, tag));
          await m.query('SELECT pg_sleep(0.05)');
        }),
      ),
    );
    const rows = (await sql(
      s,
      `SELECT seq, body FROM ${table(s, 'evidence_entries')} WHERE seq > $1 ORDER BY seq`,
      [before],
    )) as { seq: string; body: string }[];
    assert.equal(rows.length, 120);
    assert.deepEqual(
      rows.map((r) => Number(r.seq)),
      Array.from({ length: 120 }, (_, i) => before + 1 + i),
    );
    const tags = rows.map((r) => (JSON.parse(r.body) as { tag: string }).tag);
    for (let i = 0; i < 120; i += 40)
      assert.equal(new Set(tags.slice(i, i + 40)).size, 1, 'each transaction’s entries together');
    const ok = await verifyCli(s, env);
    assert.equal(ok.code, 0, JSON.stringify(ok.result.first));
  });
});
