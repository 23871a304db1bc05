import assert from 'node:assert/strict';
import { randomBytes, scryptSync } from 'node:crypto';
import { connect as tcpConnect } from 'node:net';
import request from 'supertest';
import { describe, it, beforeAll, afterAll } from '@jest/globals';
import type { MqttClient } from 'mqtt';
import { DeviceAgent } from '../devices/agent.js';
import { PROTOCOL_VERSION } from '../src/contract/messages.js';
import { PresenceService } from '../src/devices/presence.service.js';
import { WriteQueue } from '../src/database/write-queue.js';
import { DevicesRepository } from '../src/devices/devices.repository.js';
import { DevicesService } from '../src/devices/devices.service.js';
import { DeviceEntity } from '../src/devices/device.entity.js';
import {
  DeviceGateway,
  InboundEvent,
  MAX_SUBSCRIPTIONS_PER_CONNECTION,
} from '../src/devices/device-gateway.js';
import { MetricsService } from '../src/metrics/metrics.service.js';
import { fixtures } from './support/fixtures.js';
import {
  eventually,
  mqttUrl,
  next,
  nextPresence,
  rawClient,
  rejected,
  startAgentOnline,
  subackCode,
} from './support/mqtt.js';
import { loginCode, rawMqttConnect, subscribePacket } from './support/raw-mqtt.js';
import { api, startTestServer, TestServer } from './support/server.js';

const P = 'dalaba/v1';

