import assert from 'node:assert/strict';
import { describe, it, beforeAll, afterAll } from '@jest/globals';
import { parse } from 'csv-parse/sync';
import type { MqttClient } from 'mqtt';
import { DeviceAgent } from '../devices/agent.js';
import { BroadcastFactsRepository } from '../src/broadcasts/broadcast-facts.repository.js';
import { BroadcastHistoryRepository } from '../src/broadcasts/broadcast-history.repository.js';
import { In } from 'typeorm';
import { DeviceEntity } from '../src/devices/device.entity.js';
import { PresenceIntervalEntity } from '../src/devices/presence.entity.js';
import { PresenceService } from '../src/devices/presence.service.js';
import { WriteQueue } from '../src/database/write-queue.js';
import {
  createBroadcast,
  DELIVERY_ENV,
  deliveryReached,
  newClip,
  passDeadline,
  statusReached,
} from './support/broadcasts.js';
import { seedBigBroadcast, sqlitePlan } from './support/coverage.js';
import { fixtures } from './support/fixtures.js';
import { mqttUrl, scriptedDevice, startAgentOnline } from './support/mqtt.js';
import { api, startTestServer, TestServer, tokenFor } from './support/server.js';

interface VillageRow {
  code: string;
  outcome: string;
  coveredBy: string | null;
  reason: string | null;
  failures: { reason: string; devices: number }[];
  devices: number;
  played: number;
  firstSoundAt: string | null;
  playedAt: string | null;
}

/** A CSV report split into its `label,value` preamble and its table (header + rows). */
function readCsvReport(text: string): {
  bom: boolean;
  meta: Map<string, string>;
  header: string[];
  rows: string[][];
} {
  const bom = text.startsWith('\uFEFF');
  const [head, table] = text.replace(/^\uFEFF/, '').split('\r\n\r\n');
  const meta = new Map((parse(head) as string[][]).map(([k, v]) => [k, v]));
  const [header, ...rows] = parse(table) as string[][];
  return { bom, meta, header, rows };
}

