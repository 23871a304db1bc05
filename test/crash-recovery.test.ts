import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from '@jest/globals';
import Database from 'better-sqlite3';
import type { DeviceAgent } from '../devices/agent.js';
import { BroadcastDispatcher } from '../src/broadcasts/dispatcher.js';
import { SchedulesService } from '../src/schedules/schedules.service.js';
import { createBroadcast, deliveriesOf, newClip, statusReached } from './support/broadcasts.js';
import { fixtures } from './support/fixtures.js';
import { mqttUrl, startAgentOnline } from './support/mqtt.js';
import { api, startTestServer, TestClock, TestServer, tempDir } from './support/server.js';

/**
 * What a SIGKILL leaves behind, written into the database of a stopped server: the state a crash
 * at that step of a flow leaves, found by the tester, made certain here. test/crash-points.test.ts
 * kills a real server process at many moments instead.
 */
function crashLeft(dataDir: string, sql: string, ...params: unknown[]): void {
  const db = new Database(join(dataDir, 'dalaba.db'));
  try {
    db.prepare(sql).run(...params);
  } finally {
    db.close();
  }
}

/** Real device agents online, counting each delivery they actually played. */
async function countPlays(
  s: TestServer,
  devices: { id: string; secret: string }[],
): Promise<{ agents: DeviceAgent[]; plays: Map<string, number> }> {
  const plays = new Map<string, number>();
  const agents: DeviceAgent[] = [];
  for (const d of devices) {
    const a = await startAgentOnline(s, mqttUrl(s), d);
    a.on('playback', (deliveryId: string) =>
      plays.set(deliveryId, (plays.get(deliveryId) ?? 0) + 1),
    );
    agents.push(a);
  }
  return { agents, plays };
}

/** How many times each device played the broadcast, in the order of `devices`. */
async function playsOf(
  s: TestServer,
  broadcastId: string,
  devices: { id: string }[],
  plays: Map<string, number>,
): Promise<number[]> {
  const byDevice = new Map((await deliveriesOf(s, broadcastId)).map((d) => [d.deviceId, d.id]));
  return devices.map((d) => plays.get(byDevice.get(d.id) ?? '') ?? 0);
}

