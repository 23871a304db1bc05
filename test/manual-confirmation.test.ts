import assert from 'node:assert/strict';
import { describe, it, beforeAll, afterAll } from '@jest/globals';
import { parse } from 'csv-parse/sync';
import type { DeviceAgent } from '../devices/agent.js';
import {
  createBroadcast,
  DELIVERY_ENV,
  newClip,
  passDeadline,
  statusReached,
} from './support/broadcasts.js';
import { fixtures } from './support/fixtures.js';
import { mqttUrl, startAgentOnline } from './support/mqtt.js';
import { api, startTestServer, TestServer, tokenFor } from './support/server.js';

interface VillageCoverage {
  code: string;
  outcome: string;
  coveredBy: string | null;
  reason: string | null;
  manualAt: string | null;
  manualBy: string | null;
  manualMethod: string | null;
}

describe('manual confirmations that hold up', () => {
  let s: TestServer;
  let operator: string;
  let clip: { id: string };
  let fx: ReturnType<typeof fixtures>;
  let town: string;
  const agents: DeviceAgent[] = [];

  beforeAll(async () => {
    s = await startTestServer({ env: DELIVERY_ENV });
    operator = await tokenFor(s, 'operator');
    fx = fixtures(s.url, s.adminToken);
    town = (await fx.newTown()).code;
    clip = await newClip(s, 1);
  });
  afterAll(async () => {
    for (const a of agents) await a.stop();
    await s?.close();
  });

  const coverageOf = async (id: string) =>
    (await api(s.url, s.adminToken).get(`/api/broadcasts/${id}/coverage`).expect(200)).body as {
      summary: { covered: number; coveredManually: number };
      villages: VillageCoverage[];
    };
  const village = async (id: string, code: string) =>
    (await coverageOf(id)).villages.find((v) => v.code === code)!;

  it('refuses a confirmation without a method, with a bad time or an overlong note, before storing anything', async () => {
    const v = (await fx.newVillage(town)).code;
    await fx.newDevice(v, { type: 'speaker_cart' });
    const b = await createBroadcast(s, {
      title: '山洪预警',
      clipId: clip.id,
      level: 'II',
      target: { villages: [v] },
    });
    const post = (body: Record<string, unknown>) =>
      api(s.url, operator).post(`/api/broadcasts/${b.id}/confirmations`).send(body);
    const rule = async (body: Record<string, unknown>) => {
      const res = await post(body).expect(400);
      return (res.body.details as { field: string; rule: string }[]).map(
        (d) => `${d.field}:${d.rule}`,
      );
    };
    assert.deepEqual(await rule({ village: v }), ['method:isIn']);
    assert.deepEqual(await rule({ village: v, method: 'carrier_pigeon' }), ['method:isIn']);
    const future = new Date(Date.now() + 10 * 60_000).toISOString();
    assert.deepEqual(await rule({ village: v, method: 'phone', heardAt: future }), [
      'heardAt:notFuture',
    ]);
    const beforeStart = new Date(Date.parse(b.startAt as string) - 10 * 60_000).toISOString();
    assert.deepEqual(await rule({ village: v, method: 'phone', heardAt: beforeStart }), [
      'heardAt:notBeforeStart',
    ]);
    assert.deepEqual(await rule({ village: v, method: 'phone', note: 'x'.repeat(501) }), [
      'note:isFreeText',
    ]);
    assert.deepEqual(
      (await api(s.url, s.adminToken).get(`/api/broadcasts/${b.id}/confirmations`).expect(200))
        .body,
      [],
      'nothing stored',
    );
  });

  it('records who, how, when it was heard and a note; coverage, its CSV and the audit log show them', async () => {
    const v = (await fx.newVillage(town)).code;
    await fx.newDevice(v, { type: 'speaker_cart' });
    const b = await createBroadcast(s, {
      title: '防汛转移通知',
      clipId: clip.id,
      level: 'I',
      target: { villages: [v] },
    });
    const heardAt = new Date(Date.now() - 1000).toISOString();
    const res = await api(s.url, operator)
      .post(`/api/broadcasts/${b.id}/confirmations`)
      .send({
        village: v,
        method: 'speaker_cart',
        heardAt,
        by: '村干部 王某',
        note: '拉杆音箱在村口播放两遍',
      })
      .expect(201);
    assert.equal(res.body.method, 'speaker_cart');
    assert.equal(res.body.heardAt, heardAt);
    assert.equal(res.body.confirmedBy, '村干部 王某');
    assert.equal(res.body.recordedBy, 'test operator', 'the token that recorded it');
    assert.equal(res.body.withdrawn, null);

    const c = await village(b.id, v);
    assert.deepEqual(
      [c.outcome, c.coveredBy, c.manualAt, c.manualBy, c.manualMethod],
      ['covered', 'manual', heardAt, '村干部 王某', 'speaker_cart'],
    );
    const csv = await api(s.url, s.adminToken)
      .get(`/api/broadcasts/${b.id}/coverage?format=csv`)
      .expect(200);
    const [, table] = csv.text.slice(1).split('\r\n\r\n');
    const [header, row] = parse(table) as string[][];
    assert.equal(row[header.indexOf('人工确认方式')], '流动音箱');
    assert.equal(row[header.indexOf('人工确认人')], '村干部 王某');
    const en = await api(s.url, s.adminToken)
      .get(`/api/broadcasts/${b.id}/coverage?format=csv&lang=en`)
      .expect(200);
    const [enHeader, enRow] = parse(en.text.slice(1).split('\r\n\r\n')[1]) as string[][];
    assert.equal(enRow[enHeader.indexOf('manual_method')], 'speaker_cart');

    const audit = (
      await api(s.url, s.adminToken).get('/api/audit?action=confirmations').expect(200)
    ).body.items as { actor: string; subject: string; detail: { body: { method: string } } }[];
    const entry = audit.find((e) => e.subject === b.id);
    assert.equal(entry?.actor, 'test operator');
    assert.equal(entry?.detail.body.method, 'speaker_cart');
  });

  it('keeps a manual confirmation when a device confirms the village later', async () => {
    const v = (await fx.newVillage(town)).code;
    const device = await fx.newDevice(v);
    const b = await createBroadcast(s, {
      title: '暴雨橙色预警',
      clipId: clip.id,
      level: 'II',
      target: { villages: [v] },
    });
    await api(s.url, operator)
      .post(`/api/broadcasts/${b.id}/confirmations`)
      .send({ village: v, method: 'phone', by: '村支书' })
      .expect(201);
    assert.equal((await village(b.id, v)).coveredBy, 'manual');
    const completed = statusReached(s, () => b.id, 'completed');
    agents.push(await startAgentOnline(s, mqttUrl(s), device));
    await completed;
    const c = await village(b.id, v);
    assert.deepEqual(
      [c.outcome, c.coveredBy, c.manualBy, c.manualMethod],
      ['covered', 'devices', '村支书', 'phone'],
      'the device confirms it; the manual record stays beside it',
    );
    const list = (
      await api(s.url, s.adminToken).get(`/api/broadcasts/${b.id}/confirmations`).expect(200)
    ).body as { method: string; withdrawn: unknown }[];
    assert.deepEqual(
      list.map((x) => [x.method, x.withdrawn]),
      [['phone', null]],
    );
  });

  it('lets only an admin withdraw one, with a reason, audited; coverage and outcome go back to the devices', async () => {
    const v = (await fx.newVillage(town)).code;
    await fx.newDevice(v, { type: 'speaker_cart' });
    const b = await createBroadcast(s, {
      title: '短时演练',
      clipId: clip.id,
      level: 'IV',
      target: { villages: [v] },
      expiresAt: new Date(Date.now() + 1500).toISOString(),
    });
    const ended = statusReached(s, () => b.id, 'completed');
    await passDeadline(s, b);
    await ended;
    const outcome = async () =>
      (await api(s.url, s.adminToken).get(`/api/broadcasts/${b.id}`).expect(200)).body.outcome;
    assert.equal(await outcome(), 'failed', 'its only device was never online');
    const made = await api(s.url, operator)
      .post(`/api/broadcasts/${b.id}/confirmations`)
      .send({ village: v, method: 'door_to_door', by: '网格员 李某' })
      .expect(201);
    assert.equal(await outcome(), 'completed', 'the village counts as covered by hand');

    const path = `/api/broadcasts/${b.id}/confirmations/${made.body.id}/withdraw`;
    await api(s.url, operator).post(path).send({ reason: '核实未播' }).expect(403);
    const noReason = await api(s.url, s.adminToken).post(path).send({}).expect(400);
    assert.equal(noReason.body.details[0].field, 'reason');
    await api(s.url, s.adminToken).post(path).send({ reason: '  ' }).expect(400);
    await api(s.url, s.adminToken)
      .post(`/api/broadcasts/${b.id}/confirmations/00000000-0000-4000-8000-000000000000/withdraw`)
      .send({ reason: '核实未播' })
      .expect(404);
    const withdrawn = await api(s.url, s.adminToken)
      .post(path)
      .send({ reason: '回访核实：该村未收到通知' })
      .expect(200);
    assert.equal(withdrawn.body.withdrawn.reason, '回访核实：该村未收到通知');
    assert.ok(withdrawn.body.withdrawn.by.length > 0);
    assert.equal(withdrawn.body.confirmedBy, '网格员 李某', 'the record stays whole');
    const again = await api(s.url, s.adminToken).post(path).send({ reason: '再次' }).expect(409);
    assert.equal(again.body.error, 'CONFIRMATION_WITHDRAWN');

    const c = await village(b.id, v);
    assert.deepEqual(
      [c.outcome, c.coveredBy, c.manualAt, c.manualBy],
      ['uncovered', null, null, null],
      'coverage is what the devices confirmed again',
    );
    assert.equal(await outcome(), 'failed', 'and so is the outcome');
    const list = (
      await api(s.url, s.adminToken).get(`/api/broadcasts/${b.id}/confirmations`).expect(200)
    ).body as { id: string; withdrawn: { reason: string } | null }[];
    assert.equal(list.length, 1, 'withdrawn, not deleted');
    assert.equal(list[0].withdrawn?.reason, '回访核实：该村未收到通知');
    const report = (
      await api(s.url, s.adminToken)
        .get(`/api/reports/coverage?from=${new Date(Date.now() - 3_600_000).toISOString()}`)
        .expect(200)
    ).body as { broadcasts: { items: { id: string; coveredManually: number }[] } };
    assert.equal(
      report.broadcasts.items.find((x) => x.id === b.id)?.coveredManually,
      0,
      'the period report counts it no more',
    );
    const audit = (await api(s.url, s.adminToken).get('/api/audit?action=withdraw').expect(200))
      .body.items as { actor: string; subject: string; detail: { body: { reason: string } } }[];
    assert.equal(audit.length, 1);
    assert.equal(audit[0].subject, `${b.id}/${made.body.id}`);
    assert.equal(audit[0].detail.body.reason, '回访核实：该村未收到通知');
  });

  it('refuses to confirm a village for a cancelled broadcast', async () => {
    const v = (await fx.newVillage(town)).code;
    await fx.newDevice(v, { type: 'speaker_cart' });
    const b = await createBroadcast(s, {
      title: '误发',
      clipId: clip.id,
      level: 'III',
      target: { villages: [v] },
    });
    await api(s.url, operator)
      .post(`/api/broadcasts/${b.id}/cancel`)
      .send({ reason: '误发' })
      .expect(200);
    const res = await api(s.url, operator)
      .post(`/api/broadcasts/${b.id}/confirmations`)
      .send({ village: v, method: 'phone' })
      .expect(409);
    assert.equal(res.body.error, 'BROADCAST_CANCELLED');
  });
});