describe('coverage of one broadcast, hand-built', () => {
  let s: TestServer;
  const agents: DeviceAgent[] = [];
  const raws: MqttClient[] = [];
  const v: Record<string, string> = {};
  let broadcastId = '';
  let viewer = '';

  beforeAll(async () => {
    s = await startTestServer({ env: DELIVERY_ENV });
    viewer = await tokenFor(s, 'viewer');
    const fx = fixtures(s.url, s.adminToken);
    const townA = await fx.newTown({ name: '甲镇' });
    const townB = await fx.newTown({ name: '乙镇' });
    for (const name of ['a1', 'a2', 'a3', 'a4']) v[name] = (await fx.newVillage(townA.code)).code;
    for (const name of ['b1', 'b2', 'b3', 'b4']) v[name] = (await fx.newVillage(townB.code)).code;
    const dev = (village: string, type = 'village_loudspeaker') =>
      fx.newDevice(v[village], { type });
    const agent = async (device: { id: string; secret: string }, options = {}) => {
      const a = await startAgentOnline(s, mqttUrl(s), device, { speed: 0, ...options });
      agents.push(a);
    };
    const a1speaker = await dev('a1');
    const a1pa = await dev('a1', 'flood_pa');
    const a2 = await dev('a2');
    await dev('a3'); // never comes online
    await dev('b1'); // never comes online; staff confirm by hand
    const b2 = await dev('b2');
    const b3 = await dev('b3');
    const b4 = await dev('b4');
    await agent(a1speaker);
    await agent(a1pa, { deviceType: 'flood_pa' });
    await agent(a2, { faults: { failDownloads: 1 } });
    await agent(b4, { faults: { rejectCodec: true } });
    raws.push(await scriptedDevice(s, b2, ['received', 'playing'])); // cut off while playing
    raws.push(await scriptedDevice(s, b3, ['received'])); // stuck before downloading

    const clip = await newClip(s, 1);
    const waits = [
      deliveryReached(s, () => broadcastId, a1speaker.id, 'played'),
      deliveryReached(s, () => broadcastId, a1pa.id, 'played'),
      deliveryReached(s, () => broadcastId, a2.id, 'failed'),
      deliveryReached(s, () => broadcastId, b4.id, 'rejected'),
      deliveryReached(s, () => broadcastId, b2.id, 'playing'),
      deliveryReached(s, () => broadcastId, b3.id, 'received'),
    ];
    broadcastId = (
      await createBroadcast(s, {
        title: '堤坝巡查通知',
        clipId: clip.id,
        level: 'III',
        target: { towns: [townA.code, townB.code] },
        expiresAt: new Date(Date.now() + 8000).toISOString(),
      })
    ).id;
    await Promise.all(waits);
  });
  afterAll(async () => {
    for (const r of raws) r.end(true);
    await Promise.all(agents.map((a) => a.stop()));
    await s.close();
  });

  const coverage = async (query = '') =>
    (await api(s.url, viewer).get(`/api/broadcasts/${broadcastId}/coverage${query}`).expect(200))
      .body;
  const byCode = (villages: VillageRow[]) => new Map(villages.map((r) => [r.code, r]));

  it('names covered, partial and each uncovered reason while the broadcast is open', async () => {
    const c = await coverage();
    const rows = byCode(c.villages);
    const got = (name: string) => {
      const r = rows.get(v[name])!;
      return [r.outcome, r.coveredBy, r.reason];
    };
    assert.deepEqual(got('a1'), ['covered', 'devices', null]);
    assert.deepEqual(got('a2'), ['uncovered', null, 'failed']);
    assert.deepEqual(got('a3'), ['uncovered', null, 'all_offline']);
    assert.deepEqual(got('a4'), ['uncovered', null, 'no_device']);
    assert.deepEqual(got('b1'), ['uncovered', null, 'all_offline']);
    assert.deepEqual(got('b2'), ['partial', null, null]);
    assert.deepEqual(got('b3'), ['uncovered', null, 'pending']);
    assert.deepEqual(got('b4'), ['uncovered', null, 'failed']);
    assert.match(rows.get(v.a2)!.failures[0].reason, /download/i);
    assert.equal(rows.get(v.a2)!.failures[0].devices, 1);
    assert.equal(rows.get(v.b4)!.failures.length, 1);
    assert.deepEqual([rows.get(v.a1)!.devices, rows.get(v.a1)!.played], [2, 2]);
    assert.ok(rows.get(v.a1)!.firstSoundAt! <= rows.get(v.a1)!.playedAt!);
    assert.ok(rows.get(v.b2)!.firstSoundAt, 'b2 sounded, and was cut off');
    assert.equal(rows.get(v.b2)!.playedAt, null);
    assert.deepEqual(
      { ...c.summary, uncoveredByReason: undefined },
      {
        targeted: 8,
        covered: 1,
        coveredByDevices: 1,
        coveredManually: 0,
        partial: 1,
        uncovered: 6,
        rate: 1 / 8,
        uncoveredByReason: undefined,
      },
    );
    assert.deepEqual(c.summary.uncoveredByReason, {
      no_device: 1,
      failed: 2,
      all_offline: 2,
      quiet_hours: 0,
      pending: 1,
      expired: 0,
      cancelled: 0,
    });
    assert.deepEqual(c.deliveries, {
      total: 8,
      played: 2,
      failed: 1,
      rejected: 1,
      pending: 2,
      playing: 1,
      received: 1,
    });
    assert.deepEqual(
      c.byType.map((t: { type: string; devices: number; played: number; villages: number }) => [
        t.type,
        t.devices,
        t.played,
        t.villages,
      ]),
      [
        ['village_loudspeaker', 7, 1, 7],
        ['flood_pa', 1, 1, 1],
      ],
    );
    assert.deepEqual(
      c.byTown.map(
        (t: { townName: string; targeted: number; covered: number; partial: number }) => [
          t.townName,
          t.targeted,
          t.covered,
          t.partial,
        ],
      ),
      [
        ['甲镇', 4, 1, 0],
        ['乙镇', 4, 0, 1],
      ],
    );
    // Two of eight villages have sounded and one has played: 50% (4 villages) is not reached yet.
    const reached = (m: { share: number; villages: number; afterMs: number | null }) => [
      m.share,
      m.villages,
      m.afterMs,
    ];
    const none = [
      [0.5, 4, null],
      [0.9, 8, null],
      [1, 8, null],
    ];
    assert.deepEqual(c.milestones.firstSound.map(reached), none);
    assert.deepEqual(c.milestones.played.map(reached), none);
    const onlyUncovered = await coverage('?outcome=uncovered');
    assert.equal(onlyUncovered.villages.length, 6);
    assert.equal(onlyUncovered.summary.targeted, 8, 'the filter narrows the list, not the figures');
  });

  it('counts a manual confirmation apart from the devices’ own', async () => {
    await api(s.url, s.adminToken)
      .post(`/api/broadcasts/${broadcastId}/confirmations`)
      .send({ village: v.b1, method: 'phone', note: '村干部电话确认已用手持喇叭播报' })
      .expect(201);
    const c = await coverage();
    const b1 = byCode(c.villages).get(v.b1)!;
    assert.deepEqual([b1.outcome, b1.coveredBy, b1.reason], ['covered', 'manual', null]);
    assert.equal(c.summary.covered, 2);
    assert.equal(c.summary.coveredByDevices, 1);
    assert.equal(c.summary.coveredManually, 1);
    assert.equal(c.byTown[1].coveredManually, 1);
  });

  it('exports the coverage as CSV: BOM, Chinese headers by default, English on request', async () => {
    const zh = await api(s.url, viewer)
      .get(`/api/broadcasts/${broadcastId}/coverage?format=csv`)
      .expect(200)
      .expect('Content-Type', /text\/csv/)
      .expect('Content-Disposition', new RegExp(`coverage-${broadcastId}\\.csv`));
    const r = readCsvReport(zh.text);
    assert.ok(r.bom, 'starts with a UTF-8 BOM');
    assert.equal(r.meta.get('报表'), '广播覆盖情况');
    assert.equal(r.meta.get('广播'), '堤坝巡查通知');
    assert.ok(r.meta.get('生成时间')?.match(/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/));
    assert.equal(r.meta.get('时区'), 'Asia/Shanghai');
    assert.equal(r.meta.get('覆盖率'), '25.0%');
    assert.deepEqual(r.header.slice(0, 7), [
      '镇（街道）编码',
      '镇（街道）',
      '村编码',
      '村名',
      '结果',
      '确认方式',
      '未覆盖原因',
    ]);
    assert.equal(r.rows.length, 8);
    const a2 = r.rows.find((row) => row[2] === v.a2)!;
    assert.deepEqual(a2.slice(4, 7), ['未覆盖', '', '播放失败']);
    const b1 = r.rows.find((row) => row[2] === v.b1)!;
    assert.deepEqual(b1.slice(4, 6), ['已覆盖', '人工确认']);

    const en = readCsvReport(
      (
        await api(s.url, viewer)
          .get(`/api/broadcasts/${broadcastId}/coverage?format=csv&lang=en`)
          .expect(200)
      ).text,
    );
    assert.equal(en.header[0], 'town_code');
    assert.equal(en.meta.get('coverage_rate'), '25.0%');
    assert.deepEqual(en.rows.find((row) => row[2] === v.a3)!.slice(4, 7), [
      'uncovered',
      '',
      'all_offline',
    ]);
  });

  it('answers bad requests with 400 and unknown broadcasts with 404', async () => {
    const bad = await api(s.url, viewer)
      .get(`/api/broadcasts/${broadcastId}/coverage?format=xml`)
      .expect(400);
    assert.equal(bad.body.details[0].field, 'format');
    await api(s.url, viewer).get(`/api/broadcasts/${broadcastId}/coverage?lang=fr`).expect(400);
    await api(s.url, viewer).get(`/api/broadcasts/${broadcastId}/coverage?outcome=x`).expect(400);
    await api(s.url, viewer).get('/api/broadcasts/not-a-uuid/coverage').expect(400);
    await api(s.url, viewer)
      .get('/api/broadcasts/00000000-0000-4000-8000-000000000000/coverage')
      .expect(404);
    await api(s.url).get(`/api/broadcasts/${broadcastId}/coverage`).expect(401);
  });

  it('after expiry: the never-reached village is offline, the stuck and the cut-off ones expired, and the broadcast partially completed', async () => {
    const completed = statusReached(s, () => broadcastId, 'completed');
    const b = (await api(s.url, viewer).get(`/api/broadcasts/${broadcastId}`).expect(200)).body;
    assert.equal(b.status, 'active', 'open until its deadline, however long the tests above took');
    await passDeadline(s, b);
    await completed;
    const c = await coverage();
    const rows = byCode(c.villages);
    const got = (name: string) => [rows.get(v[name])!.outcome, rows.get(v[name])!.reason];
    assert.deepEqual(got('a3'), ['uncovered', 'all_offline']);
    // It began playing and never finished: once its delivery ended, that is not "partial".
    assert.deepEqual(got('b2'), ['uncovered', 'expired']);
    assert.deepEqual(got('b3'), ['uncovered', 'expired']);
    assert.deepEqual(got('b1'), ['covered', null]);
    assert.equal(c.summary.partial, 0);
    assert.equal(c.summary.uncoveredByReason.expired, 2);
    assert.equal(c.broadcast.status, 'completed');
    assert.equal(c.broadcast.outcome, 'partially_completed');
    assert.equal(c.deliveries.expired, 4);
  });

  it('reports the period: levels, mean and worst, villages below the threshold, usage', async () => {
    const today = new Date().toISOString().slice(0, 10);
    const yesterday = new Date(Date.now() - 86_400_000).toISOString().slice(0, 10);
    const tomorrow = new Date(Date.now() + 86_400_000).toISOString().slice(0, 10);
    const r = (
      await api(s.url, viewer)
        .get(`/api/reports/coverage?from=${yesterday}&to=${tomorrow}&threshold=0.5`)
        .expect(200)
    ).body;
    assert.equal(r.timeZone, 'Asia/Shanghai');
    assert.equal(r.threshold, 0.5);
    assert.equal(r.broadcasts.total, 1);
    assert.equal(r.broadcasts.byLevel.III, 1);
    assert.equal(r.coverage.mean, 2 / 8);
    assert.equal(r.coverage.worst.id, broadcastId);
    const villages = new Map(r.villages.map((x: { code: string }) => [x.code, x])) as Map<
      string,
      { rate: number | null; used: boolean; availability: number | null; belowThreshold: boolean }
    >;
    assert.equal(villages.size, 8);
    assert.equal(villages.get(v.a1)!.rate, 1);
    assert.equal(villages.get(v.b1)!.rate, 1);
    assert.equal(villages.get(v.a2)!.rate, 0);
    assert.equal(villages.get(v.a2)!.belowThreshold, true);
    assert.equal(r.belowThreshold.length, 6);
    assert.deepEqual(r.usage, { villages: 8, used: 1, rate: 1 / 8 });
    assert.ok(villages.get(v.a1)!.availability! > 0 && villages.get(v.a1)!.availability! <= 1);
    assert.equal(villages.get(v.a3)!.availability, 0, 'a device never online');
    assert.equal(villages.get(v.a4)!.availability, null, 'no devices');

    const csv = readCsvReport(
      (
        await api(s.url, viewer)
          .get(`/api/reports/coverage?from=${today}&to=${today}&format=csv`)
          .expect(200)
          .expect('Content-Type', /text\/csv/)
      ).text,
    );
    assert.ok(csv.bom);
    assert.match(csv.meta.get('统计开始')!, /^\d{4}-\d{2}-\d{2} 00:00:00$/);
    assert.match(csv.meta.get('统计截止')!, /^\d{4}-\d{2}-\d{2} 00:00:00$/);
    assert.ok(csv.meta.has('生成时间'));
    assert.equal(csv.header[7], '静默时段未播');
    assert.equal(csv.header[8], '覆盖率');
    assert.equal(csv.rows.length, 8);
    const broadcasts = readCsvReport(
      (
        await api(s.url, viewer)
          .get(
            `/api/reports/coverage?from=${yesterday}&to=${tomorrow}&format=csv&table=broadcasts&lang=en`,
          )
          .expect(200)
      ).text,
    );
    assert.equal(broadcasts.header[0], 'broadcast_id');
    const column = (name: string) => broadcasts.header.indexOf(name);
    assert.deepEqual(
      broadcasts.rows.map((row) => [
        row[0],
        row[column('outcome')],
        row[column('coverage_rate')],
        row[column('first_sound_p50_s')],
      ]),
      [[broadcastId, 'partially_completed', '25.0%', '']],
    );
  });

  it('lists what came of the latest broadcasts in one village', async () => {
    const history = (
      await api(s.url, viewer).get(`/api/villages/${v.a2}/coverage?limit=5`).expect(200)
    ).body;
    assert.equal(history.length, 1);
    assert.deepEqual(
      [history[0].id, history[0].outcome, history[0].reason, history[0].devices],
      [broadcastId, 'uncovered', 'failed', 1],
    );
    await api(s.url, viewer).get('/api/villages/999999999999/coverage').expect(404);
    await api(s.url, viewer).get('/api/villages/12/coverage').expect(400);
    await api(s.url, viewer).get(`/api/villages/${v.a2}/coverage?limit=0`).expect(400);
  });

  it('previews how many villages and devices a target reaches (operators)', async () => {
    const townA = v.a1.slice(0, 9);
    const townB = v.b1.slice(0, 9);
    const preview = (
      await api(s.url, s.adminToken)
        .post('/api/broadcasts/target-preview')
        .send({ towns: [townA, townB] })
        .expect(200)
    ).body;
    assert.deepEqual(preview, {
      villages: 8,
      devices: 8,
      byType: { village_loudspeaker: 7, flood_pa: 1 },
      online: 6,
    });
    const pa = (
      await api(s.url, s.adminToken)
        .post('/api/broadcasts/target-preview')
        .send({ towns: [townA], deviceTypes: ['flood_pa'] })
        .expect(200)
    ).body;
    assert.deepEqual([pa.villages, pa.devices], [1, 1]);
    await api(s.url, viewer).post('/api/broadcasts/target-preview').send({ all: true }).expect(403);
    const empty = await api(s.url, s.adminToken)
      .post('/api/broadcasts/target-preview')
      .send({})
      .expect(400);
    assert.equal(empty.body.details[0].field, 'target');
    await api(s.url, s.adminToken)
      .post('/api/broadcasts/target-preview')
      .send({ villages: ['999999999999'] })
      .expect(400);
  });

  it('refuses report periods that make no sense', async () => {
    const field = async (query: string) =>
      (await api(s.url, viewer).get(`/api/reports/coverage?${query}`).expect(400)).body.details[0]
        .field;
    assert.equal(await field('from=yesterday'), 'from');
    assert.equal(await field('to=2026-02-30'), 'to');
    assert.equal(await field('from=2026-11-01T00:00:00'), 'from', 'an instant needs a zone');
    assert.equal(await field('from=2026-11-02&to=2026-11-01'), 'from');
    assert.equal(await field('from=2024-01-01&to=2026-01-01'), 'to');
    assert.equal(await field('threshold=1.5'), 'threshold');
    assert.equal(await field('table=devices'), 'table');
  });
});

