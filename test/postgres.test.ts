import assert from 'node:assert/strict';
import { describe, it, beforeAll, afterAll } from '@jest/globals';
import { DevicesService } from '../src/devices/devices.service.js';
import { DeviceEntity } from '../src/devices/device.entity.js';
import { PresenceIntervalEntity } from '../src/devices/presence.entity.js';
import { WriteQueue } from '../src/database/write-queue.js';
import { createBroadcast, deliveriesOf, newClip, statusReached } from './support/broadcasts.js';
import { fixtures } from './support/fixtures.js';
import { mqttUrl, startAgentOnline } from './support/mqtt.js';
import { seedBigBroadcast } from './support/coverage.js';
import { freshPostgresSchema, TEST_DATABASE_URL } from './support/postgres.js';
import { api, startTestServer, TestServer } from './support/server.js';

describe('the server on PostgreSQL (DATABASE_URL)', () => {
  let s: TestServer;
  let drop: () => Promise<void>;
  beforeAll(async () => {
    const fresh = await freshPostgresSchema();
    drop = fresh.drop;
    s = await startTestServer({
      seed: true,
      env: { DATABASE_URL: TEST_DATABASE_URL, DATABASE_SCHEMA: fresh.schema },
    });
  });
  afterAll(async () => {
    await s?.close();
    await drop?.();
  });

  it('migrates, seeds the sample county and answers the registry API', async () => {
    const client = api(s.url, s.adminToken);
    assert.equal((await client.get('/api/villages?limit=100').expect(200)).body.total, 81);
    assert.equal((await client.get('/api/towns').expect(200)).body.items[0].villageCount, 12);
    const ready = await api(s.url).get('/health/ready').expect(200);
    assert.equal(ready.body.checks.database.ok, true);
    const carts = (await client.get('/api/devices?type=speaker_cart').expect(200)).body;
    assert.equal(carts.total, 2);
    assert.equal(typeof carts.items[0].createdAt, 'string');
    assert.ok(
      Date.parse(carts.items[0].createdAt) > Date.parse('2026-01-01'),
      'BIGINT times come back as numbers',
    );
  });

  it('searches case-insensitively with literal wildcards, and enforces keys', async () => {
    const client = api(s.url, s.adminToken);
    const dev = (await client.get('/api/devices?q=ET-611026100201').expect(200)).body;
    assert.equal(dev.total, 1);
    assert.equal((await client.get('/api/villages?q=_').expect(200)).body.total, 0);
    const busy = await client.delete('/api/villages/611026100201').expect(409);
    assert.equal(busy.body.error, 'VILLAGE_HAS_DEVICES');
    await client.post('/api/towns').send({ code: '611026100', name: 'dup' }).expect(409);
  });

  it('imports devices in one transaction and verifies their secrets', async () => {
    const client = api(s.url, s.adminToken);
    const csv =
      'id,village_code,type,enabled\npg-1,611026100201,flood_pa,true\npg-2,611026100202,flood_pa,false\n';
    const res = await client
      .post('/api/devices/import')
      .set('Content-Type', 'text/csv')
      .send(csv)
      .expect(200);
    assert.equal(res.body.created, 2);
    const devices = s.server.app.get(DevicesService);
    const [one, two] = res.body.secrets as { id: string; secret: string }[];
    assert.equal(await devices.verifySecret(one.id, one.secret), true);
    assert.equal(await devices.verifySecret(two.id, two.secret), false, 'disabled');
    assert.equal((await client.get('/api/devices?enabled=false').expect(200)).body.total, 1);
  });

  it('answers coverage and the period report with the same SQL (grouping, CASE sums, bigint times)', async () => {
    const client = api(s.url, s.adminToken);
    const codes = (
      (await client.get('/api/villages?limit=500').expect(200)).body.items as { code: string }[]
    )
      .map((v) => v.code)
      .sort();
    const startAt = Date.now() - 60_000;
    const clip = await newClip(s, 1);
    const seeded = await seedBigBroadcast(s, {
      clipId: clip.id,
      villageCodes: codes,
      total: 810,
      startAt,
      plan: (i, k) =>
        i % 2 === 0
          ? {
              state: 'played',
              sent: true,
              started: true,
              playedAt: startAt + i * 10 + k,
              type: 'flood_pa',
            }
          : { state: 'failed', sent: true, started: false, reason: 'amp fault', type: 'flood_pa' },
    });
    const c = (await client.get(`/api/broadcasts/${seeded.id}/coverage`).expect(200)).body;
    assert.equal(c.deliveries.total, 810);
    assert.equal(c.summary.covered, 41);
    assert.equal(c.summary.uncoveredByReason.failed, 40);
    assert.equal(c.villages[0].playedAt, new Date(startAt).toISOString());
    assert.equal(
      c.milestones.played[0].afterMs,
      800,
      '41st village in code order played at +800 ms',
    );
    assert.equal(c.milestones.firstSound[0].afterMs, 500, 'every device began at +500 ms');

    const [device] = (await client.get('/api/devices?limit=1').expect(200)).body.items;
    const H = 3_600_000;
    const t0 = Date.now() - 5 * H;
    await s.server.app.get(WriteQueue).run((m) =>
      m.insert(PresenceIntervalEntity, [
        { deviceId: device.id, startedAt: t0 - H, endedAt: t0 + H, endReason: 'offline' },
        { deviceId: device.id, startedAt: t0 + 3 * H, endedAt: null, endReason: null },
      ]),
    );
    // Registered before the period (availability counts from registration); the label change
    // is a registry write, so the in-memory device directory reloads.
    await s.server.app
      .get(WriteQueue)
      .run((m) =>
        m.update(DeviceEntity, { villageCode: device.villageCode }, { createdAt: t0 - H }),
      );
    await client.patch(`/api/devices/${device.id}`).send({ label: 'backdated' }).expect(200);
    const r = (
      await client
        .get(
          `/api/reports/coverage?from=${new Date(t0).toISOString()}&to=${new Date(t0 + 4 * H).toISOString()}`,
        )
        .expect(200)
    ).body;
    const village = r.villages.find((v: { code: string }) => v.code === device.villageCode);
    const enabled = village.devicesEnabled as number;
    assert.equal(village.availability, (2 * H) / (4 * H) / enabled);
    const day = (ms: number) => new Date(ms).toISOString().slice(0, 10);
    const now = (
      await client
        .get(
          `/api/reports/coverage?from=${day(Date.now() - 86_400_000)}&to=${day(Date.now() + 86_400_000)}`,
        )
        .expect(200)
    ).body;
    assert.equal(now.usage.used, 41);
    assert.equal(now.coverage.mean, 41 / 81);
  });
  it('dispatches and applies device confirmations with the batched SQL (one update per shape)', async () => {
    const fx = fixtures(s.url, s.adminToken);
    const village = (await fx.newVillage((await fx.newTown()).code)).code;
    const devices = await Promise.all(
      Array.from({ length: 6 }, () => fx.newDevice(village, { type: 'flood_pa' })),
    );
    const agents = await Promise.all(
      devices.map((d) => startAgentOnline(s, mqttUrl(s), d, { speed: 0 })),
    );
    try {
      const clip = await newClip(s, 1);
      let id = '';
      const completed = statusReached(s, () => id, 'completed');
      id = (
        await createBroadcast(s, {
          title: 'PostgreSQL',
          clipId: clip.id,
          level: 'II',
          target: { villages: [village] },
          attentionTone: false,
        })
      ).id;
      await completed;
      const rows = await deliveriesOf(s, id);
      assert.deepEqual(
        rows.map((d) => d.state),
        Array(6).fill('played'),
      );
      const events = (
        await api(s.url, s.adminToken)
          .get(`/api/broadcasts/${id}/deliveries/${rows[0].id}/events`)
          .expect(200)
      ).body as { to: string }[];
      assert.deepEqual(
        events.map((e) => e.to),
        ['sent', 'received', 'downloading', 'ready', 'playing', 'played'],
      );
    } finally {
      await Promise.all(agents.map((a) => a.stop()));
    }
  });
});
