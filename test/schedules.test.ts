import assert from 'node:assert/strict';
import { describe, it } from '@jest/globals';
import { SchedulesService } from '../src/schedules/schedules.service.js';
import { newClip } from './support/broadcasts.js';
import { fixtures } from './support/fixtures.js';
import { freshPostgresSchema, TEST_DATABASE_URL } from './support/postgres.js';
import { api, startTestServer, TestClock, TestServer, tempDir } from './support/server.js';

const beijing = (iso: string) => Date.parse(`${iso}+08:00`);
const DAY = 86_400_000;

async function setup(s: TestServer) {
  const fx = fixtures(s.url, s.adminToken);
  const village = (await fx.newVillage((await fx.newTown()).code)).code;
  await fx.newDevice(village);
  const clip = await newClip(s);
  return { village, clip };
}

async function broadcastsOf(
  s: TestServer,
  scheduleId: string,
): Promise<{ startAt: string; expiresAt: string; scheduleId: string }[]> {
  const all = (await api(s.url, s.adminToken).get('/api/broadcasts?limit=500').expect(200)).body
    .items as { startAt: string; expiresAt: string; scheduleId: string }[];
  return all
    .filter((b) => b.scheduleId === scheduleId)
    .sort((a, b) => a.startAt.localeCompare(b.startAt));
}

