import assert from 'node:assert/strict';
import { describe, it, beforeAll, afterEach, afterAll } from '@jest/globals';
import type { MqttClient } from 'mqtt';
import { DeviceAgent } from '../devices/agent.js';
import { Fleet, readCredentialsFile } from '../devices/fleet.js';
import type { PlayCommand } from '../src/contract/messages.js';
import { BroadcastDispatcher } from '../src/broadcasts/dispatcher.js';
import { credentialsPath } from '../src/seed/credentials-file.js';
import { MetricsService } from '../src/metrics/metrics.service.js';
import {
  createBroadcast,
  deliveriesOf,
  DELIVERY_ENV,
  deliveryReached,
  newClip,
  statusReached,
} from './support/broadcasts.js';
import { fixtures } from './support/fixtures.js';
import {
  eventually,
  mqttUrl,
  nextPresence,
  rawClient,
  scriptedDevice,
  startAgentOnline,
} from './support/mqtt.js';
import { api, startTestServer, TestServer, tokenFor } from './support/server.js';

describe('an emergency broadcast to the whole sample county', () => {
  it('reaches played on every device, each playing it once, and the broadcast ends completed', async () => {
    const s = await startTestServer({ seed: true });
    // Strict: the devices hold the server to docs/protocol.md and log what it sends against it.
    const fleet = new Fleet(await readCredentialsFile(credentialsPath(s.dataDir)), {
      url: mqttUrl(s),
      speed: 0,
      strict: true,
    });
    try {
      const started = await fleet.start();
      assert.equal(started.connected, 95);
      await eventually(
        async () =>
          (await api(s.url, s.adminToken).get('/api/status/villages?limit=500')).body.summary
            .devicesOnline === 95,
      );
      const clip = await newClip(s);
      const plays = new Map<string, number>();
      for (const a of fleet.agents)
        a.on('playback', () => plays.set(a.id, (plays.get(a.id) ?? 0) + 1));
      let id = '';
      const completed = statusReached(s, () => id, 'completed');
      const b = await createBroadcast(s, {
        title: '防汛 I 级预警',
        clipId: clip.id,
        level: 'I',
        target: { all: true },
      });
      id = b.id;
      assert.equal(b.status, 'active');
      assert.equal(b.villages, 81);
      // The log says what the dispatch did and where its time went.
      assert.ok(
        s
          .logs()
          .some((l) =>
            new RegExp(
              `broadcast=${id} level=I dispatched: 81 village\\(s\\), 95 device\\(s\\); 95 command\\(s\\) to devices online, saved in \\d+ ms, handed to the broker in \\d+ ms`,
            ).test(l.msg),
          ),
        'dispatch log line with its times',
      );
      await completed;
      const deliveries = await deliveriesOf(s, id);
      assert.equal(deliveries.length, 95);
      assert.ok(
        deliveries.every((d) => d.state === 'played'),
        JSON.stringify(deliveries.filter((d) => d.state !== 'played')),
      );
      assert.equal(plays.size, 95);
      assert.ok(
        [...plays.values()].every((n) => n === 1),
        'each device played it exactly once',
      );
      assert.deepEqual(
        fleet.agents.flatMap((a) => a.violations),
        [],
        'nothing the protocol says the server never sends',
      );
      const final = (await api(s.url, s.adminToken).get(`/api/broadcasts/${id}`).expect(200)).body;
      assert.deepEqual(final.deliveries, { played: 95 });
      assert.equal(
        final.audio.durationMs > clip.durationMs,
        true,
        'with the emergency attention tone in front',
      );
      const events = (
        await api(s.url, s.adminToken)
          .get(`/api/broadcasts/${id}/deliveries/${deliveries[0].id}/events`)
          .expect(200)
      ).body;
      assert.deepEqual(
        events.map(
          (e: { from: string; to: string; source: string }) => `${e.from}>${e.to}:${e.source}`,
        ),
        [
          'pending>sent:system',
          'sent>received:mqtt',
          'received>downloading:mqtt',
          'downloading>ready:mqtt',
          'ready>playing:mqtt',
          'playing>played:mqtt',
        ],
      );
      assert.ok(
        events[1].deviceAt && events[1].serverAt,
        'device time and server time are both kept',
      );
    } finally {
      await fleet.stop();
      await s.close();
    }
  });
});