describe('a crash in the middle of a flow', () => {
  it('a broadcast left `dispatching` with no deliveries is dispatched at the next start, once per device; one past its expiry ends expired, never completed', async () => {
    const dataDir = tempDir();
    let s = await startTestServer({ dataDir });
    const fx = fixtures(s.url, s.adminToken);
    const village = (await fx.newVillage((await fx.newTown()).code)).code;
    const devices = [await fx.newDevice(village), await fx.newDevice(village)];
    const clip = await newClip(s, 1);
    const later = Date.now() + 3_600_000;
    const body = {
      clipId: clip.id,
      level: 'I',
      target: { villages: [village] },
      attentionTone: false,
      startAt: new Date(later).toISOString(),
    };
    const live = await createBroadcast(s, { ...body, title: 'interrupted' });
    const stale = await createBroadcast(s, {
      ...body,
      title: 'interrupted, then too late',
      expiresAt: new Date(later + 60_000).toISOString(),
    });
    assert.equal(live.status, 'scheduled');
    await s.close();

    // Killed right after the dispatch claimed them: `dispatching`, nothing else stored.
    const now = Date.now();
    crashLeft(
      dataDir,
      `UPDATE broadcasts SET status = 'dispatching', start_at = ?, updated_at = ? WHERE id = ?`,
      now - 1_000,
      now - 1_000,
      live.id,
    );
    crashLeft(
      dataDir,
      `UPDATE broadcasts SET status = 'dispatching', start_at = ?, expires_at = ?, updated_at = ? WHERE id = ?`,
      now - 120_000,
      now - 60_000,
      now - 120_000,
      stale.id,
    );

    s = await startTestServer({ dataDir, adminToken: s.adminToken });
    const { agents, plays } = await countPlays(s, devices);
    try {
      const client = api(s.url, s.adminToken);
      const completed = statusReached(s, () => live.id, 'completed');
      await s.server.app.get(BroadcastDispatcher).tick();
      await completed;
      const done = (await client.get(`/api/broadcasts/${live.id}`).expect(200)).body;
      assert.equal(done.outcome, 'completed');
      assert.deepEqual(
        await playsOf(s, live.id, devices, plays),
        [1, 1],
        'each device played the interrupted broadcast exactly once',
      );
      const expired = (await client.get(`/api/broadcasts/${stale.id}`).expect(200)).body;
      assert.equal(expired.status, 'expired');
      assert.equal(expired.outcome, 'expired');
      assert.match(expired.endReason, /before it could be sent/);
      assert.equal(plays.size, devices.length, 'nothing else played');
    } finally {
      await Promise.all(agents.map((a) => a.stop()));
      await s.close();
    }
  });

  it('a schedule firing caught by a crash is recorded as fired and its broadcast still goes out', async () => {
    const start = Date.parse('2026-11-30T07:59:00+08:00');
    const clock = new TestClock(start);
    const dataDir = tempDir();
    let s = await startTestServer({ clock, dataDir });
    const fx = fixtures(s.url, s.adminToken);
    const village = (await fx.newVillage((await fx.newTown()).code)).code;
    const device = await fx.newDevice(village);
    const clip = await newClip(s, 1);
    const client = api(s.url, s.adminToken);
    const schedule = (
      await client
        .post('/api/schedules')
        .send({
          name: '早间广播',
          cron: '0 8 * * *',
          template: {
            title: '早间广播',
            clipId: clip.id,
            level: 'II',
            target: { villages: [village] },
            attentionTone: false,
            windowMinutes: 30,
          },
        })
        .expect(201)
    ).body as { id: string };
    const eight = Date.parse('2026-11-30T08:00:00+08:00');
    clock.set(eight + 1_000);
    await s.server.app.get(SchedulesService).tick();
    const fired = (await client.get(`/api/schedules/${schedule.id}/firings`).expect(200)).body
      .items as { broadcastId: string }[];
    assert.equal(fired.length, 1);
    const broadcastId = fired[0].broadcastId;
    await s.close();

    // Killed while the firing's broadcast was being dispatched: its row exists (`dispatching`,
    // no deliveries), the firing is not recorded and the schedule has not moved on.
    crashLeft(
      dataDir,
      `DELETE FROM delivery_events WHERE delivery_id IN (SELECT id FROM deliveries WHERE broadcast_id = ?)`,
      broadcastId,
    );
    crashLeft(dataDir, `DELETE FROM deliveries WHERE broadcast_id = ?`, broadcastId);
    crashLeft(dataDir, `DELETE FROM broadcast_villages WHERE broadcast_id = ?`, broadcastId);
    crashLeft(
      dataDir,
      `UPDATE broadcasts SET status = 'dispatching', dispatched_at = NULL, audio_sha256 = NULL WHERE id = ?`,
      broadcastId,
    );
    crashLeft(dataDir, `DELETE FROM schedule_firings WHERE schedule_id = ?`, schedule.id);
    crashLeft(dataDir, `UPDATE schedules SET last_fire_at = ? WHERE id = ?`, start, schedule.id);

    clock.set(eight + 5_000);
    s = await startTestServer({ clock, dataDir, adminToken: s.adminToken });
    const { agents, plays } = await countPlays(s, [device]);
    try {
      const completed = statusReached(s, () => broadcastId, 'completed');
      completed.catch(() => undefined); // awaited below, after the firing's record is checked
      await s.server.app.get(SchedulesService).tick();
      await s.server.app.get(BroadcastDispatcher).tick();
      const firings = (await api(s.url, s.adminToken).get(`/api/schedules/${schedule.id}/firings`))
        .body.items as { outcome: string; broadcastId: string }[];
      assert.deepEqual(
        firings.map((f) => [f.outcome, f.broadcastId]),
        [['fired', broadcastId]],
        'the firing is on the record, with the broadcast it made',
      );
      assert.ok(
        s.logs().some((l) => l.msg.includes(`broadcast=${broadcastId}`) && /firing/.test(l.msg)),
        'a log line says what became of the firing',
      );
      await completed;
      assert.deepEqual(await playsOf(s, broadcastId, [device], plays), [1]);
    } finally {
      await Promise.all(agents.map((a) => a.stop()));
      await s.close();
    }
  });
});
