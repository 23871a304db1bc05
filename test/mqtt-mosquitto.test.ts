import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { describe, it, beforeAll, afterAll } from '@jest/globals';
import mqtt, { type IConnackPacket, type MqttClient } from 'mqtt';
import { DeviceAgent } from '../devices/agent.js';
import { MetricsService } from '../src/metrics/metrics.service.js';
import { DeviceGateway, InboundEvent } from '../src/devices/device-gateway.js';
import { ExternalBroker } from '../src/mqtt/external-broker.js';
import { MqttTransport } from '../src/mqtt/transport.js';
import { runCli } from './support/cli.js';
import { fixtures } from './support/fixtures.js';
import {
  eventually,
  mqttUrl,
  nextPresence,
  PrivateMosquitto,
  rawClient,
  startAgentOnline,
  startMosquitto,
  subackCode,
} from './support/mqtt.js';
import { api, startTestServer, tempDir, TestServer } from './support/server.js';

const P = 'dalaba/v1';
const SERVER_PASSWORD = `srv-${randomBytes(12).toString('hex')}`;

interface Device {
  id: string;
  secret: string;
}

/** Registers three devices in a fresh data directory (through a short-lived embedded server). */
async function registry(): Promise<{
  dataDir: string;
  adminToken: string;
  a: Device;
  b: Device;
  disabled: Device;
}> {
  const s = await startTestServer();
  const fx = fixtures(s.url, s.adminToken);
  const village = (await fx.newVillage((await fx.newTown()).code)).code;
  const [a, b] = [await fx.newDevice(village), await fx.newDevice(village)];
  const disabled = await fx.newDevice(village, { enabled: false });
  await s.close();
  return { dataDir: s.dataDir, adminToken: s.adminToken, a, b, disabled };
}

/** Publishes at QoS 1 and waits for the PUBACK, or for the broker to close the connection instead. */
function publishOrClose(
  client: MqttClient,
  topic: string,
  payload: string,
): Promise<'acked' | 'closed'> {
  return new Promise((resolve) => {
    const onClose = () => resolve('closed');
    client.once('close', onClose);
    client.publish(topic, payload, { qos: 1 }, (err) => {
      client.off('close', onClose);
      resolve(err ? 'closed' : 'acked');
    });
  });
}

interface RuleResults {
  rightPassword: boolean;
  wrongPassword: boolean;
  unknownDevice: boolean;
  disabledDevice: boolean;
  foreignCommandDelivered: boolean;
  forgedEventReachedServer: boolean;
  foreignSubscriptionReceived: boolean;
}

/**
 * The allow/deny questions the issue asks of both brokers, answered by observing what is delivered
 * (not by return codes, which differ: Aedes closes a publisher it refuses and answers SUBACK 0x80;
 * Mosquitto drops the message and grants the subscription but delivers nothing).
 */