// Each rule with the default agent and with the strict one, which follows docs/protocol.md to the
// letter: the next contradiction between the document and the server fails here.
for (const strict of [false, true])
  describe(`broadcast delivery rules (${strict ? 'strict' : 'default'} agent)`, () => {
    let s: TestServer;
    let fx: ReturnType<typeof fixtures>;
    let town: string;
    let clip: { id: string; durationMs: number };
    let longClip: { id: string; durationMs: number };
    const agents: DeviceAgent[] = [];
    const raws: MqttClient[] = [];
    const newVillage = async (overrides: Record<string, unknown> = {}) =>
      (await fx.newVillage(town, overrides)).code;
    const agent = async (
      device: { id: string; secret: string },
      options: ConstructorParameters<typeof DeviceAgent>[0] extends infer O
        ? Partial<O>
        : never = {},
    ) => {
      const a = await startAgentOnline(s, mqttUrl(s), device, { speed: 0, strict, ...options });
      agents.push(a);
      return a;
    };

    beforeAll(async () => {
      s = await startTestServer({ env: DELIVERY_ENV });
      fx = fixtures(s.url, s.adminToken);
      town = (await fx.newTown()).code;
      clip = await newClip(s, 2);
      longClip = await newClip(s, 20);
    });
    afterEach(() => {
      assert.deepEqual(
        agents.flatMap((a) => a.violations),
        [],
        'the server sent nothing the protocol says it never does',
      );
    });
    afterAll(async () => {
      for (const r of raws) r.end(true);
      await Promise.all(agents.map((a) => a.stop()));
      await s.close();
    });

    it('delivers to a device that comes online before expiry, and expires it for one that comes back too late', async () => {
      const village = await newVillage();
      const early = await fx.newDevice(village);
      const late = await fx.newDevice(village);
      let id = '';
      const earlyPlayed = deliveryReached(s, () => id, early.id, 'played');
      const b = await createBroadcast(s, {
        title: 'offline test',
        clipId: clip.id,
        level: 'II',
        target: { villages: [village] },
        attentionTone: false,
      });
      id = b.id;
      assert.deepEqual(b.deliveries, { pending: 2 });
      await agent(early);
      await earlyPlayed;

      // The deadline passes (expiry plus grace) with `late` still away: the tick expires its delivery.
      const dispatcher = s.server.app.get(BroadcastDispatcher);
      const completed = statusReached(s, () => id, 'completed');
      await dispatcher.tick(new Date(Date.parse(b.expiresAt as string) + 2000));
      await completed;
      const states = Object.fromEntries(
        (await deliveriesOf(s, id)).map((d) => [d.deviceId, d.state]),
      );
      assert.deepEqual(states, { [early.id]: 'played', [late.id]: 'expired' });
      const commands: PlayCommand[] = [];
      const lateAgent = await agent(late);
      lateAgent.on('command', (c: PlayCommand) => commands.push(c));
      await api(s.url, s.adminToken).post(`/api/devices/${late.id}/ping`).expect(200);
      assert.deepEqual(
        commands.filter((c) => c.type === 'play'),
        [],
        'nothing is sent after expiry',
      );
    });

    it('devices coming back together each get what waits for them once, and `stop` for what was cancelled while they were away', async () => {
      const village = await newVillage();
      const holder = await fx.newDevice(village);
      const away = [
        await fx.newDevice(village),
        await fx.newDevice(village),
        await fx.newDevice(village),
      ];
      // `holder` gets the command (and never answers it), then loses power; the broadcast is cancelled meanwhile.
      const first = await agent(holder, { faults: { dropCommands: 1 } });
      const cancelled = await createBroadcast(s, {
        title: 'cancelled while away',
        clipId: clip.id,
        level: 'II',
        target: { devices: [holder.id] },
        attentionTone: false,
      });
      const cancelledId = cancelled.id;
      assert.deepEqual(cancelled.deliveries, { sent: 1 });
      const gone = nextPresence(s, (c) => c.deviceId === holder.id && !c.online);
      first.kill();
      await gone;
      await api(s.url, s.adminToken)
        .post(`/api/broadcasts/${cancelledId}/cancel`)
        .send({ reason: '测试取消' })
        .expect(200);

      // A second broadcast waits for three devices that are all away.
      let id = '';
      const played = away.map((d) => deliveryReached(s, () => id, d.id, 'played'));
      const b = await createBroadcast(s, {
        title: 'waiting for three',
        clipId: clip.id,
        level: 'II',
        target: { devices: away.map((d) => d.id) },
        attentionTone: false,
      });
      id = b.id;
      assert.deepEqual(b.deliveries, { pending: 3 });

      // All four come back at once.
      const commands = new Map<string, { type: string; broadcastId?: string }[]>();
      const returning = [holder, ...away].map((d) => {
        const a = new DeviceAgent({
          url: mqttUrl(s),
          id: d.id,
          secret: d.secret,
          speed: 0,
          strict,
        });
        agents.push(a);
        const seen: { type: string; broadcastId?: string }[] = [];
        commands.set(d.id, seen);
        // Every device also gets the server's `keys` and `config` as it comes online; this is
        // about plays.
        a.on(
          'command',
          (c: { type: string; broadcastId?: string }) =>
            c.type !== 'config' && c.type !== 'keys' && seen.push(c),
        );
        return a;
      });
      const stopped = new Promise<void>((resolve) =>
        returning[0].on('command', (c: { type: string }) => c.type === 'stop' && resolve()),
      );
      await Promise.all(returning.map((a) => a.start()));
      await Promise.all(played);
      await stopped;
      // `stop` goes out on every connection until expiry (docs/protocol.md): a reconnect of a
      // loaded test machine may bring a second one, never a play.
      const holderGot = commands.get(holder.id)!.map((c) => [c.type, c.broadcastId]);
      assert.ok(holderGot.length >= 1);
      assert.deepEqual(
        holderGot,
        holderGot.map(() => ['stop', cancelledId]),
        'the cancelled broadcast is stopped, not played again',
      );
      for (const d of away)
        assert.deepEqual(
          commands.get(d.id)!.map((c) => [c.type, c.broadcastId]),
          [['play', id]],
          `${d.id} got the waiting broadcast once`,
        );
    });

    it('ends a delivery failed when the device never answers, after resending the same command', async () => {
      const village = await newVillage();
      const mute = await fx.newDevice(village);
      await agent(mute, { faults: { dropCommands: 1 } });
      let id = '';
      const failed = deliveryReached(s, () => id, mute.id, 'failed');
      const b = await createBroadcast(s, {
        title: 'mute device',
        clipId: clip.id,
        level: 'III',
        target: { devices: [mute.id] },
        attentionTone: false,
      });
      id = b.id;
      // Resends come every ACK_TIMEOUT (doubling); drive the clock forward instead of waiting.
      const dispatcher = s.server.app.get(BroadcastDispatcher);
      const metrics = s.server.app.get(MetricsService);
      const resendsBefore =
        (await metrics.commandsSent.get()).values.find((v) => v.labels.kind === 'resend')?.value ??
        0;
      for (let t = 1; t <= 6; t++) await dispatcher.tick(new Date(Date.now() + t * 10_000));
      const change = await failed;
      assert.equal(change.kind, 'delivery');
      const [delivery] = await deliveriesOf(s, id);
      assert.equal(delivery.state, 'failed');
      assert.match(delivery.reason ?? '', /no answer after 3 sends/);
      assert.equal(delivery.attempts, 3);
      const resends =
        ((await metrics.commandsSent.get()).values.find((v) => v.labels.kind === 'resend')?.value ??
          0) - resendsBefore;
      assert.equal(resends, 2);
      assert.equal(
        (await api(s.url, s.adminToken).get(`/api/broadcasts/${id}`).expect(200)).body.status,
        'completed',
      );
    });

    it('cancels mid-way: the device stops, open deliveries end cancelled', async () => {
      const village = await newVillage();
      const device = await fx.newDevice(village);
      const a = await agent(device, { speed: 1 });
      let id = '';
      const playing = deliveryReached(s, () => id, device.id, 'playing');
      const b = await createBroadcast(s, {
        title: 'long one',
        clipId: longClip.id,
        level: 'routine',
        target: { villages: [village] },
      });
      id = b.id;
      await playing;
      const stopped = new Promise<void>((resolve) =>
        a.on('command', (c: { type: string }) => c.type === 'stop' && resolve()),
      );
      const res = await api(s.url, s.adminToken)
        .post(`/api/broadcasts/${id}/cancel`)
        .send({ reason: '通知有误' })
        .expect(200);
      assert.equal(res.body.status, 'cancelled');
      assert.equal(res.body.endReason, '通知有误');
      await stopped;
      const [d] = await deliveriesOf(s, id);
      assert.equal(d.state, 'cancelled');
      assert.equal(a.deliveryState(d.id), 'stopped');
      const again = await api(s.url, s.adminToken)
        .post(`/api/broadcasts/${id}/cancel`)
        .send({ reason: '测试取消' })
        .expect(200);
      assert.equal(again.body.status, 'cancelled', 'cancelling twice is harmless');
    });

    it('lets a level I broadcast preempt a routine one on the same device; the routine one plays afterwards', async () => {
      const village = await newVillage();
      const device = await fx.newDevice(village);
      const a = await agent(device, { speed: 20 });
      const order: string[] = [];
      a.on('delivery', (deliveryId: string, state: string) => order.push(`${deliveryId}:${state}`));
      let routineId = '';
      let urgentId = '';
      const routinePlaying = deliveryReached(s, () => routineId, device.id, 'playing');
      const routine = await createBroadcast(s, {
        title: 'routine',
        clipId: longClip.id,
        level: 'routine',
        target: { devices: [device.id] },
      });
      routineId = routine.id;
      await routinePlaying;
      const preempted = deliveryReached(s, () => routineId, device.id, 'pending');
      const urgentDone = statusReached(s, () => urgentId, 'completed');
      const routineDone = statusReached(s, () => routineId, 'completed');
      const urgent = await createBroadcast(s, {
        title: 'I 级',
        clipId: clip.id,
        level: 'I',
        target: { devices: [device.id] },
      });
      urgentId = urgent.id;
      await preempted;
      await s.tick(); // the tick sends the preempted delivery again, as a resumption
      await urgentDone;
      await routineDone;
      const [r] = await deliveriesOf(s, routineId);
      const [u] = await deliveriesOf(s, urgentId);
      assert.equal(u.state, 'played');
      assert.equal(r.state, 'played');
      const idx = (entry: string) => order.indexOf(entry);
      assert.ok(
        idx(`${r.id}:preempted`) < idx(`${u.id}:played`),
        'routine interrupted before the urgent one played',
      );
      assert.ok(
        idx(`${u.id}:played`) < order.lastIndexOf(`${r.id}:played`),
        'routine played after the urgent one',
      );
      const events = (
        await api(s.url, s.adminToken)
          .get(`/api/broadcasts/${routineId}/deliveries/${r.id}/events`)
          .expect(200)
      ).body;
      assert.ok(
        events.some(
          (e: { from: string; to: string }) => e.from === 'playing' && e.to === 'pending',
        ),
        'preempted went back to pending',
      );
    });

    it('ignores duplicate, backwards and forged events, and counts them', async () => {
      const village = await newVillage();
      const owner = await fx.newDevice(village);
      const other = await fx.newDevice(village);
      // Online, and says nothing about its plays: the test speaks for it.
      const ownerClient = await scriptedDevice(s, owner, []);
      const b = await createBroadcast(s, {
        title: 'events',
        clipId: clip.id,
        level: 'IV',
        target: { devices: [owner.id] },
        attentionTone: false,
      });
      const [d] = await deliveriesOf(s, b.id);
      assert.equal(d.state, 'sent');
      const metrics = s.server.app.get(MetricsService);
      const count = async (result: string) =>
        (await metrics.deliveryEvents.get()).values.find((v) => v.labels.result === result)
          ?.value ?? 0;
      const otherClient = await rawClient(mqttUrl(s), {
        clientId: other.id,
        username: other.id,
        password: other.secret,
      });
      raws.push(ownerClient, otherClient);
      const send = (c: MqttClient, deviceId: string, state: string, n: number, deliveryId = d.id) =>
        c.publishAsync(
          `dalaba/v1/d/${deviceId}/evt`,
          JSON.stringify({
            v: 1,
            type: 'delivery',
            id: `e${n}`,
            ts: Date.now(),
            deliveryId,
            state,
          }),
          { qos: 1 },
        );

      const before = {
        dup: await count('duplicate'),
        back: await count('backwards'),
        terminal: await count('terminal'),
        foreign: await count('foreign'),
        unknown: await count('unknown'),
      };
      await send(otherClient, other.id, 'played', 1); // someone else's delivery
      await send(ownerClient, owner.id, 'played', 2, '00000000-0000-4000-8000-000000000000'); // no such delivery
      await eventually(
        async () =>
          (await count('foreign')) > before.foreign && (await count('unknown')) > before.unknown,
      );
      assert.notEqual(
        (await deliveriesOf(s, b.id))[0].state,
        'played',
        'a forged event changes nothing',
      );

      const id = b.id;
      const ready = deliveryReached(s, () => id, owner.id, 'ready');
      await send(ownerClient, owner.id, 'ready', 3);
      await ready;
      await send(ownerClient, owner.id, 'received', 4); // late, out of order
      await send(ownerClient, owner.id, 'ready', 5); // the same again
      const played = deliveryReached(s, () => id, owner.id, 'played');
      await send(ownerClient, owner.id, 'played', 6);
      await played;
      await send(ownerClient, owner.id, 'playing', 7); // after the end
      await eventually(
        async () =>
          (await count('duplicate')) > before.dup &&
          (await count('backwards')) > before.back &&
          (await count('terminal')) > before.terminal,
        5000,
        'each refusal counted',
      );
      const [after] = await deliveriesOf(s, b.id);
      assert.equal(after.state, 'played');
      const events = (
        await api(s.url, s.adminToken)
          .get(`/api/broadcasts/${b.id}/deliveries/${d.id}/events`)
          .expect(200)
      ).body;
      assert.deepEqual(
        events
          .filter((e: { source: string }) => e.source === 'mqtt')
          .map((e: { to: string }) => e.to),
        ['ready', 'played'],
        'out-of-order, repeated and late events are not logged as changes',
      );
    });

    it('holds routine broadcasts through a village’s quiet hours, but not emergencies', async () => {
      const local = new Intl.DateTimeFormat('en-GB', {
        timeZone: 'Asia/Shanghai',
        hour: '2-digit',
        minute: '2-digit',
        hourCycle: 'h23',
      }).format(new Date());
      const [h] = local.split(':').map(Number);
      const quietHours = `${String(h).padStart(2, '0')}:00-${String((h + 2) % 24).padStart(2, '0')}:00`;
      const village = await newVillage({ quietHours });
      const device = await fx.newDevice(village);
      const a = await agent(device);
      const plays: PlayCommand[] = [];
      a.on('command', (c: PlayCommand) => c.type === 'play' && plays.push(c));
      let routineId = '';
      const ready = deliveryReached(s, () => routineId, device.id, 'ready');
      const routine = await createBroadcast(s, {
        title: 'routine at night',
        clipId: clip.id,
        level: 'routine',
        target: { villages: [village] },
      });
      routineId = routine.id;
      await ready;
      const cmd = plays.find((p) => p.broadcastId === routineId)!;
      assert.ok(
        cmd.notBefore >= Date.now() + 59 * 60_000,
        `held until the quiet hours end (${new Date(cmd.notBefore).toISOString()})`,
      );
      assert.equal((await deliveriesOf(s, routineId))[0].state, 'ready', 'downloaded, waiting');

      let urgentId = '';
      const urgentPlayed = deliveryReached(s, () => urgentId, device.id, 'played');
      const urgent = await createBroadcast(s, {
        title: 'IV 级',
        clipId: clip.id,
        level: 'IV',
        target: { villages: [village] },
        attentionTone: false,
      });
      urgentId = urgent.id;
      await urgentPlayed;
      const urgentCmd = plays.find((p) => p.broadcastId === urgentId)!;
      assert.ok(urgentCmd.notBefore <= Date.now(), 'emergencies ignore quiet hours');
    });

    it('records a manual confirmation for a speaker-cart village, apart from device confirmations', async () => {
      const village = await newVillage();
      const cart = await fx.newDevice(village, { type: 'speaker_cart' });
      const b = await createBroadcast(s, {
        title: 'cart',
        clipId: clip.id,
        level: 'III',
        target: { villages: [village] },
      });
      const operator = await tokenFor(s, 'operator');
      const res = await api(s.url, operator)
        .post(`/api/broadcasts/${b.id}/confirmations`)
        .send({
          village,
          method: 'speaker_cart',
          by: '村干部 王某',
          note: '拉杆音箱在村口播放了两遍',
        })
        .expect(201);
      assert.equal(res.body.manual, true);
      assert.equal(res.body.villageCode, village);
      assert.equal(res.body.confirmedBy, '村干部 王某');
      const byDevice = await api(s.url, operator)
        .post(`/api/broadcasts/${b.id}/confirmations`)
        .send({ device: cart.id, method: 'loudspeaker' })
        .expect(201);
      assert.equal(byDevice.body.villageCode, village);
      assert.equal(byDevice.body.confirmedBy, 'test operator');
      const list = (
        await api(s.url, s.adminToken).get(`/api/broadcasts/${b.id}/confirmations`).expect(200)
      ).body;
      assert.equal(list.length, 2);
      assert.deepEqual(
        (await deliveriesOf(s, b.id)).map((d) => d.state),
        ['pending'],
        'the device delivery is not marked played by hand',
      );
      const other = await newVillage();
      const wrong = await api(s.url, operator)
        .post(`/api/broadcasts/${b.id}/confirmations`)
        .send({ village: other, method: 'phone' })
        .expect(400);
      assert.equal(wrong.body.details[0].rule, 'targeted');
      await api(s.url, operator)
        .post(`/api/broadcasts/${b.id}/confirmations`)
        .send({ village, device: cart.id, method: 'phone' })
        .expect(400);
      await api(s.url, operator).post(`/api/broadcasts/${b.id}/confirmations`).send({}).expect(400);
      const audit = (
        await api(s.url, s.adminToken).get('/api/audit?action=confirmations').expect(200)
      ).body;
      assert.ok(
        audit.items.some(
          (e: { actor: string; subject: string }) =>
            e.actor === 'test operator' && e.subject === b.id,
        ),
      );
    });

    it('refuses broadcasts that cannot be valid, and viewers', async () => {
      const village = await newVillage();
      const client = api(s.url, s.adminToken);
      const bad = async (body: Record<string, unknown>, status: number, code: string) => {
        const res = await client.post('/api/broadcasts').send({
          title: 'x',
          clipId: clip.id,
          level: 'II',
          target: { villages: [village] },
          ...body,
        });
        assert.equal(res.status, status, `${JSON.stringify(body)}: ${res.text}`);
        assert.equal(res.body.error, code);
        return res.body;
      };
      await bad({ target: {} }, 400, 'VALIDATION_FAILED');
      const unknown = await bad(
        { target: { villages: ['999999999999'], towns: ['999999999'] } },
        400,
        'VALIDATION_FAILED',
      );
      assert.deepEqual(unknown.details.map((d: { field: string }) => d.field).sort(), [
        'target.towns',
        'target.villages',
      ]);
      await bad({ clipId: '00000000-0000-4000-8000-000000000000' }, 400, 'VALIDATION_FAILED');
      await bad({ level: 'V' }, 400, 'VALIDATION_FAILED');
      await bad({ expiresAt: new Date(Date.now() - 1000).toISOString() }, 400, 'VALIDATION_FAILED');
      await bad(
        { startAt: new Date(Date.now() - 3600_000).toISOString() },
        400,
        'VALIDATION_FAILED',
      );
      await bad({ repeat: 11 }, 400, 'VALIDATION_FAILED');
      await bad({ target: { villages: [village], colour: 'red' } }, 400, 'VALIDATION_FAILED');
      const viewer = await tokenFor(s, 'viewer');
      await api(s.url, viewer)
        .post('/api/broadcasts')
        .send({ title: 'x', clipId: clip.id, level: 'II', target: { all: true } })
        .expect(403);
    });

    it('schedules a broadcast for later and refuses to delete its clip or its devices meanwhile', async () => {
      const village = await newVillage();
      const device = await fx.newDevice(village);
      const later = new Date(Date.now() + 3 * 3600_000).toISOString();
      const b = await createBroadcast(s, {
        title: 'later',
        clipId: clip.id,
        level: 'routine',
        target: { devices: [device.id] },
        startAt: later,
      });
      assert.equal(b.status, 'scheduled');
      assert.deepEqual(b.deliveries, {});
      const inUse = await api(s.url, s.adminToken).delete(`/api/clips/${clip.id}`).expect(409);
      assert.equal(inUse.body.error, 'CLIP_IN_USE');
      await api(s.url, s.adminToken)
        .post(`/api/broadcasts/${b.id}/cancel`)
        .send({ reason: '测试取消' })
        .expect(200);
      const played = await createBroadcast(s, {
        title: 'now',
        clipId: clip.id,
        level: 'III',
        target: { devices: [device.id] },
      });
      const refused = await api(s.url, s.adminToken)
        .delete(`/api/devices/${device.id}`)
        .expect(409);
      assert.equal(refused.body.error, 'DEVICE_HAS_DELIVERIES');
      await api(s.url, s.adminToken)
        .post(`/api/broadcasts/${played.id}/cancel`)
        .send({ reason: '测试取消' })
        .expect(200);
    });
  });
