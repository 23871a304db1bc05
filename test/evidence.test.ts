import assert from 'node:assert/strict';
import { describe, it, beforeAll, afterAll } from '@jest/globals';
import { parse } from 'csv-parse/sync';
import type { DeviceAgent } from '../devices/agent.js';
import { deliveryReached } from './support/broadcasts.js';
import { runCli } from './support/cli.js';
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
import { mqttUrl, startAgentOnline } from './support/mqtt.js';
import { api, startTestServer, TestServer } from './support/server.js';

describe('the evidence chain on SQLite: verify passes, then catches each tampered row', () => {
  let s: TestServer;
  let x: EvidenceScenario;
  const agents: DeviceAgent[] = [];
  const env = {};

  beforeAll(async () => {
    s = await startTestServer({ env: DELIVERY_ENV });
    x = await evidenceScenario(s);
    agents.push(...x.agents);
  });
  afterAll(async () => {
    await Promise.all(agents.map((a) => a.stop()));
    await s?.close();
  });

  it('appends every delivery event, the confirmation and the cancel, and verify passes', async () => {
    const played = await entriesOf(s, x.playedDelivery);
    assert.deepEqual(
      played.map((e) => [e.kind, e.body.fromState, e.body.toState]),
      [
        ['delivery_event', 'pending', 'sent'],
        ['delivery_event', 'sent', 'received'],
        ['delivery_event', 'received', 'downloading'],
        ['delivery_event', 'downloading', 'ready'],
        ['delivery_event', 'ready', 'playing'],
        ['delivery_event', 'playing', 'played'],
      ],
    );
    assert.equal((await entriesOf(s, x.confirmation))[0].body.confirmedBy, '村支书');
    const cancel = await entriesOf(s, x.cancelled);
    assert.deepEqual(
      cancel.map((e) => [e.kind, e.body.endReason]),
      [['cancel', '测试中止']],
    );
    assert.deepEqual(
      (await entriesOf(s, x.cancelledDelivery)).map((e) => e.body.toState),
      ['cancelled'],
    );
    const ok = await verifyCli(s, env);
    assert.equal(ok.code, 0, JSON.stringify(ok.result.first));
    const head = await chainOf(s).head();
    assert.deepEqual(ok.result.head, head);
    assert.equal(ok.result.entries, head!.seq);
    assert.equal(ok.result.mismatches, 0);
    const text = await runCli(['evidence', 'verify'], { DATA_DIR: s.dataDir, MQTT_PORT: '0' });
    assert.equal(text.code, 0);
    assert.match(
      text.stdout,
      new RegExp(
        `Evidence verified: ${head!.seq} entries recomputed.*head seq ${head!.seq} ${head!.hash}`,
      ),
    );
  });

  it('coverage, its CSV and the period report carry the head; the head moves with a new event', async () => {
    const viewer = api(s.url, s.adminToken);
    const before = await chainOf(s).headOf(x.played);
    const c = (await viewer.get(`/api/broadcasts/${x.played}/coverage`).expect(200)).body;
    assert.deepEqual(c.evidence, before);
    const csv = (
      await viewer.get(`/api/broadcasts/${x.played}/coverage?format=csv&lang=en`).expect(200)
    ).text;
    const meta = new Map(
      (parse(csv.replace(/^\uFEFF/, '').split('\r\n\r\n')[0]) as string[][]).map(([k, v]) => [
        k,
        v,
      ]),
    );
    assert.equal(meta.get('evidence_chain'), `seq ${before!.seq} sha256 ${before!.hash}`);
    const report = (await viewer.get('/api/reports/coverage').expect(200)).body;
    assert.deepEqual(report.evidence, await chainOf(s).head());

    // The offline device comes online and plays: its events move the broadcast's head.
    const playedNow = deliveryReached(s, () => x.played, x.offlineDevice.id, 'played');
    agents.push(await startAgentOnline(s, mqttUrl(s), x.offlineDevice, { speed: 0 }));
    await playedNow;
    const after = (await viewer.get(`/api/broadcasts/${x.played}/coverage`).expect(200)).body;
    assert.ok(after.evidence.seq > before!.seq, 'the head moved');
    assert.deepEqual(after.evidence, await chainOf(s).headOf(x.played));
    assert.equal((await entriesOf(s, x.waitingDelivery)).at(-1)!.body.toState, 'played');
    assert.equal((await verifyCli(s, env)).code, 0);
  });

  it('catches UPDATE deliveries SET state = played, naming the delivery’s last entry', async () => {
    const last = (await entriesOf(s, x.cancelledDelivery)).at(-1)!;
    await sql(s, `UPDATE ${table(s, 'deliveries')} SET state = 'played' WHERE id = ${ph(s, 1)}`, [
      x.cancelledDelivery,
    ]);
    try {
      assertFirst(await verifyCli(s, env), {
        seq: last.seq,
        table: 'deliveries',
        rowId: x.cancelledDelivery,
        problem: `is 'played' but its last entry \\(seq ${last.seq}\\) says 'cancelled'`,
      });
      // The one broadcast's check finds it too.
      assertFirst(await verifyCli(s, env, ['--broadcast', x.cancelled]), {
        seq: last.seq,
        table: 'deliveries',
      });
    } finally {
      await sql(
        s,
        `UPDATE ${table(s, 'deliveries')} SET state = 'cancelled' WHERE id = ${ph(s, 1)}`,
        [x.cancelledDelivery],
      );
    }
    assert.equal((await verifyCli(s, env)).code, 0, 'restored');
  });

  /** The delivery_events row of the played delivery's `received`, and its entry. */
  const receivedEvent = async () => {
    const [row] = (await sql(
      s,
      `SELECT * FROM ${table(s, 'delivery_events')} WHERE delivery_id = ${ph(s, 1)} AND to_state = 'received'`,
      [x.playedDelivery],
    )) as Record<string, unknown>[];
    const entry = (await entriesOf(s, x.playedDelivery)).find(
      (e) => e.body.toState === 'received',
    )!;
    return { row, entry };
  };

  it('catches a deleted delivery event, naming its entry', async () => {
    const { row, entry } = await receivedEvent();
    await sql(s, `DELETE FROM ${table(s, 'delivery_events')} WHERE id = ${ph(s, 1)}`, [row.id]);
    try {
      assertFirst(await verifyCli(s, env), {
        seq: entry.seq,
        table: 'delivery_events',
        problem: `entry seq ${entry.seq} proves a delivery_events row of delivery ${x.playedDelivery} that is not there`,
      });
    } finally {
      const columns = Object.keys(row);
      await sql(
        s,
        `INSERT INTO ${table(s, 'delivery_events')} (${columns.join(', ')}) VALUES (${columns.map((_, i) => ph(s, i + 1)).join(', ')})`,
        columns.map((k) => row[k]),
      );
    }
    assert.equal((await verifyCli(s, env)).code, 0, 'restored');
  });

  it('catches a changed time (server_ts), naming the entry and the field', async () => {
    const { row, entry } = await receivedEvent();
    await sql(
      s,
      `UPDATE ${table(s, 'delivery_events')} SET server_ts = server_ts - 60000 WHERE id = ${ph(s, 1)}`,
      [row.id],
    );
    try {
      assertFirst(await verifyCli(s, env), {
        seq: entry.seq,
        table: 'delivery_events',
        rowId: String(row.id),
        problem: `differs from entry seq ${entry.seq}: serverTs: entry ${Number(row.server_ts)}, row ${Number(row.server_ts) - 60000}$`,
      });
    } finally {
      await sql(
        s,
        `UPDATE ${table(s, 'delivery_events')} SET server_ts = ${ph(s, 1)} WHERE id = ${ph(s, 2)}`,
        [row.server_ts, row.id],
      );
    }
    assert.equal((await verifyCli(s, env)).code, 0, 'restored');
  });

  it('catches a changed manual confirmation', async () => {
    const [entry] = await entriesOf(s, x.confirmation);
    await sql(
      s,
      `UPDATE ${table(s, 'manual_confirmations')} SET confirmed_by = '镇长' WHERE id = ${ph(s, 1)}`,
      [x.confirmation],
    );
    try {
      assertFirst(await verifyCli(s, env), {
        seq: entry.seq,
        table: 'manual_confirmations',
        rowId: x.confirmation,
        problem: 'confirmedBy: entry "村支书", row "镇长"',
      });
    } finally {
      await sql(
        s,
        `UPDATE ${table(s, 'manual_confirmations')} SET confirmed_by = '村支书' WHERE id = ${ph(s, 1)}`,
        [x.confirmation],
      );
    }
  });

  it('catches an entry whose hash was edited, and one deleted from the middle', async () => {
    const middle = (await entriesOf(s, x.playedDelivery))[2];
    const t = table(s, 'evidence_entries');
    await sql(s, `UPDATE ${t} SET hash = ${ph(s, 1)} WHERE seq = ${ph(s, 2)}`, [
      'f'.repeat(64),
      middle.seq,
    ]);
    try {
      assertFirst(await verifyCli(s, env), {
        seq: middle.seq,
        table: 'evidence_entries',
        problem: `entry seq ${middle.seq}: its hash f{64} does not recompute`,
      });
    } finally {
      await sql(s, `UPDATE ${t} SET hash = ${ph(s, 1)} WHERE seq = ${ph(s, 2)}`, [
        middle.hash,
        middle.seq,
      ]);
    }
    assert.equal((await verifyCli(s, env)).code, 0, 'restored');

    const [saved] = (await sql(s, `SELECT * FROM ${t} WHERE seq = ${ph(s, 1)}`, [
      middle.seq,
    ])) as Record<string, unknown>[];
    await sql(s, `DELETE FROM ${t} WHERE seq = ${ph(s, 1)}`, [middle.seq]);
    try {
      assertFirst(await verifyCli(s, env), {
        seq: middle.seq,
        table: 'evidence_entries',
        problem: `entry seq ${middle.seq} is missing: seq ${middle.seq - 1} is followed by seq ${middle.seq + 1}`,
      });
    } finally {
      const columns = Object.keys(saved);
      await sql(
        s,
        `INSERT INTO ${t} (${columns.join(', ')}) VALUES (${columns.map((_, i) => ph(s, i + 1)).join(', ')})`,
        columns.map((k) => saved[k]),
      );
    }
    assert.equal((await verifyCli(s, env)).code, 0, 'restored');
  });

  it('checks a period (--from/--to) and refuses bad flags with exit 2', async () => {
    const head = (await chainOf(s).head())!;
    const inPeriod = await verifyCli(s, env, [
      '--from',
      new Date(Date.now() - 3_600_000).toISOString(),
      '--to',
      new Date(Date.now() + 3_600_000).toISOString(),
    ]);
    assert.equal(inPeriod.code, 0, JSON.stringify(inPeriod.result.first));
    assert.equal(inPeriod.result.entries, head.seq);
    const none = await verifyCli(s, env, [
      '--from',
      '2020-01-01T00:00:00Z',
      '--to',
      '2020-01-02T00:00:00Z',
    ]);
    assert.deepEqual([none.code, none.result.entries, none.result.broadcasts], [0, 0, 0]);
    const unknown = await runCli(['evidence', 'verify', '--broadcast', 'no-such-id'], {
      DATA_DIR: s.dataDir,
      MQTT_PORT: '0',
    });
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /no-such-id: no such broadcast/);
    for (const args of [
      ['--from', 'yesterday'],
      ['--from', '2026-12-02T00:00:00Z', '--to', '2026-12-01T00:00:00Z'],
      ['--broadcast'],
      ['--frm', 'x'],
      ['extra'],
    ]) {
      const bad = await runCli(['evidence', 'verify', ...args], { DATA_DIR: s.dataDir });
      assert.equal(bad.code, 2, `${args.join(' ')}: ${bad.stderr}`);
      assert.match(bad.stderr, /Usage: npm run cli/);
    }
  });
});