async function brokerRules(
  s: TestServer,
  url: string,
  reg: { a: Device; b: Device; disabled: Device; adminToken: string },
): Promise<RuleResults> {
  const { a, b, disabled } = reg;
  const connects = (o: { clientId: string; username: string; password: string }) =>
    rawClient(url, o).then(
      (c) => {
        c.end(true);
        return true;
      },
      () => false,
    );
  const results: Partial<RuleResults> = {};
  results.rightPassword = await connects({ clientId: a.id, username: a.id, password: a.secret });
  results.wrongPassword = await connects({
    clientId: a.id,
    username: a.id,
    password: 'wrong-wrong-wrong',
  });
  results.unknownDevice = await connects({
    clientId: 'ghost-device',
    username: 'ghost-device',
    password: a.secret,
  });
  results.disabledDevice = await connects({
    clientId: disabled.id,
    username: disabled.id,
    password: disabled.secret,
  });

  const victim: DeviceAgent = await startAgentOnline(s, url, b);
  const victimCommands: string[] = [];
  victim.on('command', (c: { id: string }) => victimCommands.push(c.id));
  const serverEvents: InboundEvent[] = [];
  const sub = s.server.app.get(DeviceGateway).events.subscribe((e) => serverEvents.push(e));
  try {
    // a publishes a command into b's topic and a forged confirmation into b's events.
    const mallory = await rawClient(url, { clientId: a.id, username: a.id, password: a.secret });
    const forgedCmd = { v: 1, type: 'ping', id: 'forged-cmd', ts: Date.now() };
    const forgedEvt = {
      v: 1,
      type: 'delivery',
      id: 'forged-evt',
      ts: Date.now(),
      deliveryId: 'dl-x',
      state: 'played',
    };
    await publishOrClose(mallory, `${P}/d/${b.id}/cmd`, JSON.stringify(forgedCmd));
    const mallory2 = await rawClient(url, { clientId: a.id, username: a.id, password: a.secret });
    await publishOrClose(mallory2, `${P}/d/${b.id}/evt`, JSON.stringify(forgedEvt));
    mallory.end(true);
    mallory2.end(true);
    // Positive control: a real command reaches b and b's answer reaches the server.
    await api(s.url, reg.adminToken).post(`/api/devices/${b.id}/ping`).expect(200);
    results.foreignCommandDelivered = victimCommands.includes('forged-cmd');
    results.forgedEventReachedServer = serverEvents.some((e) => e.message.id === 'forged-evt');

    // a subscribes to b's commands; the server then pings b, then a (on a's own topic). The
    // embedded broker closes the connection at the foreign subscription (a subscribes again on a
    // new one); Mosquitto grants it and delivers nothing.
    const spied: string[] = [];
    const spyOn = async () => {
      const c = await rawClient(url, { clientId: a.id, username: a.id, password: a.secret });
      c.on('message', (_t, payload) =>
        spied.push((JSON.parse(payload.toString()) as { id: string }).id),
      );
      return c;
    };
    let spy = await spyOn();
    const closed = await subackCode(spy, `${P}/d/${b.id}/cmd`).then(
      () => false,
      () => true,
    );
    if (closed) spy = await spyOn();
    await subackCode(spy, `${P}/d/${a.id}/cmd`);
    await api(s.url, reg.adminToken).post(`/api/devices/${b.id}/ping`).expect(200);
    await s.server.app
      .get(DeviceGateway)
      .sendCommand(a.id, { v: 1, type: 'ping', id: 'own-ping', ts: Date.now() });
    await eventually(() => spied.includes('own-ping'), 5000, 'a to receive its own command');
    results.foreignSubscriptionReceived = spied.some((id) => id !== 'own-ping');
    spy.end(true);
  } finally {
    sub.unsubscribe();
    await victim.stop();
  }
  return results as RuleResults;
}

const EXPECTED: RuleResults = {
  rightPassword: true,
  wrongPassword: false,
  unknownDevice: false,
  disabledDevice: false,
  foreignCommandDelivered: false,
  forgedEventReachedServer: false,
  foreignSubscriptionReceived: false,
};