describe('MQTT gateway on the embedded broker', () => {
  let s: TestServer;
  let url: string;
  let client: ReturnType<typeof api>;
  let fx: ReturnType<typeof fixtures>;
  let village: string;
  const agents: DeviceAgent[] = [];
  const raws: MqttClient[] = [];

  const newDevice = (overrides: Record<string, unknown> = {}) => fx.newDevice(village, overrides);
  const agent = async (device: { id: string; secret: string }, options = {}) => {
    const a = await startAgentOnline(s, url, device, options);
    agents.push(a);
    return a;
  };
  const raw = async (device: { id: string; secret: string }) => {
    const c = await rawClient(url, {
      clientId: device.id,
      username: device.id,
      password: device.secret,
    });
    raws.push(c);
    return c;
  };

  beforeAll(async () => {
    s = await startTestServer({
      env: {
        MQTT_AUTH_FAIL_LIMIT: '3',
        MQTT_AUTH_ADDRESS_FAIL_LIMIT: '30',
        MQTT_DEVICE_RATE: '20',
        MQTT_DEVICE_BURST: '30',
        MQTT_WS_PORT: '0',
      },
    });
    url = mqttUrl(s);
    client = api(s.url, s.adminToken);
    fx = fixtures(s.url, s.adminToken);
    village = (await fx.newVillage((await fx.newTown()).code)).code;
  });
  afterAll(async () => {
    for (const c of raws) c.end(true);
    await Promise.all(agents.map((a) => a.stop()));
    await s.close();
  });

  describe('authentication', () => {
    it('lets in a registered device with its secret, and reports it online with its hello and telemetry', async () => {
      const device = await newDevice({ type: 'flood_pa' });
      const online = nextPresence(s, (c) => c.deviceId === device.id && c.online);
      await agent(device, { deviceType: 'flood_pa', firmware: 'fp-9 1.2', batteryPct: 55 });
      await online;
      await eventually(
        async () =>
          (await client.get(`/api/devices/${device.id}`)).body.presence.telemetry !== null,
      );
      const body = (await client.get(`/api/devices/${device.id}`).expect(200)).body;
      assert.equal(body.online, true);
      assert.equal(body.presence.firmware, 'fp-9 1.2');
      assert.deepEqual(body.presence.codecs, ['mp3']);
      assert.equal(body.presence.reportedType, 'flood_pa');
      assert.equal(body.presence.telemetry.batteryPct, 55);
      assert.ok(body.presence.onlineSince);
    });

    it('refuses a wrong secret, an unknown device, a user name that differs from the client id, and a disabled device', async () => {
      const device = await newDevice();
      const disabled = await newDevice({ enabled: false });
      const before = await rejected(s, 'auth_failed');
      const attempts = [
        { clientId: device.id, username: device.id, password: 'not-the-secret' },
        { clientId: 'nobody-here', username: 'nobody-here', password: device.secret },
        { clientId: device.id, username: 'someone-else', password: device.secret },
        { clientId: disabled.id, username: disabled.id, password: disabled.secret },
      ];
      for (const options of attempts) {
        await assert.rejects(
          rawClient(url, options),
          /Bad username or password|Not authorized|closed/i,
          JSON.stringify(options),
        );
      }
      assert.equal((await rejected(s, 'auth_failed')) - before, attempts.length);
      assert.ok(!s.rawLogs.join('').includes(device.secret), 'secrets are not logged');
    });

    it('backs off failed logins per client id and address: 4, then 3 (retry later); the right secret still gets in', async () => {
      const device = await newDevice();
      const port = s.server.mqttPort!;
      const wrong = (i: number) => ({ clientId: device.id, password: `wrong-${i}` });
      for (let i = 0; i < 3; i++)
        assert.equal(
          await loginCode(port, wrong(i)),
          4,
          'a wrong secret: bad user name or password',
        );
      const before = await rejected(s, 'auth_rate_limited');
      assert.equal(await loginCode(port, wrong(3)), 3, 'past the limit: server unavailable');
      assert.equal((await rejected(s, 'auth_rate_limited')) - before, 1);
      assert.equal(
        await loginCode(port, { clientId: device.id, password: device.secret }),
        0,
        'the right secret from the same client id and address',
      );
      // A client id that is no device backs off the same way: the answer does not say which exist.
      const ghost = `ghost-${device.id}`;
      for (let i = 0; i < 3; i++)
        assert.equal(await loginCode(port, { clientId: ghost, password: 'x' }), 4);
      assert.equal(await loginCode(port, { clientId: ghost, password: 'x' }), 3);
    });

    it('wrong secrets for a device id from another address leave the device itself alone', async () => {
      const device = await newDevice();
      const port = s.server.mqttPort!;
      for (let i = 0; i < 10; i++)
        await loginCode(port, { clientId: device.id, password: `guess-${i}` }, '127.0.0.2');
      assert.equal(
        await loginCode(port, { clientId: device.id, password: `guess-x` }, '127.0.0.2'),
        3,
        'the guessing address backs off',
      );
      assert.equal(
        await loginCode(port, { clientId: device.id, password: 'not-it' }),
        4,
        'from the device’s own address a wrong secret is still only wrong',
      );
      assert.equal(await loginCode(port, { clientId: device.id, password: device.secret }), 0);
    });

    it('a flood of wrong logins from one address (a village behind one NAT) keeps none of its devices out', async () => {
      const devices = [await newDevice(), await newDevice()];
      const port = s.server.mqttPort!;
      const nat = '127.0.0.3';
      // Past the per-address limit (MQTT_AUTH_ADDRESS_FAIL_LIMIT=30 here), with made-up ids and
      // wrong secrets for the real ones.
      for (let i = 0; i < 40; i++) {
        const clientId = i % 4 < 2 ? devices[i % 2].id : `nobody-${i}`;
        await loginCode(port, { clientId, password: `bad-${i}` }, nat);
      }
      assert.equal(
        await loginCode(port, { clientId: 'nobody-else', password: 'x' }, nat),
        3,
        'the address backs off',
      );
      for (const d of devices)
        assert.equal(await loginCode(port, { clientId: d.id, password: d.secret }, nat), 0);
    });

    it('disconnects a device when it is disabled, and keeps it out', async () => {
      const device = await newDevice();
      const a = await agent(device);
      const gone = new Promise((resolve) => a.once('disconnected', resolve));
      const offline = nextPresence(s, (c) => c.deviceId === device.id && !c.online);
      await client.patch(`/api/devices/${device.id}`).send({ enabled: false }).expect(200);
      await gone;
      await offline;
      await assert.rejects(
        rawClient(url, { clientId: device.id, username: device.id, password: device.secret }),
      );
    });

    it('disconnects a device whose secret is rotated; the new secret lets it back in', async () => {
      const device = await newDevice();
      const a = await agent(device);
      const gone = new Promise((resolve) => a.once('disconnected', resolve));
      const rotated = (await client.post(`/api/devices/${device.id}/rotate-secret`).expect(201))
        .body.secret as string;
      await gone;
      await a.stop();
      await assert.rejects(
        rawClient(url, { clientId: device.id, username: device.id, password: device.secret }),
      );
      await agent({ id: device.id, secret: rotated });
    });

    it('lets in a device whose secret is stored the earlier way (scrypt), and stores it again in the current form', async () => {
      const device = await newDevice();
      const repo = s.server.app.get(DevicesRepository);
      const stored = async () => (await repo.credentials(device.id))!.secretHash!;
      assert.match(await stored(), /^sha256\$/);
      const salt = randomBytes(16);
      const key = scryptSync(device.secret, salt, 32, { N: 1024, r: 8, p: 1 });
      const old = ['scrypt', 1024, 8, 1, salt.toString('base64url'), key.toString('base64url')];
      await s.server.app
        .get(WriteQueue)
        .run((m) => m.update(DeviceEntity, { id: device.id }, { secretHash: old.join('$') }));

      (await raw(device)).end(true);
      const upgraded = await stored();
      assert.match(upgraded, /^sha256\$/);
      assert.ok(!upgraded.includes(device.secret));
      // The stored form itself (not the gateway's memory of a good login) now answers.
      const devices = s.server.app.get(DevicesService);
      assert.equal(await devices.verifySecret(device.id, device.secret), true);
      assert.equal(await devices.verifySecret(device.id, `${device.secret.slice(1)}A`), false);
      assert.equal(await stored(), upgraded);
    });
  });

  describe('protocol versions', () => {
    it('refuses an MQTT 5 CONNECT before any login check: CONNACK return code 1 in the 3.1.1 form, then closes', async () => {
      const device = await newDevice();
      const failed = await rejected(s, 'auth_failed');
      // What mqtt.js (protocolVersion 5) makes of it, with the right credentials.
      const err = await rawClient(url, {
        protocolVersion: 5,
        clientId: device.id,
        username: device.id,
        password: device.secret,
      }).then(
        () => assert.fail('an MQTT 5 client got in'),
        (e: Error & { code?: number }) => e,
      );
      assert.equal(err.code, 1);
      assert.equal(err.message, 'Connection refused: Unacceptable protocol version');
      // On the wire: a bare MQTT 5 CONNECT (clean start, keep-alive 60, no properties, id "x1").
      const connect = Buffer.from('100f00044d5154540502003c000002' + '7831', 'hex');
      const answer = await new Promise<{ bytes: string; closed: boolean }>((resolve, reject) => {
        const chunks: Buffer[] = [];
        const socket = tcpConnect(s.server.mqttPort!, '127.0.0.1', () => socket.write(connect));
        socket.on('data', (d) => chunks.push(d));
        socket.on('error', reject);
        socket.on('close', () =>
          resolve({ bytes: Buffer.concat(chunks).toString('hex'), closed: true }),
        );
      });
      assert.deepEqual(answer, { bytes: '20020001', closed: true });
      assert.equal(await rejected(s, 'auth_failed'), failed, 'no login was checked or counted');
      // The same device with MQTT 3.1.1 gets in.
      (await raw(device)).end(true);
    });
  });

  describe('topic permissions', () => {
    it('refuses publishing into another device’s topics: nothing reaches it, the server ignores it, the publisher is cut off', async () => {
      const mallory = await newDevice();
      const victim = await newDevice();
      const victimAgent = await agent(victim);
      const commands: unknown[] = [];
      victimAgent.on('command', (c) => commands.push(c));
      const seen: InboundEvent[] = [];
      s.server.app.get(DeviceGateway).events.subscribe((e) => seen.push(e));

      const m = await raw(mallory);
      const closed = new Promise<void>((resolve) => m.once('close', () => resolve()));
      const before = await rejected(s, 'acl_publish');
      const forged = {
        v: PROTOCOL_VERSION,
        type: 'delivery',
        id: 'x1',
        ts: Date.now(),
        deliveryId: 'd-1',
        state: 'played',
      };
      m.publish(`${P}/d/${victim.id}/evt`, JSON.stringify(forged), { qos: 1 });
      await closed;
      const m2 = await raw(mallory);
      const closed2 = new Promise<void>((resolve) => m2.once('close', () => resolve()));
      m2.publish(
        `${P}/d/${victim.id}/cmd`,
        JSON.stringify({ v: 1, type: 'ping', id: 'p1', ts: Date.now() }),
        { qos: 1 },
      );
      await closed2;
      assert.equal((await rejected(s, 'acl_publish')) - before, 2);

      // A ping through the server proves the victim's command topic works and only carried that
      // (and the server's own `keys` and `config`, which every device gets as it comes online).
      const ping = await client.post(`/api/devices/${victim.id}/ping`).expect(200);
      assert.ok(ping.body.roundTripMs >= 0);
      assert.deepEqual(
        commands
          .map((c) => (c as { type: string }).type)
          .filter((t) => t !== 'config' && t !== 'keys'),
        ['ping'],
      );
      assert.ok(
        !seen.some((e) => e.message.id === 'x1'),
        'the forged event never reached the server',
      );
    });

    it('closes a connection at its first foreign subscription: a flood of 10,000 in 102 packets costs one check', async () => {
      const mallory = await newDevice();
      const victim = await newDevice();
      await agent(victim);
      const before = await rejected(s, 'acl_subscribe');
      const { conn, returnCode } = await rawMqttConnect(s.server.mqttPort!, {
        clientId: mallory.id,
        username: mallory.id,
        password: mallory.secret,
      });
      assert.equal(returnCode, 0);
      // 10,000 foreign filters (the victim's commands, wildcards, other prefixes), in one write.
      const foreign = (i: number) =>
        [`${P}/d/${victim.id}/cmd`, `${P}/d/+/cmd`, '#', `${P}/d/x${i}/cmd`][i % 4];
      const flood: Buffer[] = [];
      for (let p = 0; p < 102; p++) {
        const topics = [];
        for (let i = p * 98; i < Math.min(10_000, (p + 1) * 98); i++) topics.push(foreign(i));
        flood.push(subscribePacket(p + 1, topics));
      }
      conn.write(Buffer.concat(flood));
      const answer = await conn.nextPacket(9).then(
        () => 'a SUBACK',
        () => 'closed',
      );
      assert.equal(answer, 'closed');
      assert.equal(
        conn.packets.filter((p) => p.type === 9).length,
        0,
        'no SUBACK: closed at the first packet',
      );
      assert.equal((await rejected(s, 'acl_subscribe')) - before, 1, 'one refusal counted');
      // The device itself, with its own subscription, is served as before.
      const m = await raw(mallory);
      assert.equal(await subackCode(m, `${P}/d/${mallory.id}/cmd`), 1);
      const received: string[] = [];
      m.on('message', (topic) => received.push(topic));
      await client.post(`/api/devices/${victim.id}/ping`).expect(200);
      assert.deepEqual(received, [], 'nothing of the victim reached it');
    });

    it(`caps subscriptions per connection at ${MAX_SUBSCRIPTIONS_PER_CONNECTION}: a device needs one, the next closes it`, async () => {
      const device = await newDevice();
      const { conn } = await rawMqttConnect(s.server.mqttPort!, {
        clientId: device.id,
        username: device.id,
        password: device.secret,
      });
      const before = await rejected(s, 'too_many_subscriptions');
      const own = `${P}/d/${device.id}/cmd`;
      for (let i = 1; i <= MAX_SUBSCRIPTIONS_PER_CONNECTION; i++) {
        conn.write(subscribePacket(i, [own]));
        assert.deepEqual([...(await conn.nextPacket(9))], [0, i, 1], `SUBACK ${i}`);
      }
      conn.write(subscribePacket(999, [own]));
      const answer = await conn.nextPacket(9).then(
        () => 'a SUBACK',
        () => 'closed',
      );
      assert.equal(answer, 'closed');
      assert.equal(
        conn.packets.filter((p) => p.type === 9).length,
        MAX_SUBSCRIPTIONS_PER_CONNECTION,
      );
      assert.equal((await rejected(s, 'too_many_subscriptions')) - before, 1);
    });
  });

  describe('presence', () => {
    it('counts a device once in dalaba_devices_online when it reconnects before its old session ends', async () => {
      const device = await newDevice();
      const presence = s.server.app.get(PresenceService);
      const metric = async () =>
        Number(
          /^dalaba_devices_online (\d+)$/m.exec((await request(s.url).get('/metrics')).text)?.[1],
        );
      const before = await metric();
      const hello = {
        deviceType: 'village_loudspeaker' as const,
        firmware: 't',
        codecs: ['mp3'],
        volume: 50,
      };
      const online = (session: string) =>
        presence.recordState(
          device.id,
          { v: 1, type: 'state', id: session, ts: Date.now(), status: 'online', session, hello },
          Date.now(),
        );
      online('first-session');
      online('second-session'); // no offline in between: announced online twice
      assert.equal(await metric(), before + 1);
      presence.recordState(
        device.id,
        {
          v: 1,
          type: 'state',
          id: 'x',
          ts: Date.now(),
          status: 'offline',
          session: 'second-session',
        },
        Date.now(),
      );
      assert.equal(await metric(), before);
    });

    it('marks a device offline from its Last Will when its connection drops abruptly', async () => {
      const device = await newDevice();
      const a = await agent(device);
      const offline = nextPresence(s, (c) => c.deviceId === device.id && !c.online);
      a.kill();
      const change = await offline;
      assert.equal(change.reason, 'offline');
      await s.server.app.get(PresenceService).flush();
      const history = (await client.get(`/api/devices/${device.id}/presence`).expect(200)).body;
      assert.equal(history[0].endReason, 'offline');
      assert.ok(history[0].endedAt);
    });

    it('marks a device offline when it stays silent for three heartbeat intervals, Will or not', async () => {
      const device = await newDevice();
      await agent(device, { heartbeatIntervalS: 3600 });
      const presence = s.server.app.get(PresenceService);
      assert.equal(presence.get(device.id)?.online, true);
      const offline = nextPresence(s, (c) => c.deviceId === device.id && !c.online);
      const later = new Date(Date.now() + presence.silenceLimitMs + 1000);
      assert.ok(presence.sweep(later) >= 1);
      assert.equal((await offline).reason, 'timeout');
      // Any message brings it back.
      const back = nextPresence(s, (c) => c.deviceId === device.id && c.online);
      await client.post(`/api/devices/${device.id}/volume`).send({ volume: 30 }).expect(200);
      await back;
    });

    it('after a silence timeout only a valid message brings a device back: not an offline state, a refused message or a keep-alive', async () => {
      const device = await newDevice();
      const c = await raw(device);
      const presence = s.server.app.get(PresenceService);
      const metrics = s.server.app.get(MetricsService);
      const accepted = async (kind: string) =>
        (await metrics.mqttAccepted.get()).values.find((v) => v.labels.kind === kind)?.value ?? 0;
      const topic = (kind: string) => `${P}/d/${device.id}/${kind}`;
      const state = (status: string, id: string) =>
        JSON.stringify({ v: 1, type: 'state', id, ts: Date.now(), status, session: 'quiet' });
      const online = nextPresence(s, (ch) => ch.deviceId === device.id && ch.online);
      await c.publishAsync(topic('state'), state('online', 's1'), { qos: 1 });
      await online;
      const offline = nextPresence(s, (ch) => ch.deviceId === device.id && !ch.online);
      presence.sweep(new Date(Date.now() + presence.silenceLimitMs + 1000));
      assert.equal((await offline).reason, 'timeout');

      const invalid = await rejected(s, 'invalid');
      const bad = { v: 1, type: 'telemetry', id: 't0', ts: Date.now(), batteryPct: 900 };
      await c.publishAsync(topic('telemetry'), JSON.stringify(bad), { qos: 1 });
      await eventually(async () => (await rejected(s, 'invalid')) > invalid, 5000, 'refused');
      const states = await accepted('state');
      await c.publishAsync(topic('state'), state('offline', 's2'), { qos: 1 });
      await eventually(async () => (await accepted('state')) > states, 5000, 'the offline state');
      // An MQTT keep-alive (PINGREQ) ends at the broker.
      const pong = new Promise<void>((resolve) =>
        c.on('packetreceive', (packet) => packet.cmd === 'pingresp' && resolve()),
      );
      c.stream.write(Buffer.from([0xc0, 0x00]));
      await pong;
      assert.equal(presence.get(device.id)?.online, false, 'still offline');

      const back = nextPresence(s, (ch) => ch.deviceId === device.id && ch.online);
      const good = { v: 1, type: 'telemetry', id: 't1', ts: Date.now(), volume: 50 };
      await c.publishAsync(topic('telemetry'), JSON.stringify(good), { qos: 0 });
      await back;
    });

    it('keeps one presence interval when telemetry overtakes the retained online state', async () => {
      const device = await newDevice();
      const c = await raw(device);
      const presence = s.server.app.get(PresenceService);
      const online = nextPresence(s, (ch) => ch.deviceId === device.id && ch.online);
      // QoS 0 telemetry may arrive before the QoS 1 state: here it is sent first on purpose.
      await c.publishAsync(
        `${P}/d/${device.id}/telemetry`,
        JSON.stringify({ v: 1, type: 'telemetry', id: 't1', ts: Date.now(), volume: 40 }),
        { qos: 0 },
      );
      await online;
      const since = presence.get(device.id)?.onlineSince;
      const hello = {
        deviceType: 'village_loudspeaker',
        firmware: 'f',
        codecs: ['mp3'],
        volume: 40,
      };
      const state = { v: 1, type: 'state', ts: Date.now(), status: 'online', session: 'early-t' };
      await c.publishAsync(
        `${P}/d/${device.id}/state`,
        JSON.stringify({ ...state, id: 's1', hello }),
        { qos: 1, retain: true },
      );
      await eventually(() => presence.get(device.id)?.session === 'early-t', 5000, 'the state');
      assert.equal(presence.get(device.id)?.onlineSince, since, 'the state adopted the interval');
      assert.equal(presence.get(device.id)?.firmware, 'f');
      await presence.flush();
      const history = (await client.get(`/api/devices/${device.id}/presence`).expect(200)).body;
      assert.equal(history.length, 1, JSON.stringify(history));
      assert.equal(history[0].endedAt, null);
      // The adopted session is the current one: its Will (or offline) ends the interval.
      const offline = nextPresence(s, (ch) => ch.deviceId === device.id && !ch.online);
      await c.publishAsync(
        `${P}/d/${device.id}/state`,
        JSON.stringify({ ...state, id: 's2', status: 'offline' }),
        { qos: 1, retain: true },
      );
      assert.equal((await offline).reason, 'offline');
    });

    it('ignores the late Will of an older connection once the device has reconnected', async () => {
      const device = await newDevice();
      const presence = s.server.app.get(PresenceService);
      const now = Date.now();
      const state = (status: 'online' | 'offline', session: string) => ({
        v: 1 as const,
        type: 'state' as const,
        id: `${session}-${status}`,
        ts: now,
        status,
        session,
      });
      presence.recordState(device.id, state('online', 's1'), now);
      presence.recordState(device.id, state('online', 's2'), now + 1);
      presence.recordState(device.id, state('offline', 's1'), now + 2);
      assert.equal(presence.get(device.id)?.online, true);
      presence.recordState(device.id, state('offline', 's2'), now + 3);
      assert.equal(presence.get(device.id)?.online, false);
    });

    it('shows each village with its devices online and its worst problem', async () => {
      const town = await fx.newTown();
      const quiet = await fx.newVillage(town.code);
      const half = await fx.newVillage(town.code);
      const empty = await fx.newVillage(town.code);
      const up = await fx.newDevice(half.code, { type: 'flood_pa' });
      await fx.newDevice(half.code, { type: 'village_loudspeaker' });
      await fx.newDevice(quiet.code);
      await agent(up, { deviceType: 'flood_pa' });
      const board = (await client.get(`/api/status/villages?town=${town.code}`).expect(200)).body;
      const byCode = Object.fromEntries(board.items.map((v: { code: string }) => [v.code, v]));
      assert.equal(byCode[empty.code].problem, 'no_devices');
      assert.equal(byCode[quiet.code].problem, 'all_offline');
      assert.equal(byCode[half.code].problem, 'some_offline');
      assert.deepEqual(byCode[half.code].byType, {
        village_loudspeaker: { total: 1, online: 0 },
        flood_pa: { total: 1, online: 1 },
      });
      assert.ok(byCode[half.code].lastHeardAt);
      assert.deepEqual(board.summary, {
        commandSigning: 'optional',
        securityEvents: 0,
        villages: 3,
        villagesOk: 0,
        devicesTotal: 3,
        devicesOnline: 1,
        typeMismatches: 0,
      });
      const filtered = (
        await client.get(`/api/status/villages?town=${town.code}&problem=all_offline`).expect(200)
      ).body;
      assert.deepEqual(
        filtered.items.map((v: { code: string }) => v.code),
        [quiet.code],
      );
      // The text filter (name or code prefix), with the town's name on each row.
      const byName = (
        await client
          .get(`/api/status/villages?town=${town.code}&q=${encodeURIComponent(half.name)}`)
          .expect(200)
      ).body;
      assert.deepEqual(
        byName.items.map((v: { code: string; townName: string }) => [v.code, v.townName]),
        [[half.code, town.name]],
      );
      const byPrefix = (await client.get(`/api/status/villages?q=${empty.code}`).expect(200)).body;
      assert.deepEqual(
        byPrefix.items.map((v: { code: string }) => v.code),
        [empty.code],
      );
      await client.get('/api/status/villages?problem=broken').expect(400);
    });
  });

  describe('a device that says it is another type', () => {
    it('is flagged on the village board and in its DTO, logged once with both types, and still served', async () => {
      const town = await fx.newTown();
      const here = await fx.newVillage(town.code);
      const odd = await fx.newDevice(here.code, { type: 'village_loudspeaker' });
      const fine = await fx.newDevice(here.code, { type: 'flood_pa' });
      await agent(odd, { deviceType: 'flood_pa' });
      await agent(fine, { deviceType: 'flood_pa' });

      const detail = (await client.get(`/api/devices/${odd.id}`).expect(200)).body;
      assert.equal(detail.typeMismatch, true);
      assert.equal(detail.type, 'village_loudspeaker');
      assert.equal(detail.presence.reportedType, 'flood_pa');
      assert.equal(
        (await client.get(`/api/devices/${fine.id}`).expect(200)).body.typeMismatch,
        false,
      );
      const list = (await client.get(`/api/devices?village=${here.code}`).expect(200)).body;
      assert.deepEqual(
        Object.fromEntries(
          list.items.map((d: { id: string; typeMismatch: boolean }) => [d.id, d.typeMismatch]),
        ),
        { [odd.id]: true, [fine.id]: false },
      );
      const board = async () =>
        (await client.get(`/api/status/villages?town=${town.code}`).expect(200)).body;
      const before = await board();
      assert.deepEqual(before.items[0].typeMismatches, [
        { deviceId: odd.id, registeredType: 'village_loudspeaker', reportedType: 'flood_pa' },
      ]);
      assert.equal(before.items[0].problem, null, 'not a presence problem');
      assert.equal(before.summary.typeMismatches, 1);

      const warned = () =>
        s
          .logs()
          .filter(
            (l) =>
              l.level === 40 &&
              l.msg.includes(`device=${odd.id}`) &&
              l.msg.includes('registered=village_loudspeaker reported=flood_pa'),
          );
      await eventually(() => warned().length > 0, 5000, 'the warning');
      assert.equal(warned().length, 1);
      assert.ok(!s.logs().some((l) => l.level === 40 && l.msg.includes(`device=${fine.id}`)));

      // Delivery is not affected: it still gets and answers commands.
      await client.post(`/api/devices/${odd.id}/ping`).expect(200);
      // Registering it as what it is clears the flag.
      await client.patch(`/api/devices/${odd.id}`).send({ type: 'flood_pa' }).expect(200);
      assert.equal(
        (await client.get(`/api/devices/${odd.id}`).expect(200)).body.typeMismatch,
        false,
      );
      const after = await board();
      assert.deepEqual(after.items[0].typeMismatches, []);
      assert.equal(after.summary.typeMismatches, 0);
    });
  });

  describe('bad input', () => {
    it('refuses each kind of bad message, counts it by reason, logs it, and changes nothing', async () => {
      const device = await newDevice();
      const c = await raw(device);
      const online = nextPresence(s, (ch) => ch.deviceId === device.id && ch.online);
      const hello = {
        deviceType: 'village_loudspeaker',
        firmware: 'raw',
        codecs: ['mp3'],
        volume: 5,
      };
      await c.publishAsync(
        `${P}/d/${device.id}/state`,
        JSON.stringify({
          v: 1,
          type: 'state',
          id: 'on',
          ts: Date.now(),
          status: 'online',
          session: 'raw1',
          hello,
        }),
        { qos: 1 },
      );
      await online;
      const presence = s.server.app.get(PresenceService);
      const cases: [string, string, string | Buffer][] = [
        ['bad_json', 'state', '{"v":1,"type":"state",'],
        ['not_object', 'state', '"offline"'],
        [
          'bad_version',
          'state',
          JSON.stringify({ v: 2, type: 'state', id: 'a', ts: 1, status: 'offline', session: 'x' }),
        ],
        ['unknown_type', 'evt', JSON.stringify({ v: 1, type: 'selfdestruct', id: 'a', ts: 1 })],
        [
          'wrong_topic',
          'evt',
          JSON.stringify({ v: 1, type: 'state', id: 'a', ts: 1, status: 'offline', session: 'x' }),
        ],
        [
          'invalid',
          'state',
          JSON.stringify({ v: 1, type: 'state', id: 'a', ts: 1, status: 'offline' }),
        ],
        [
          'invalid',
          'telemetry',
          JSON.stringify({ v: 1, type: 'telemetry', id: 'a', ts: 1, batteryPct: 900 }),
        ],
        [
          'too_large',
          'state',
          JSON.stringify({
            v: 1,
            type: 'state',
            id: 'a',
            ts: 1,
            status: 'offline',
            session: 'x'.repeat(4200),
          }),
        ],
      ];
      for (const [reason, kind, payload] of cases) {
        const before = await rejected(s, reason as never);
        await c.publishAsync(`${P}/d/${device.id}/${kind}`, payload, { qos: 1 });
        await eventually(async () => (await rejected(s, reason as never)) > before, 5000, reason);
      }
      assert.equal(presence.get(device.id)?.online, true, 'no bad message marked it offline');
      const logs = s
        .logs()
        .filter(
          (l) =>
            l.context === 'mqtt' &&
            typeof l.msg === 'string' &&
            l.msg.includes(`device=${device.id}`),
        );
      assert.ok(
        logs.some((l) => /bad_json/.test(l.msg)) && logs.some((l) => /too_large/.test(l.msg)),
        'rejections are logged with the device id',
      );
      // A device repeating itself is logged once per minute and reason, not once per message.
      const badJsonLines = () =>
        s
          .logs()
          .filter(
            (l) =>
              typeof l.msg === 'string' && l.msg.includes(`device=${device.id} state: bad_json`),
          ).length;
      const linesBefore = badJsonLines();
      const countBefore = await rejected(s, 'bad_json');
      for (let i = 0; i < 12; i++)
        await c.publishAsync(`${P}/d/${device.id}/state`, '{oops', { qos: 1 });
      await eventually(
        async () => (await rejected(s, 'bad_json')) - countBefore === 12,
        5000,
        'all counted',
      );
      assert.equal(badJsonLines(), linesBefore, '12 more bad messages, no more log lines');
      const metrics = (await api(s.url).get('/metrics').expect(200)).text;
      assert.match(metrics, /dalaba_mqtt_rejected_total\{reason="bad_json"\} [1-9]/);
    });

    it('closes the connection of a client that announces an oversized packet', async () => {
      const device = await newDevice();
      const c = await raw(device);
      const before = await rejected(s, 'too_large');
      const closed = new Promise<void>((resolve) => c.once('close', () => resolve()));
      c.publish(`${P}/d/${device.id}/telemetry`, Buffer.alloc(64 * 1024, 0x20), { qos: 0 });
      await closed;
      assert.ok((await rejected(s, 'too_large')) > before);
    });

    it('takes packets of up to 5120 bytes after the fixed header (payload 4096 + 1024) and closes the connection at 5121', async () => {
      const device = await newDevice();
      const topic = `${P}/d/${device.id}/telemetry`;
      // A QoS 1 PUBLISH after its fixed header: topic length (2), topic, packet id (2), payload.
      const publishOf = (remainingLength: number) =>
        Buffer.alloc(remainingLength - (2 + Buffer.byteLength(topic) + 2), 0x20);
      const c = await raw(device);
      const tooLarge = await rejected(s, 'too_large');
      await c.publishAsync(topic, publishOf(5120), { qos: 1 });
      assert.equal(c.connected, true, 'at the limit: acknowledged, still connected');
      // Its payload is over 4096 bytes, so the server drops it as too large, without closing.
      await eventually(async () => (await rejected(s, 'too_large')) === tooLarge + 1);
      const closed = new Promise<void>((resolve) => c.once('close', () => resolve()));
      c.publish(topic, publishOf(5121), { qos: 1 });
      await closed;
      assert.equal(await rejected(s, 'too_large'), tooLarge + 2);
    });

    it('drops a flood from one device without slowing another device down', async () => {
      const noisy = await newDevice();
      const calm = await newDevice();
      const c = await raw(noisy);
      const calmAgent = await agent(calm);
      const before = await rejected(s, 'rate_limited');
      const telemetry = (i: number) =>
        JSON.stringify({ v: 1, type: 'telemetry', id: `f${i}`, ts: Date.now(), volume: 10 });
      await Promise.all(
        Array.from({ length: 300 }, (_, i) =>
          c.publishAsync(`${P}/d/${noisy.id}/telemetry`, telemetry(i), { qos: 1 }),
        ),
      );
      await eventually(
        async () => (await rejected(s, 'rate_limited')) - before >= 250,
        5000,
        'flood dropped',
      );
      const ping = await client.post(`/api/devices/${calm.id}/ping`).expect(200);
      assert.ok(
        ping.body.roundTripMs < 2000,
        `the calm device still answers (${ping.body.roundTripMs} ms)`,
      );
      assert.ok(calmAgent.connected);
    });

    it('answers volume and ping through the API, and refuses them for offline or unknown devices', async () => {
      const device = await newDevice();
      await agent(device);
      const ack = await client
        .post(`/api/devices/${device.id}/volume`)
        .send({ volume: 35 })
        .expect(200);
      assert.deepEqual(ack.body, { ok: true });
      await eventually(
        async () => (await client.get(`/api/devices/${device.id}`)).body.presence.volume === 35,
      );
      const offline = await newDevice();
      assert.equal(
        (await client.post(`/api/devices/${offline.id}/ping`).expect(409)).body.error,
        'DEVICE_OFFLINE',
      );
      await client.post('/api/devices/nope/ping').expect(404);
      await client.post(`/api/devices/${device.id}/volume`).send({ volume: 101 }).expect(400);
      const viewer = (
        await client.post('/api/tokens').send({ name: 'v', role: 'viewer' }).expect(201)
      ).body.token;
      await api(s.url, viewer).post(`/api/devices/${device.id}/ping`).expect(403);
    });

    it('takes the commanded volume as the reported one as soon as the device acks it', async () => {
      const device = await newDevice();
      const c = await raw(device);
      await c.subscribeAsync(`${P}/d/${device.id}/cmd`, { qos: 1 });
      let refuse = false;
      // Acks and nothing else: no telemetry follows that could carry the new volume.
      c.on('message', (_topic, payload) => {
        const cmd = JSON.parse(payload.toString()) as { type: string; id: string };
        const ack = { v: 1, type: 'ack', id: `a-${cmd.id}`, ts: Date.now(), ref: cmd.id };
        void c.publishAsync(
          `${P}/d/${device.id}/evt`,
          JSON.stringify(
            refuse ? { ...ack, ok: false, reason: 'amplifier fault' } : { ...ack, ok: true },
          ),
          { qos: 1 },
        );
      });
      const online = nextPresence(s, (ch) => ch.deviceId === device.id && ch.online);
      const hello = {
        deviceType: 'village_loudspeaker',
        firmware: 'f',
        codecs: ['mp3'],
        volume: 80,
      };
      await c.publishAsync(
        `${P}/d/${device.id}/state`,
        JSON.stringify({
          v: 1,
          type: 'state',
          id: 's',
          ts: Date.now(),
          status: 'online',
          session: 'vol',
          hello,
        }),
        { qos: 1, retain: true },
      );
      await online;
      const volume = async () =>
        (await client.get(`/api/devices/${device.id}`).expect(200)).body.presence.volume;
      assert.equal(await volume(), 80);
      const ack = await client
        .post(`/api/devices/${device.id}/volume`)
        .send({ volume: 35 })
        .expect(200);
      assert.deepEqual(ack.body, { ok: true });
      assert.equal(await volume(), 35, 'at once, not at the next telemetry');
      refuse = true;
      const nack = await client
        .post(`/api/devices/${device.id}/volume`)
        .send({ volume: 90 })
        .expect(200);
      assert.deepEqual(nack.body, { ok: false, reason: 'amplifier fault' });
      assert.equal(await volume(), 35, 'a refused volume changes nothing');
    });

    it('answers a ping nobody answers with 504 after 5 s, logged as one warn line without a stack', async () => {
      const device = await newDevice();
      const c = await raw(device);
      const online = nextPresence(s, (ch) => ch.deviceId === device.id && ch.online);
      const state = {
        v: 1,
        type: 'state',
        id: 's',
        ts: Date.now(),
        status: 'online',
        session: 'mute',
      };
      // Online, but it never subscribes to its commands: the ping goes unanswered.
      await c.publishAsync(`${P}/d/${device.id}/state`, JSON.stringify(state), { qos: 1 });
      await online;
      const res = await client.post(`/api/devices/${device.id}/ping`).expect(504);
      assert.equal(res.body.error, 'DEVICE_NO_ANSWER');
      assert.equal(res.body.message, `Device ${device.id} did not answer within 5000 ms`);
      const requestId = res.headers['x-request-id'];
      let lines: ReturnType<TestServer['logs']> = [];
      await eventually(() => {
        lines = s.logs().filter((l) => l.reqId === requestId);
        return lines.some((l) => l.level >= 40);
      });
      assert.deepEqual(
        lines.filter((l) => l.level >= 40).map((l) => l.level),
        [40],
        `one warn line, no error: ${JSON.stringify(lines)}`,
      );
      const warn = lines.find((l) => l.level === 40)!;
      assert.match(JSON.stringify(warn), new RegExp(`DEVICE_NO_ANSWER.*${device.id}`));
      assert.ok(!('err' in warn) && !('stack' in warn), `no stack: ${JSON.stringify(warn)}`);
      assert.doesNotMatch(JSON.stringify(lines), /\n\s+at /, 'no stack trace in any line');
    });

    it('hands valid device events to the rest of the server', async () => {
      const device = await newDevice();
      const c = await raw(device);
      const event = next(s.server.app.get(DeviceGateway).events, (e) => e.deviceId === device.id);
      const msg = {
        v: 1,
        type: 'delivery',
        id: 'e1',
        ts: Date.now(),
        deliveryId: 'dl-1',
        state: 'received',
      };
      await c.publishAsync(`${P}/d/${device.id}/evt`, JSON.stringify(msg), { qos: 1 });
      const got = await event;
      assert.deepEqual(got.message, msg);
      assert.ok(got.receivedAt > 0);
    });
  });

  it('writes presence in batches: 2,000 devices coming online cost a handful of transactions', async () => {
    const presence = s.server.app.get(PresenceService);
    const writes = s.server.app.get(WriteQueue);
    // 2,000 real device rows in one go (one shared dummy hash: hashing 2,000 secrets would take a minute).
    const t = Date.now();
    await s.server.app.get(DevicesRepository).write((tx) =>
      tx.insert(
        Array.from({ length: 2000 }, (_, i) => ({
          id: `batch-${i}`,
          villageCode: village,
          type: 'flood_pa' as const,
          enabled: true,
          label: null,
          notes: null,
          secretHash: 'scrypt$16384$8$1$AA$AA',
          mqttPasswordHash: null,
          secretRotatedAt: t,
          createdAt: t,
          updatedAt: t,
        })),
      ),
    );
    await presence.flush();
    const before = writes.transactions;
    const now = Date.now();
    for (let i = 0; i < 2000; i++) {
      presence.recordState(
        `batch-${i}`,
        { v: 1, type: 'state', id: `b${i}`, ts: now, status: 'online', session: `s${i}` },
        now,
      );
    }
    await presence.flush();
    const used = writes.transactions - before;
    assert.ok(used >= 1 && used <= 3, `${used} transaction(s) for 2,000 devices`);
    const board = (await client.get(`/api/devices/batch-1999`).expect(200)).body;
    assert.equal(board.online, true);
  });

  it('serves MQTT over WebSocket too (MQTT_WS_PORT)', async () => {
    const device = await newDevice();
    const wsPort = s.server.app.get(DeviceGateway).ports.ws;
    assert.ok(wsPort, 'a WebSocket listener is up');
    const a = await startAgentOnline(s, `ws://127.0.0.1:${wsPort}`, device);
    agents.push(a);
  });

  it('reports the broker in readiness', async () => {
    const ready = (await api(s.url).get('/health/ready').expect(200)).body;
    assert.equal(ready.checks.mqtt.ok, true);
  });
});