describe('schedules', () => {
  it('fire a daily 08:00 Asia/Shanghai broadcast once a day for a week, across a restart; a firing nobody could make in time is recorded as missed', async () => {
    const clock = new TestClock(beijing('2026-11-30T07:00:00'));
    const dataDir = tempDir();
    let s = await startTestServer({ clock, dataDir });
    const { village, clip } = await setup(s);
    const created = await api(s.url, s.adminToken)
      .post('/api/schedules')
      .send({
        name: '每日 8 点',
        cron: '0 8 * * *',
        template: {
          title: '早间广播',
          clipId: clip.id,
          level: 'routine',
          target: { villages: [village] },
          windowMinutes: 30,
        },
      })
      .expect(201);
    const id = created.body.id as string;
    assert.equal(created.body.timeZone, 'Asia/Shanghai');
    assert.equal(created.body.nextFireAt, '2026-11-30T00:00:00.000Z');
    try {
      for (let day = 0; day < 7; day++) {
        const eight = beijing('2026-11-30T08:00:00') + day * DAY;
        if (day === 4) {
          // The server is down at 08:00 and back at 08:10: the firing is late but its window is open.
          await s.close();
          clock.set(eight + 10 * 60_000);
          s = await startTestServer({ clock, dataDir, adminToken: s.adminToken });
        } else if (day === 5) {
          // Down through the whole window (08:00-08:30): recorded as missed, not played late.
          clock.set(eight + 60 * 60_000);
        } else {
          clock.set(eight + 5_000);
        }
        const schedules = s.server.app.get(SchedulesService);
        await schedules.tick();
        await schedules.tick(); // a second tick at the same moment changes nothing
      }
      const fired = await broadcastsOf(s, id);
      assert.deepEqual(
        fired.map((b) => b.startAt),
        [0, 1, 2, 3, 4, 6].map((d) =>
          new Date(beijing('2026-11-30T08:00:00') + d * DAY).toISOString(),
        ),
        'one broadcast per day at 08:00 Beijing time (00:00 UTC), none for the missed day',
      );
      assert.ok(
        fired.every((b) => Date.parse(b.expiresAt) - Date.parse(b.startAt) === 30 * 60_000),
      );
      const firings = (
        await api(s.url, s.adminToken).get(`/api/schedules/${id}/firings?limit=50`).expect(200)
      ).body.items as { fireAt: string; outcome: string }[];
      assert.equal(firings.length, 7);
      assert.deepEqual(
        firings.filter((f) => f.outcome === 'missed').map((f) => f.fireAt),
        [new Date(beijing('2026-12-05T08:00:00')).toISOString()],
      );
      const audit = (
        await api(s.url, s.adminToken).get('/api/audit?actor=scheduler&limit=50').expect(200)
      ).body.items as { action: string }[];
      assert.equal(audit.filter((a) => a.action === 'schedule.fired').length, 6);
      assert.equal(audit.filter((a) => a.action === 'schedule.missed').length, 1);
    } finally {
      await s.close();
    }
  });

  it('keep local time across a daylight-saving change (America/New_York)', async () => {
    const clock = new TestClock(Date.parse('2026-03-06T12:00:00Z'));
    const s = await startTestServer({ clock });
    try {
      const { village, clip } = await setup(s);
      const res = await api(s.url, s.adminToken)
        .post('/api/schedules')
        .send({
          name: 'NY 8am',
          cron: '0 8 * * *',
          timeZone: 'America/New_York',
          template: {
            title: 'ny',
            clipId: clip.id,
            level: 'test',
            target: { villages: [village] },
            windowMinutes: 180,
          },
        })
        .expect(201);
      const preview = (
        await api(s.url, s.adminToken)
          .get(`/api/schedules/${res.body.id}/preview?count=4`)
          .expect(200)
      ).body;
      assert.deepEqual(preview.times, [
        '2026-03-06T13:00:00.000Z',
        '2026-03-07T13:00:00.000Z',
        '2026-03-08T12:00:00.000Z',
        '2026-03-09T12:00:00.000Z',
      ]);
      assert.ok(
        preview.local.every((l: string) => l.includes('08:00')),
        preview.local.join(', '),
      );
      for (let day = 0; day < 4; day++) {
        clock.set(Date.parse('2026-03-06T14:00:00Z') + day * DAY);
        await s.server.app.get(SchedulesService).tick();
      }
      assert.deepEqual(
        (await broadcastsOf(s, res.body.id)).map((b) => b.startAt),
        [
          '2026-03-06T13:00:00.000Z',
          '2026-03-07T13:00:00.000Z',
          '2026-03-08T12:00:00.000Z',
          '2026-03-09T12:00:00.000Z',
        ],
      );
    } finally {
      await s.close();
    }
  });

  it('fire once when two servers share one PostgreSQL and tick at the same moment', async () => {
    const { schema, drop } = await freshPostgresSchema();
    // The supported set-up for several servers: one broker (here the machine's Mosquitto).
    const env = (n: number) => ({
      DATABASE_URL: TEST_DATABASE_URL,
      DATABASE_SCHEMA: schema,
      MQTT_URL: 'mqtt://127.0.0.1:1883',
      MQTT_TOPIC_PREFIX: `dalaba-test-${schema}/v1`,
      MQTT_CLIENT_ID: `schedules-${schema}-${n}`,
    });
    const start = Date.parse('2026-12-01T00:30:00Z');
    const clockA = new TestClock(start);
    const clockB = new TestClock(start);
    const a = await startTestServer({ env: env(1), clock: clockA });
    const b = await startTestServer({ env: env(2), clock: clockB, adminToken: a.adminToken });
    try {
      const { village, clip } = await setup(a);
      const res = await api(a.url, a.adminToken)
        .post('/api/schedules')
        .send({
          name: 'every 10 min',
          cron: '*/10 * * * *',
          template: {
            title: 'x',
            clipId: clip.id,
            level: 'test',
            target: { villages: [village] },
            attentionTone: false,
          },
        })
        .expect(201);
      for (let i = 1; i <= 5; i++) {
        const t = start + i * 10 * 60_000 + 1000;
        clockA.set(t);
        clockB.set(t);
        await Promise.all([
          a.server.app.get(SchedulesService).tick(),
          b.server.app.get(SchedulesService).tick(),
        ]);
      }
      const fired = await broadcastsOf(a, res.body.id);
      assert.equal(fired.length, 5, fired.map((f) => f.startAt).join(', '));
      assert.equal(
        new Set(fired.map((f) => f.startAt)).size,
        5,
        'never two broadcasts for one firing',
      );
      const firings = (
        await api(b.url, a.adminToken).get(`/api/schedules/${res.body.id}/firings`).expect(200)
      ).body;
      assert.equal(firings.total, 5);
    } finally {
      await b.close();
      await a.close();
      await drop();
    }
  });

  it('preview times before saving, refuse bad cron and time zones, and pause without a backlog', async () => {
    const clock = new TestClock(beijing('2026-11-30T07:00:00'));
    const s = await startTestServer({ clock });
    try {
      const { village, clip } = await setup(s);
      const client = api(s.url, s.adminToken);
      const preview = (
        await client.get('/api/schedules/preview?cron=30%207%20*%20*%201-5&count=10').expect(200)
      ).body;
      assert.equal(preview.times.length, 10);
      assert.equal(preview.local[0], '2026-11-30 07:30 Mon', 'weekdays at 07:30 local');
      assert.equal(preview.local[4], '2026-12-04 07:30 Fri');
      assert.equal(preview.local[5], '2026-12-07 07:30 Mon');
      assert.equal(
        (await client.get('/api/schedules/preview?cron=0%200%208%20*%20*%20*').expect(400)).body
          .details[0].rule,
        'isCron',
      );
      const template = {
        title: 't',
        clipId: clip.id,
        level: 'routine',
        target: { villages: [village] },
      };
      await client
        .post('/api/schedules')
        .send({ name: 'x', cron: '99 8 * * *', template })
        .expect(400);
      await client
        .post('/api/schedules')
        .send({ name: 'x', cron: '0 8 * * *', timeZone: 'Mars/Base', template })
        .expect(400);
      await client
        .post('/api/schedules')
        .send({ name: 'x', cron: '0 8 * * *', template: { ...template, level: 'loud' } })
        .expect(400);

      const id = (
        await client
          .post('/api/schedules')
          .send({ name: 'paused', cron: '0 8 * * *', template })
          .expect(201)
      ).body.id;
      await client.patch(`/api/schedules/${id}`).send({ enabled: false }).expect(200);
      clock.set(beijing('2026-12-03T09:00:00'));
      await s.server.app.get(SchedulesService).tick();
      assert.equal((await broadcastsOf(s, id)).length, 0, 'disabled: nothing fires');
      const resumed = (
        await client.patch(`/api/schedules/${id}`).send({ enabled: true }).expect(200)
      ).body;
      assert.equal(resumed.nextFireAt, new Date(beijing('2026-12-04T08:00:00')).toISOString());
      await s.server.app.get(SchedulesService).tick();
      assert.equal(
        (await client.get(`/api/schedules/${id}/firings`).expect(200)).body.total,
        0,
        'the pause is not a string of misses',
      );
      await client.delete(`/api/schedules/${id}`).expect(204);
      await client.get(`/api/schedules/${id}`).expect(404);
    } finally {
      await s.close();
    }
  });
});
