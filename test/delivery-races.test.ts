import assert from 'node:assert/strict';
import { describe, it, beforeAll, afterAll } from '@jest/globals';
import type { MqttClient } from 'mqtt';
import { DeviceAgent } from '../devices/agent.js';
import { BroadcastDispatcher } from '../src/broadcasts/dispatcher.js';
import { BroadcastsRepository, DeliveryChange } from '../src/broadcasts/broadcasts.repository.js';
import { ClipsService } from '../src/clips/clips.service.js';
import { MetricsService } from '../src/metrics/metrics.service.js';
import {
  createBroadcast,
  deliveriesOf,
  deliveryReached,
  newClip,
  statusReached,
} from './support/broadcasts.js';
import { fixtures } from './support/fixtures.js';
import { everythingArrived, LiteralDevice } from './support/literal-device.js';
import { eventually, mqttUrl, nextPresence, scriptedDevice } from './support/mqtt.js';
import { api, startTestServer, TestServer } from './support/server.js';
import { gate } from './support/gate.js';

/**
 * The races between a cancel, a dispatch, the lookup of devices coming online and device events:
 * each test holds one side at the worst moment (a hook on the real repository or service) and
 * checks that no device plays a cancelled broadcast and nothing is left open or unsent.
 */
describe('delivery races', () => {
  let s: TestServer;
  let fx: ReturnType<typeof fixtures>;
  let town: string;
  let clip: { id: string };
  const closers: (() => Promise<unknown>)[] = [];
  const dispatcher = () => s.server.app.get(BroadcastDispatcher);
  const repo = () => s.server.app.get(BroadcastsRepository);
  const newDevice = async () => fx.newDevice((await fx.newVillage(town)).code);
  const literal = async (device: { id: string; secret: string }, online = true) => {
    const d = new LiteralDevice(s, device, { holdPlaying: true });
    closers.push(() => d.close());
    if (online) await d.connect();
    return d;
  };
  const delivered = (deviceId: string) => everythingArrived(s, deviceId);
  const plays = (d: LiteralDevice) => d.commands.filter((c) => c.type === 'play');

  beforeAll(async () => {
    s = await startTestServer({
      // Nothing happens on a timer: the tick and the online lookup run when a test says so.
      env: { BROADCAST_PREFETCH_S: '0', ACK_TIMEOUT_S: '60', DISPATCH_TICK_MS: '60000' },
      configure: (config) => (config.broadcasts.onlineDelayMs = 3_600_000),
    });
    fx = fixtures(s.url, s.adminToken);
    town = (await fx.newTown()).code;
    clip = await newClip(s, 1);
  });
  afterAll(async () => {
    for (const close of closers) await close();
    await s.close();
  });

  it('a cancel while the tick prepares the dispatch wins: nothing is stored or sent', async () => {
    const device = await newDevice();
    const d = await literal(device);
    const startAt = Date.now() + 120_000;
    const b = await createBroadcast(s, {
      title: '调度中取消',
      clipId: clip.id,
      level: 'II',
      attentionTone: false,
      target: { devices: [device.id] },
      startAt: new Date(startAt).toISOString(),
    });
    assert.equal(b.status, 'scheduled');
    const clips = s.server.app.get(ClipsService);
    const readyAudio = clips.readyAudio.bind(clips);
    const preparing = gate();
    const cancelled = gate();
    clips.readyAudio = async (...args: Parameters<ClipsService['readyAudio']>) => {
      preparing.open();
      await cancelled.opened;
      return readyAudio(...args);
    };
    try {
      const ticking = dispatcher().tick(new Date(startAt));
      await preparing.opened;
      await api(s.url, s.adminToken)
        .post(`/api/broadcasts/${b.id}/cancel`)
        .send({ reason: '通知有误' })
        .expect(200);
      cancelled.open();
      await ticking;
    } finally {
      clips.readyAudio = readyAudio;
    }
    const after = (await api(s.url, s.adminToken).get(`/api/broadcasts/${b.id}`).expect(200)).body;
    assert.deepEqual([after.status, after.outcome], ['cancelled', 'cancelled']);
    assert.deepEqual(await deliveriesOf(s, b.id), []);
    await delivered(device.id);
    assert.deepEqual(plays(d), []);
    assert.ok(
      s
        .logs()
        .some((l) =>
          l.msg.includes(`broadcast=${b.id} was cancelled or expired while being dispatched`),
        ),
    );
  });

  it('a cancel ends a delivery that a device event moved between its read and its write', async () => {
    const device = await newDevice();
    const raw: MqttClient = await scriptedDevice(s, device, ['received']);
    closers.push(() => raw.endAsync(true));
    const b = await createBroadcast(s, {
      title: '取消与事件',
      clipId: clip.id,
      level: 'II',
      attentionTone: false,
      target: { devices: [device.id] },
    });
    await eventually(async () => (await deliveriesOf(s, b.id))[0].state === 'received');
    const [delivery] = await deliveriesOf(s, b.id);
    const r = repo();
    const openOf = r.openOfBroadcast.bind(r);
    r.openOfBroadcast = async (id: string) => {
      const rows = await openOf(id);
      r.openOfBroadcast = openOf; // only the first read is stale
      await raw.publishAsync(
        `dalaba/v1/d/${device.id}/evt`,
        JSON.stringify({
          v: 1,
          type: 'delivery',
          id: 'race-1',
          ts: Date.now(),
          deliveryId: delivery.id,
          state: 'ready',
        }),
        { qos: 1 },
      );
      await eventually(async () => (await r.findDeliveries([delivery.id]))[0].state === 'ready');
      return rows;
    };
    await api(s.url, s.adminToken)
      .post(`/api/broadcasts/${b.id}/cancel`)
      .send({ reason: '测试取消' })
      .expect(200);
    const [after] = await deliveriesOf(s, b.id);
    assert.equal(after.state, 'cancelled', 'not left open in a cancelled broadcast');
    const c = (await api(s.url, s.adminToken).get(`/api/broadcasts/${b.id}/coverage`).expect(200))
      .body;
    assert.deepEqual([c.villages[0].outcome, c.villages[0].reason], ['uncovered', 'cancelled']);
  });

  it('a device that comes online while the dispatch is being saved gets it', async () => {
    const device = await newDevice();
    const d = await literal(device, false);
    const r = repo();
    const saveDispatch = r.saveDispatch.bind(r);
    r.saveDispatch = async (...args: Parameters<typeof saveDispatch>) => {
      r.saveDispatch = saveDispatch;
      // Online after the dispatch saw it offline, and looked up before the deliveries exist.
      await d.connect();
      await dispatcher().flushOnline();
      return saveDispatch(...args);
    };
    let id = '';
    const playing = deliveryReached(s, () => id, device.id, 'playing');
    id = (
      await createBroadcast(s, {
        title: '保存中上线',
        clipId: clip.id,
        level: 'I',
        attentionTone: false,
        target: { devices: [device.id] },
      })
    ).id;
    await dispatcher().flushOnline();
    await playing;
    d.release();
    assert.equal(plays(d).length, 1);
  });

  it('a device that comes back as its broadcast is cancelled does not play it', async () => {
    const device = await newDevice();
    const b = await createBroadcast(s, {
      title: '上线与取消',
      clipId: clip.id,
      level: 'II',
      attentionTone: false,
      target: { devices: [device.id] },
    });
    assert.equal((await deliveriesOf(s, b.id))[0].state, 'pending', 'waiting for its device');
    const r = repo();
    // The lookup for the device coming back reads the delivery as pending; the cancel reads it
    // too, then the lookup records its send, then the cancel writes.
    const cancelRead = gate();
    const sendRecorded = gate();
    let cancel: Promise<number> | undefined;
    const applyChanges = r.applyChanges.bind(r);
    r.applyChanges = async (changes: DeliveryChange[]) => {
      const isSend = changes.some((c) => c.expectAttempts !== undefined);
      if (isSend && !cancel) {
        cancel = api(s.url, s.adminToken)
          .post(`/api/broadcasts/${b.id}/cancel`)
          .send({ reason: '测试取消' })
          .then((res) => res.status);
        await cancelRead.opened;
      }
      const applied = await applyChanges(changes);
      if (isSend) sendRecorded.open();
      return applied;
    };
    const openOf = r.openOfBroadcast.bind(r);
    r.openOfBroadcast = async (id: string) => {
      const rows = await openOf(id);
      r.openOfBroadcast = openOf; // only the cancel's first read is held
      cancelRead.open();
      await sendRecorded.opened;
      return rows;
    };
    try {
      const d = await literal(device);
      await dispatcher().flushOnline();
      assert.ok(cancel, 'the race happened');
      assert.equal(await cancel, 200);
      await delivered(device.id);
      assert.deepEqual(plays(d), [], 'a cancelled broadcast is never played');
      const [after] = await deliveriesOf(s, b.id);
      assert.equal(after.state, 'cancelled');
    } finally {
      r.applyChanges = applyChanges;
      r.openOfBroadcast = openOf;
    }
  });

  it('of two sends read from the same row, only one is recorded (and so published)', async () => {
    const device = await newDevice();
    await literal(device);
    const b = await createBroadcast(s, {
      title: '两次发送',
      clipId: clip.id,
      level: 'II',
      attentionTone: false,
      target: { devices: [device.id] },
    });
    const [row] = await repo().findDeliveries([(await deliveriesOf(s, b.id))[0].id]);
    const send = (): DeliveryChange => ({
      id: row.id,
      expect: row.state,
      expectAttempts: row.attempts,
      patch: { attempts: row.attempts + 1, updatedAt: Date.now() },
      event: {
        deliveryId: row.id,
        fromState: row.state,
        toState: row.state,
        source: 'system',
        deviceTs: null,
        serverTs: Date.now(),
        reason: null,
        anomaly: null,
      },
      of: row,
    });
    assert.equal((await repo().applyChanges([send()])).size, 1);
    assert.equal((await repo().applyChanges([send()])).size, 0, 'the second read a stale row');
    await api(s.url, s.adminToken)
      .post(`/api/broadcasts/${b.id}/cancel`)
      .send({ reason: '测试取消' })
      .expect(200);
  });

  it('ignores an event about an earlier run: it neither stops the resumption nor uses one up', async () => {
    const device = await newDevice();
    const client = await scriptedDevice(s, device, []);
    closers.push(() => client.endAsync(true));
    const commands: { id: string; type: string; resume?: number }[] = [];
    client.on('message', (_t, payload) => commands.push(JSON.parse(payload.toString())));
    const b = await createBroadcast(s, {
      title: '过时的事件',
      clipId: clip.id,
      level: 'routine',
      target: { devices: [device.id] },
    });
    const [delivery] = await deliveriesOf(s, b.id);
    let n = 0;
    const report = (state: string, resume?: number) =>
      client.publishAsync(
        `dalaba/v1/d/${device.id}/evt`,
        JSON.stringify({
          v: 1,
          type: 'delivery',
          id: `run-${n++}`,
          ts: Date.now(),
          deliveryId: delivery.id,
          state,
          ...(resume === undefined ? {} : { resume }),
          ...(state === 'preempted' ? { reason: 'a level I broadcast' } : {}),
        }),
        { qos: 1 },
      );
    const stale = async () =>
      (await s.server.app.get(MetricsService).deliveryEvents.get()).values.find(
        (v) => v.labels.result === 'stale',
      )?.value ?? 0;
    const interrupted = deliveryReached(s, () => b.id, device.id, 'pending');
    for (const state of ['received', 'ready', 'playing', 'preempted']) await report(state, 0);
    await interrupted;
    const before = await stale();
    // Late copies of the first run (with its number, and without one) while it waits to resume.
    await report('received', 0);
    await report('playing');
    await eventually(async () => (await stale()) === before + 2, 5000, 'both refused as stale');
    const resumed = deliveryReached(s, () => b.id, device.id, 'sent');
    await dispatcher().tick(new Date());
    await resumed;
    // One more late copy of the first run's preempted, after the resumption went out.
    await report('preempted', 0);
    await eventually(async () => (await stale()) === before + 3);
    await report('received', 1);
    await eventually(async () => (await deliveriesOf(s, b.id))[0].state === 'received');
    const [after] = await deliveriesOf(s, b.id);
    assert.equal(after.resumes, 1, 'one resumption, not one per late copy');
    await eventually(() => commands.some((c) => c.id === `play-${delivery.id}-r1`));
    await api(s.url, s.adminToken)
      .post(`/api/broadcasts/${b.id}/cancel`)
      .send({ reason: '测试取消' })
      .expect(200);
  });

  it('a device that loses power while playing reports it preempted when back, and plays it again', async () => {
    const device = await newDevice();
    const agent = new DeviceAgent({
      url: mqttUrl(s),
      id: device.id,
      secret: device.secret,
      speed: 1,
      strict: true,
    });
    closers.push(() => agent.stop());
    const online = nextPresence(s, (c) => c.deviceId === device.id && c.online);
    await agent.start();
    await online;
    const long = await newClip(s, 30);
    let id = '';
    const playing = deliveryReached(s, () => id, device.id, 'playing');
    id = (
      await createBroadcast(s, {
        title: '断电',
        clipId: long.id,
        level: 'II',
        attentionTone: false,
        target: { devices: [device.id] },
      })
    ).id;
    await playing;
    const gone = nextPresence(s, (c) => c.deviceId === device.id && !c.online);
    agent.kill();
    await gone;
    // Back with the power: it plays the resumption at once (no need to wait 30 s here).
    (agent.options as { speed?: number }).speed = 0;
    const done = statusReached(s, () => id, 'completed');
    const reported = deliveryReached(s, () => id, device.id, 'pending');
    await agent.start();
    await reported;
    await dispatcher().tick(new Date());
    await done;
    const [delivery] = await deliveriesOf(s, id);
    assert.deepEqual([delivery.state, delivery.resumes], ['played', 1]);
    const events = (
      await api(s.url, s.adminToken)
        .get(`/api/broadcasts/${id}/deliveries/${delivery.id}/events`)
        .expect(200)
    ).body as { from: string; to: string; reason: string | null }[];
    assert.ok(
      events.some((e) => e.from === 'playing' && e.to === 'pending' && e.reason === 'power lost'),
    );
    assert.deepEqual(agent.violations, []);
  });
});