describe('Mosquitto as the external broker', () => {
  let reg: Awaited<ReturnType<typeof registry>>;
  let mosquitto: PrivateMosquitto;
  let dir: string;
  beforeAll(async () => {
    reg = await registry();
    dir = join(tempDir(), 'mosquitto');
    const exported = await runCli(['mosquitto', 'export', '--out', dir], {
      DATA_DIR: reg.dataDir,
      MQTT_PASSWORD: SERVER_PASSWORD,
    });
    assert.equal(exported.code, 0, exported.stderr);
    assert.match(
      exported.stdout,
      /2 device\(s\)\), .*server-passwd \(user dalaba-server\)/,
      'the disabled device is left out',
    );
    mosquitto = await startMosquitto(dir);
  });
  afterAll(async () => {
    await mosquitto?.stop();
  });

  it('enforces the same allow/deny rules as the embedded broker', async () => {
    const embedded = await startTestServer({ dataDir: reg.dataDir, adminToken: reg.adminToken });
    let embeddedResults: RuleResults;
    try {
      embeddedResults = await brokerRules(embedded, mqttUrl(embedded), reg);
    } finally {
      await embedded.close();
    }
    const external = await startTestServer({
      dataDir: reg.dataDir,
      adminToken: reg.adminToken,
      env: {
        MQTT_URL: mosquitto.serverUrl,
        MQTT_PASSWORD: SERVER_PASSWORD,
        MQTT_CLIENT_ID: 'parity-server',
      },
    });
    let mosquittoResults: RuleResults;
    try {
      mosquittoResults = await brokerRules(external, mosquitto.url, reg);
    } finally {
      await external.close();
    }
    assert.deepEqual(embeddedResults, EXPECTED, 'embedded broker');
    assert.deepEqual(mosquittoResults, EXPECTED, 'Mosquitto with the exported files');
  });

  it('two servers on the exported files each keep their one connection (no client id collapsed)', async () => {
    const env = { MQTT_URL: mosquitto.serverUrl, MQTT_PASSWORD: SERVER_PASSWORD };
    const one = await startTestServer({ dataDir: reg.dataDir, adminToken: reg.adminToken, env });
    const two = await startTestServer({ dataDir: reg.dataDir, adminToken: reg.adminToken, env });
    const agent = await startAgentOnline(two, mosquitto.url, reg.b);
    try {
      // A command through each server reaches the device and its answer comes back.
      for (const s of [one, two]) {
        await eventually(
          async () => (await api(s.url).get('/health/ready')).status === 200,
          10_000,
          'ready',
        );
        await api(s.url, reg.adminToken).post(`/api/devices/${reg.b.id}/ping`).expect(200);
      }
      const connections = (s: TestServer) =>
        (s.server.app.get(MqttTransport) as ExternalBroker).connections;
      assert.deepEqual(
        [connections(one), connections(two)],
        [1, 1],
        'neither server was thrown out for the other',
      );
    } finally {
      await agent.stop();
      await one.close();
      await two.close();
    }
  });

  it('answers a refused login with CONNACK 5 and has no lock-out: after 12 failures the right secret gets in', async () => {
    const code = (password: string) =>
      rawClient(mosquitto.url, { clientId: reg.a.id, username: reg.a.id, password }).then(
        (c) => {
          c.end(true);
          return 0;
        },
        (err: { code?: number }) => err.code,
      );
    for (let i = 0; i < 12; i++) assert.equal(await code(`wrong-${i}`), 5);
    assert.equal(
      await rawClient(mosquitto.url, {
        clientId: 'ghost-device',
        username: 'ghost-device',
        password: 'x',
      }).catch((err: { code?: number }) => err.code),
      5,
      'an unknown device gets the same answer',
    );
    assert.equal(await code(reg.a.secret), 0);
  });

  it('accepts MQTT 5 as well as 3.1.1 with the exported files, and announces its packet limit', async () => {
    const connack = await new Promise<IConnackPacket>((resolve, reject) => {
      const v5 = mqtt.connect(mosquitto.url, {
        protocolVersion: 5,
        clientId: reg.a.id,
        username: reg.a.id,
        password: reg.a.secret,
        reconnectPeriod: 0,
      });
      v5.once('connect', (packet) => {
        v5.end(true);
        resolve(packet);
      });
      v5.once('error', reject);
    });
    assert.equal(connack.reasonCode, 0);
    assert.equal(connack.properties?.maximumPacketSize, 5120);
    const refused = await rawClient(mosquitto.url, {
      protocolVersion: 5,
      clientId: reg.a.id,
      username: reg.a.id,
      password: 'wrong-wrong',
    }).catch((err: { code?: number }) => err.code);
    assert.equal(refused, 135, 'MQTT 5 reason code 0x87, not authorized');
  });

  it('closes the connection of a packet over max_packet_size: nothing reaches the server, nothing is counted', async () => {
    const s = await startTestServer({
      dataDir: reg.dataDir,
      adminToken: reg.adminToken,
      env: {
        MQTT_URL: mosquitto.serverUrl,
        MQTT_PASSWORD: SERVER_PASSWORD,
        MQTT_CLIENT_ID: 'size-server',
      },
    });
    try {
      const metrics = s.server.app.get(MetricsService);
      const accepted = async () =>
        (await metrics.mqttAccepted.get()).values.find((v) => v.labels.kind === 'telemetry')
          ?.value ?? 0;
      const topic = `${P}/d/${reg.a.id}/telemetry`;
      const device = await rawClient(mosquitto.url, {
        clientId: reg.a.id,
        username: reg.a.id,
        password: reg.a.secret,
      });
      // A payload of exactly 4096 bytes (its packet well under 5120) gets through.
      const big = { v: 1, type: 'telemetry', id: 'big', ts: Date.now(), volume: 1 };
      const payload = JSON.stringify(big).padEnd(4096, ' ');
      assert.equal(Buffer.byteLength(payload), 4096);
      await device.publishAsync(topic, payload, { qos: 1 });
      await eventually(async () => (await accepted()) === 1, 5000, 'the 4096-byte telemetry');
      // 5121 bytes after the fixed header: topic length (2), topic, packet id (2), payload.
      const closed = new Promise<void>((resolve) => device.once('close', () => resolve()));
      device.publish(topic, Buffer.alloc(5121 - (2 + Buffer.byteLength(topic) + 2), 0x20), {
        qos: 1,
      });
      await closed;
      device.end(true);
      assert.equal(await metrics.rejected('too_large'), 0, 'the server never saw it');
    } finally {
      await s.close();
    }
  });

  it('reconnects and subscribes again after the broker restarts; devices come back online', async () => {
    const s = await startTestServer({
      dataDir: reg.dataDir,
      adminToken: reg.adminToken,
      env: {
        MQTT_URL: mosquitto.serverUrl,
        MQTT_PASSWORD: SERVER_PASSWORD,
        MQTT_CLIENT_ID: 'restart-server',
      },
    });
    const agent = await startAgentOnline(s, mosquitto.url, reg.b);
    try {
      await api(s.url).get('/health/ready').expect(200);
      await api(s.url, reg.adminToken).post(`/api/devices/${reg.b.id}/ping`).expect(200);

      await mosquitto.stop();
      await eventually(
        async () => (await api(s.url).get('/health/ready')).status === 503,
        10_000,
        'not ready while the broker is down',
      );
      const ready = (await api(s.url).get('/health/ready')).body;
      assert.equal(ready.checks.mqtt.ok, false);
      assert.match(ready.checks.mqtt.error, /not connected/);

      const backOnline = nextPresence(s, (c) => c.deviceId === reg.b.id && c.online, 30_000);
      await mosquitto.start();
      await eventually(
        async () => (await api(s.url).get('/health/ready')).status === 200,
        30_000,
        'ready again',
      );
      await backOnline;
      const ping = await api(s.url, reg.adminToken)
        .post(`/api/devices/${reg.b.id}/ping`)
        .expect(200);
      assert.ok(ping.body.roundTripMs >= 0, 'commands flow and answers arrive after the restart');
    } finally {
      await agent.stop();
      await s.close();
    }
  });
});