describe('availability from the presence history', () => {
  const H = 3_600_000;
  const t0 = Date.now() - 10 * H;
  let s: TestServer;
  beforeAll(async () => (s = await startTestServer()));
  afterAll(() => s.close());

  /** A new village with `n` devices, and its line of the report over [t0, t0 + 8 h). */
  const village = async (n: number) => {
    const fx = fixtures(s.url, s.adminToken);
    const code = (await fx.newVillage((await fx.newTown()).code)).code;
    const devices = [];
    for (let i = 0; i < n; i++) devices.push(await fx.newDevice(code));
    const line = async () =>
      (
        await api(s.url, s.adminToken)
          .get(
            `/api/reports/coverage?from=${new Date(t0).toISOString()}&to=${new Date(t0 + 8 * H).toISOString()}`,
          )
          .expect(200)
      ).body.villages.find((v: { code: string }) => v.code === code);
    return { devices, line };
  };

  it('sums each device’s online time inside the period, an open interval up to now', async () => {
    const {
      devices: [d1, d2],
      line,
    } = await village(2);
    await s.server.app.get(WriteQueue).run(async (m) => {
      // Registered long before the period: the whole period counts for both.
      await m.update(DeviceEntity, { id: In([d1.id, d2.id]) }, { createdAt: t0 - 24 * H });
      await m.insert(PresenceIntervalEntity, [
        // Starts before the period: only the part inside counts (1 h).
        { deviceId: d1.id, startedAt: t0 - 2 * H, endedAt: t0 + H, endReason: 'offline' },
        { deviceId: d1.id, startedAt: t0 + 2 * H, endedAt: t0 + 4 * H, endReason: 'timeout' },
        // Ended before the period: nothing.
        { deviceId: d2.id, startedAt: t0 - 5 * H, endedAt: t0 - 4 * H, endReason: 'offline' },
        // Still open: counts until now (6 h of the period so far... up to `to`).
        { deviceId: d2.id, startedAt: t0 + 5 * H, endedAt: null, endReason: null },
      ]);
    });
    const online = await s.server.app.get(PresenceService).onlineMsBetween(t0, t0 + 8 * H);
    assert.equal(online.get(d1.id), 3 * H);
    assert.equal(online.get(d2.id), 3 * H);
    assert.equal((await line()).availability, (3 + 3) / 16);
  });

  it('counts a device from its registration: online all the time since, half of it is 50%, not 25%', async () => {
    const {
      devices: [device],
      line,
    } = await village(1);
    await s.server.app.get(WriteQueue).run(async (m) => {
      // Registered half way through an 8-hour period, then online 2 of its 4 hours there.
      await m.update(DeviceEntity, { id: device.id }, { createdAt: t0 + 4 * H });
      await m.insert(PresenceIntervalEntity, [
        { deviceId: device.id, startedAt: t0 + 4 * H, endedAt: t0 + 6 * H, endReason: 'offline' },
      ]);
    });
    assert.equal((await line()).availability, 0.5);
  });
});

