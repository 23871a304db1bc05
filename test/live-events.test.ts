import assert from 'node:assert/strict';
import { describe, it, beforeAll, afterAll } from '@jest/globals';
import { DeviceAgent } from '../devices/agent.js';
import { BroadcastEvents } from '../src/broadcasts/broadcast-events.js';
import { LiveEvents, LiveUpdate, MAX_STREAMS_PER_TOKEN } from '../src/live/live-events.js';
import { createBroadcast, newClip } from './support/broadcasts.js';
import { fixtures } from './support/fixtures.js';
import { mqttUrl, startAgentOnline } from './support/mqtt.js';
import { api, startTestServer, TestServer, tokenFor } from './support/server.js';
import { openEvents, SseStream } from './support/sse.js';

describe('live events (GET /api/events)', () => {
  let s: TestServer;
  let viewer: string;
  const agents: DeviceAgent[] = [];
  const streams: SseStream[] = [];

  beforeAll(async () => {
    s = await startTestServer({ env: { DISPATCH_TICK_MS: '100' }, timers: true });
    viewer = await tokenFor(s, 'viewer');
  });
  afterAll(async () => {
    await Promise.all(agents.map((a) => a.stop()));
    // Streams still open: closing the server must end them rather than hang.
    await s.close();
    for (const st of streams) st.close();
  });

  const open = async () => {
    const st = await openEvents(s.url, viewer);
    streams.push(st);
    return st;
  };

  it('needs a token, and answers an event stream that starts with hello', async () => {
    const anonymous = await openEvents(s.url, undefined);
    assert.equal(anonymous.status, 401);
    const st = await open();
    assert.equal(st.status, 200);
    assert.match(st.contentType ?? '', /text\/event-stream/);
    const hello = await st.next((f) => f.event === 'hello');
    assert.equal((hello.data as { devicesOnline: number }).devicesOnline, 0);
  });

  it('carries presence and a broadcast’s progress to the end', async () => {
    const st = await open();
    await st.next((f) => f.event === 'hello');
    const fx = fixtures(s.url, s.adminToken);
    const village = (await fx.newVillage((await fx.newTown()).code)).code;
    const device = await fx.newDevice(village);
    const online = st.next(
      (f) => f.event === 'update' && (f.data as LiveUpdate).villages.includes(village),
      10_000,
      'the village in an update',
    );
    agents.push(await startAgentOnline(s, mqttUrl(s), device, { speed: 0 }));
    assert.equal(((await online).data as LiveUpdate).devicesOnline, 1);

    const clip = await newClip(s, 1);
    const b = await createBroadcast(s, {
      title: '直播测试',
      clipId: clip.id,
      level: 'IV',
      target: { villages: [village] },
    });
    const done = await st.next(
      (f) =>
        f.event === 'update' &&
        (f.data as LiveUpdate).broadcasts.some(
          (x) => x.id === b.id && x.status === 'completed' && x.deliveries.played === 1,
        ),
      15_000,
      'the broadcast completed with one played',
    );
    assert.ok((done.data as LiveUpdate).villages.includes(village));
  });

  it('coalesces: 10,000 delivery changes in two seconds become a handful of updates', async () => {
    const st = await open();
    await st.next((f) => f.event === 'hello');
    const live = s.server.app.get(LiveEvents);
    const events = s.server.app.get(BroadcastEvents);
    const before = live.updatesSent;
    const framesBefore = st.frames.length;
    const broadcastId = '00000000-0000-4000-8000-00000000abcd';
    // 20 bursts of 500, 100 ms apart: the load of a county's devices acknowledging at once.
    for (let burst = 0; burst < 20; burst++) {
      for (let i = 0; i < 500; i++) {
        events.emit({
          kind: 'delivery',
          broadcastId,
          deliveryId: `d${burst}-${i}`,
          deviceId: `dev-${i}`,
          villageCode: `6110261002${String(i % 100).padStart(2, '0')}`,
          state: 'received',
          at: Date.now(),
        });
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    // Every burst touched the same 100 villages, so every update names all of them.
    await st.next(
      (f) =>
        st.frames.indexOf(f) >= framesBefore &&
        f.event === 'update' &&
        (f.data as LiveUpdate).villages.length === 100,
      5_000,
      'an update naming the changed villages',
    );
    const sent = live.updatesSent - before;
    assert.ok(sent >= 1, 'something was sent');
    assert.ok(
      sent <= 8,
      `10,000 changes made ${sent} updates; expected at most 8 (one per 500 ms)`,
    );
    const villages = new Set(
      st.frames
        .slice(framesBefore)
        .flatMap((f) => (f.event === 'update' ? (f.data as LiveUpdate).villages : [])),
    );
    assert.equal(villages.size, 100, 'every changed village was named');
  });

  it('closes a stream at once when its token is revoked, and keeps the others', async () => {
    const admin = api(s.url, s.adminToken);
    const created = await admin.post('/api/tokens').send({ name: 'duty screen', role: 'viewer' });
    const doomed = await openEvents(s.url, created.body.token as string);
    streams.push(doomed);
    await doomed.next((f) => f.event === 'hello');
    const other = await open();
    await other.next((f) => f.event === 'hello');
    await admin.delete(`/api/tokens/${created.body.id}`).expect(200);
    await doomed.ended();
    const framesAtEnd = doomed.frames.length;

    // An update after the revocation reaches the other stream, and not the revoked one.
    const village = '611026100299';
    s.server.app.get(BroadcastEvents).emit({
      kind: 'delivery',
      broadcastId: '00000000-0000-4000-8000-00000000abce',
      deliveryId: 'd-revoked',
      deviceId: 'dev-revoked',
      villageCode: village,
      state: 'received',
      at: Date.now(),
    });
    await other.next(
      (f) => f.event === 'update' && (f.data as LiveUpdate).villages.includes(village),
      10_000,
      'the update on the stream whose token is still valid',
    );
    assert.equal(doomed.frames.length, framesAtEnd);
    const again = await openEvents(s.url, created.body.token as string);
    assert.equal(again.status, 401);
  });

  it(`limits streams per token (${MAX_STREAMS_PER_TOKEN}): a viewer holding many cannot keep the admin’s dashboard out`, async () => {
    const greedy = await tokenFor(s, 'viewer');
    const held: SseStream[] = [];
    try {
      for (let i = 0; i < MAX_STREAMS_PER_TOKEN; i++) {
        const st = await openEvents(s.url, greedy);
        held.push(st);
        assert.equal(st.status, 200, `stream ${i + 1}`);
      }
      const refused = await openEvents(s.url, greedy);
      held.push(refused);
      assert.equal(refused.status, 429);
      const dashboard = await openEvents(s.url, s.adminToken);
      held.push(dashboard);
      assert.equal(dashboard.status, 200);
      await dashboard.next((f) => f.event === 'hello');
    } finally {
      for (const st of held) st.close();
    }
  });
});