describe("the machine's Mosquitto on 127.0.0.1:1883", () => {
  it('two servers both hear every device message, each once', async () => {
    const reg = await registry();
    const prefix = `dalaba-test-${randomBytes(4).toString('hex')}/v1`;
    const env = (n: number) => ({
      MQTT_URL: 'mqtt://127.0.0.1:1883',
      MQTT_TOPIC_PREFIX: prefix,
      MQTT_CLIENT_ID: `share-test-${process.pid}-${n}`,
    });
    const one = await startTestServer({
      dataDir: reg.dataDir,
      adminToken: reg.adminToken,
      env: env(1),
    });
    const two = await startTestServer({
      dataDir: reg.dataDir,
      adminToken: reg.adminToken,
      env: env(2),
    });
    try {
      const device = await rawClient('mqtt://127.0.0.1:1883', {
        clientId: reg.a.id,
        username: reg.a.id,
        password: reg.a.secret,
      });
      const count = 40;
      for (let i = 0; i < count; i++) {
        const msg = { v: 1, type: 'telemetry', id: `t${i}`, ts: Date.now(), volume: 50 };
        await device.publishAsync(`${prefix}/d/${reg.a.id}/telemetry`, JSON.stringify(msg), {
          qos: 1,
        });
      }
      device.end(true);
      const accepted = async (s: TestServer) =>
        (await s.server.app.get(MetricsService).mqttAccepted.get()).values.find(
          (v) => v.labels.kind === 'telemetry',
        )?.value ?? 0;
      await eventually(
        async () => (await accepted(one)) >= count && (await accepted(two)) >= count,
        10_000,
        'all telemetry handled by both',
      );
      // Both know the device's presence at once; neither handles a message twice.
      assert.deepEqual([await accepted(one), await accepted(two)], [count, count]);
    } finally {
      await one.close();
      await two.close();
    }
  });
});