describe('coverage at scale: 100,000 deliveries over the 81 sample villages', () => {
  let s: TestServer;
  let seeded: { id: string; perVillage: number[] };
  let codes: string[];
  const startAt = Date.now() - 600_000;

  // Village i: played (i % 5 == 0), failed (1), never sent and offline (2), expired after
  // sending (3), one device cut off while playing and the rest sent (4).
  const plan = (i: number, k: number) => {
    const type = k % 4 === 0 ? ('flood_pa' as const) : ('village_loudspeaker' as const);
    switch (i % 5) {
      case 0:
        return {
          state: 'played' as const,
          sent: true,
          started: true,
          playedAt: startAt + 1000 * (i + 1) + k,
          type,
        };
      case 1:
        return {
          state: 'failed' as const,
          sent: true,
          started: false,
          reason: k % 2 ? 'amp fault' : 'no power',
          type,
        };
      case 2:
        return { state: 'pending' as const, sent: false, started: false, type };
      case 3:
        return { state: 'expired' as const, sent: true, started: false, type };
      default:
        return k === 0
          ? { state: 'playing' as const, sent: true, started: true, type }
          : { state: 'sent' as const, sent: true, started: false, type };
    }
  };

  beforeAll(async () => {
    s = await startTestServer({ seed: true });
    const villages = (await api(s.url, s.adminToken).get('/api/villages?limit=500').expect(200))
      .body.items as { code: string }[];
    codes = villages.map((x) => x.code).sort();
    assert.equal(codes.length, 81);
    const clip = await newClip(s, 1);
    seeded = await seedBigBroadcast(s, {
      clipId: clip.id,
      villageCodes: codes,
      total: 100_000,
      startAt,
      plan,
    });
  });
  afterAll(() => s.close());

  it('answers the exact figures', async () => {
    const c = (
      await api(s.url, s.adminToken).get(`/api/broadcasts/${seeded.id}/coverage`).expect(200)
    ).body;
    const kinds = codes.map((_, i) => i % 5);
    const count = (kind: number) => kinds.filter((k) => k === kind).length;
    const deliveries = (kind: number) =>
      seeded.perVillage.filter((_, i) => i % 5 === kind).reduce((a, b) => a + b, 0);
    assert.equal(c.deliveries.total, 100_000);
    assert.equal(c.deliveries.played, deliveries(0));
    assert.equal(c.deliveries.failed, deliveries(1));
    assert.equal(c.deliveries.pending, deliveries(2));
    assert.equal(c.deliveries.expired, deliveries(3));
    assert.equal(c.deliveries.playing, count(4));
    assert.equal(c.deliveries.sent, deliveries(4) - count(4));
    assert.equal(c.summary.targeted, 81);
    assert.equal(c.summary.covered, count(0));
    assert.equal(c.summary.partial, count(4));
    assert.deepEqual(c.summary.uncoveredByReason, {
      no_device: 0,
      failed: count(1),
      all_offline: count(2),
      quiet_hours: 0,
      pending: 0,
      expired: count(3),
      cancelled: 0,
    });
    const failedVillage = c.villages.find((x: VillageRow) => x.code === codes[1]) as VillageRow;
    assert.deepEqual(failedVillage.failures.map((f) => f.reason).sort(), ['amp fault', 'no power']);
    assert.equal(
      failedVillage.failures.reduce((n, f) => n + f.devices, 0),
      seeded.perVillage[1],
    );
    // 17 of 81 villages played, village i at startAt + (i+1) s: 50% (41 villages) is not reached.
    assert.equal(c.milestones.played[0].afterMs, null);
    const loud = c.byType.find((t: { type: string }) => t.type === 'village_loudspeaker');
    const pa = c.byType.find((t: { type: string }) => t.type === 'flood_pa');
    assert.equal(loud.devices + pa.devices, 100_000);
    assert.equal(
      pa.devices,
      seeded.perVillage.reduce((n, per) => n + Math.ceil(per / 4), 0),
    );
    assert.equal(
      c.byTown.reduce((n: number, t: { targeted: number }) => n + t.targeted, 0),
      81,
    );
  });

  it('reads a broadcast’s deliveries from the covering index alone (SQLite plan)', async () => {
    const [sql, params] = s.server.app
      .get(BroadcastFactsRepository)
      .groupsQuery({ id: seeded.id, expiresAt: Date.now() + 3_600_000 }, Date.now())
      .getQueryAndParameters();
    const plan = await sqlitePlan(s, sql, params);
    assert.match(plan, /USING COVERING INDEX IDX_deliveries_coverage \(broadcast_id=\?\)/);
    assert.doesNotMatch(plan, /TEMP B-TREE/, 'the GROUP BY follows the index order');
  });

  it('finds what quiet hours held past expiry on its own index, not among the broadcast’s deliveries (SQLite plan)', async () => {
    const [sql, params] = s.server.app
      .get(BroadcastHistoryRepository)
      .quietHeldQuery([seeded.id])
      .getQueryAndParameters();
    const plan = await sqlitePlan(s, sql, params);
    assert.match(
      plan,
      /SEARCH d USING COVERING INDEX IDX_deliveries_held \(broadcast_id=\? AND held_until>\?\)/,
    );
  });

  it('shows each village’s latest outcome on the status board', async () => {
    const board = (await api(s.url, s.adminToken).get('/api/status/villages?limit=500').expect(200))
      .body;
    const outcomes = new Map(
      board.items.map(
        (x: {
          code: string;
          latestBroadcast: {
            id: string;
            outcome: string;
            reason: string | null;
            resendable: boolean;
          };
        }) => [x.code, x.latestBroadcast],
      ),
    ) as Map<string, { id: string; outcome: string; reason: string | null; resendable: boolean }>;
    assert.equal(outcomes.get(codes[0])!.id, seeded.id);
    assert.deepEqual(
      codes
        .slice(0, 5)
        .map((c) => [
          outcomes.get(c)!.outcome,
          outcomes.get(c)!.reason,
          outcomes.get(c)!.resendable,
        ]),
      [
        ['covered', null, false],
        ['uncovered', 'failed', true],
        ['uncovered', 'all_offline', true],
        ['uncovered', 'expired', true],
        ['partial', null, false],
      ],
    );
  });

  it('keeps a settled broadcast’s figures in memory, never those of one with a delivery open', async () => {
    // Runs last: it changes rows behind the server's back to see which answers come from memory.
    const sql = (query: string, params: unknown[] = []) =>
      s.server.app.get(WriteQueue).run((m) => m.query(query, params));
    const deliveries = async () =>
      (await api(s.url, s.adminToken).get(`/api/broadcasts/${seeded.id}/coverage`).expect(200)).body
        .deliveries as Record<string, number>;
    const before = await deliveries();
    assert.ok(before.pending > 1);
    // Cancelled, but its deliveries are not all ended yet (as inside the dispatcher's cancel).
    await sql(`UPDATE broadcasts SET status = 'cancelled' WHERE id = ?`, [seeded.id]);
    assert.deepEqual(await deliveries(), before);
    await sql(
      `UPDATE deliveries SET state = 'cancelled' WHERE id = (SELECT id FROM deliveries
         WHERE broadcast_id = ? AND state = 'pending' LIMIT 1)`,
      [seeded.id],
    );
    assert.equal((await deliveries()).pending, before.pending - 1, 'still read from the rows');
    await sql(
      `UPDATE deliveries SET state = 'cancelled' WHERE broadcast_id = ?
         AND state IN ('pending', 'sent', 'playing')`,
      [seeded.id],
    );
    const settled = await deliveries();
    assert.equal(settled.pending ?? 0, 0);
    // Ended deliveries never change; if one did, the kept figures would not show it.
    await sql(
      `UPDATE deliveries SET state = 'played' WHERE broadcast_id = ? AND state = 'failed'`,
      [seeded.id],
    );
    assert.deepEqual(await deliveries(), settled, 'answered from memory');
  });
});