describe('a login the embedded broker cannot check for now', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer();
  });
  afterAll(() => s.close());

  it('the reference agent keeps retrying with back-off on CONNACK 3 and gets in once logins can be checked', async () => {
    const fx = fixtures(s.url, s.adminToken);
    const village = (await fx.newVillage((await fx.newTown()).code)).code;
    const device = await fx.newDevice(village);
    // The registry cannot be read (a database outage): the broker answers 3, server unavailable.
    const devices = s.server.app.get(DevicesService);
    const verify = devices.verifySecret.bind(devices);
    devices.verifySecret = () => Promise.reject(new Error('database unavailable'));
    const lines: string[] = [];
    const agent = new DeviceAgent({
      url: mqttUrl(s),
      id: device.id,
      secret: device.secret,
      speed: 0,
      log: (line) => lines.push(line),
    });
    const failures: string[] = [];
    agent.on('connect-failed', (why: string) => failures.push(why));
    let authFailed = false;
    agent.on('auth-failed', () => (authFailed = true));
    const refusedOnce = new Promise<void>((resolve) =>
      agent.once('connect-failed', () => resolve()),
    );
    const online = nextPresence(s, (c) => c.deviceId === device.id && c.online);
    const started = agent.start();
    // Awaited below; a failure before then must fail this test, not surface as unhandled.
    for (const p of [started, online]) p.catch(() => undefined);
    try {
      await refusedOnce;
      assert.deepEqual(failures, ['3']);
      assert.ok(
        lines.some((l) => /server unavailable \(CONNACK 3\).*retrying in \d/i.test(l)),
        lines.join('\n'),
      );
      devices.verifySecret = verify; // the database is back
      await started;
      await online;
      assert.equal(authFailed, false, 'server unavailable is not a refused login');
      assert.ok(failures.every((f) => f === '3'));
    } finally {
      devices.verifySecret = verify;
      await agent.stop();
    }
  });
});

describe('a flood of wrong secrets for a real device id, from the device’s own address', () => {
  it('does not keep the device off the air: it connects with its secret, the flood backs off', async () => {
    const s = await startTestServer(); // the default limits
    const agents: DeviceAgent[] = [];
    let stop = false;
    const codes = new Map<number, number>();
    let flood: Promise<unknown> = Promise.resolve();
    try {
      const fx = fixtures(s.url, s.adminToken);
      const village = (await fx.newVillage((await fx.newTown()).code)).code;
      const device = await fx.newDevice(village);
      const port = s.server.mqttPort!;
      let n = 0;
      const attacker = async () => {
        while (!stop) {
          const code = await loginCode(port, { clientId: device.id, password: `guess-${n++}` });
          codes.set(code, (codes.get(code) ?? 0) + 1);
        }
      };
      flood = Promise.all(Array.from({ length: 8 }, attacker));
      await eventually(() => (codes.get(3) ?? 0) >= 50, 30_000, 'the flood to be backing off');

      // First contact since the server started (nothing remembered), then a reconnect, both
      // while the flood goes on.
      for (let round = 0; round < 2; round++) {
        const online = nextPresence(s, (c) => c.deviceId === device.id && c.online);
        const agent = new DeviceAgent({
          url: mqttUrl(s),
          id: device.id,
          secret: device.secret,
          speed: 0,
        });
        agents.push(agent);
        const refused = new Promise<string>((resolve) => {
          agent.once('connect-failed', (why: string) => resolve(`refused with CONNACK ${why}`));
          agent.once('auth-failed', () => resolve('refused: bad credentials'));
        });
        const connected = agent.start().then(() => 'connected');
        // Awaited below, or moot once the race is lost; never an unhandled rejection.
        for (const p of [connected, online]) p.catch(() => undefined);
        assert.equal(await Promise.race([connected, refused]), 'connected', `round ${round}`);
        await online;
        await agent.stop();
      }
      stop = true;
      await flood;
      assert.equal(codes.get(0) ?? 0, 0, 'no guess got in');
      // The free failures (10 by default), and the attempts already in flight when the last of them
      // was counted (one per attacker), were checked in full; the rest backed off.
      const checked = codes.get(4) ?? 0;
      assert.ok(checked <= 10 + 8, `${checked} wrong secrets answered 4`);
    } finally {
      stop = true;
      await flood.catch(() => undefined);
      await Promise.all(agents.map((a) => a.stop()));
      await s.close();
    }
  });
});
