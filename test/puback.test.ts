import assert from 'node:assert/strict';
import { describe, it, beforeAll, afterAll } from '@jest/globals';
import mqtt, { MqttClient } from 'mqtt';
import { BroadcastsRepository, DeliveryChange } from '../src/broadcasts/broadcasts.repository.js';
import { MetricsService } from '../src/metrics/metrics.service.js';
import { createBroadcast, deliveriesOf, deliveryReached, newClip } from './support/broadcasts.js';
import { fixtures } from './support/fixtures.js';
import { mqttUrl, nextPresence, scriptedDevice } from './support/mqtt.js';
import { startTestServer, TestServer } from './support/server.js';
import { gate } from './support/gate.js';

/**
 * What a PUBACK to a device's delivery event means on the embedded broker: the event is stored.
 * The device forgets an event on its PUBACK, so one acknowledged before its batch committed was
 * lost for good when the server died in between (a village that heard the alert shown uncovered).
 */
describe('PUBACK of a delivery event (embedded broker)', () => {
  let s: TestServer;
  let fx: ReturnType<typeof fixtures>;
  let town: string;
  let clip: { id: string };
  const clients: MqttClient[] = [];
  const repo = () => s.server.app.get(BroadcastsRepository);
  const topic = (deviceId: string) => `dalaba/v1/d/${deviceId}/evt`;
  const event = (deliveryId: string, state: string, n: number) =>
    JSON.stringify({ v: 1, type: 'delivery', id: `pa-${n}`, ts: Date.now(), deliveryId, state });

  beforeAll(async () => {
    s = await startTestServer({ env: { ACK_TIMEOUT_S: '60' } });
    fx = fixtures(s.url, s.adminToken);
    town = (await fx.newTown()).code;
    clip = await newClip(s, 1);
  });

  afterAll(async () => {
    for (const c of clients) await c.endAsync(true);
    await s.close();
  });

  /** A device whose delivery of a new broadcast is `playing`, its client ready to say `played`. */
  async function playingDevice() {
    const device = await fx.newDevice((await fx.newVillage(town)).code);
    let id = '';
    const playing = deliveryReached(s, () => id, device.id, 'playing');
    const client = await scriptedDevice(s, device, ['received', 'ready', 'playing']);
    clients.push(client);
    id = (
      await createBroadcast(s, {
        title: 'puback',
        clipId: clip.id,
        level: 'I',
        attentionTone: false,
        target: { devices: [device.id] },
      })
    ).id;
    await playing;
    const [delivery] = await deliveriesOf(s, id);
    return { device, client, broadcastId: id, deliveryId: delivery.id };
  }

  it('goes out only after the delivery row says played', async () => {
    const { device, client, broadcastId, deliveryId } = await playingDevice();
    const r = repo();
    const writing = gate();
    const release = gate();
    const applyChanges = r.applyChanges.bind(r);
    r.applyChanges = async (changes: DeliveryChange[]) => {
      if (changes.some((c) => c.id === deliveryId && c.patch.state === 'played')) {
        writing.open();
        await release.opened;
      }
      return applyChanges(changes);
    };
    try {
      let acknowledged = false;
      const published = client
        .publishAsync(topic(device.id), event(deliveryId, 'played', 1), { qos: 1 })
        .then(() => (acknowledged = true));
      // The batch holding the event is being written (its 10 ms wait and reads behind it): a
      // PUBACK sent on receipt would have reached this process long before.
      await writing.opened;
      assert.equal(acknowledged, false, 'no PUBACK while the batch is not committed');
      assert.equal((await deliveriesOf(s, broadcastId))[0].state, 'playing');
      release.open();
      await published;
      // Read at once: what was acknowledged is stored.
      assert.equal((await deliveriesOf(s, broadcastId))[0].state, 'played');
    } finally {
      r.applyChanges = applyChanges;
      release.open();
    }
  });

  it('is sent for an event refused as bad, which is counted and not retried', async () => {
    const { device, client } = await playingDevice();
    const metrics = s.server.app.get(MetricsService);
    const unknownBefore = await metrics.deliveryEvents.get();
    const count = (v: Awaited<typeof unknownBefore>) =>
      v.values.find((x) => x.labels.result === 'unknown')?.value ?? 0;
    await client.publishAsync(
      topic(device.id),
      event('00000000-0000-4000-8000-000000000000', 'played', 2),
      { qos: 1 },
    );
    assert.equal(count(await metrics.deliveryEvents.get()), count(unknownBefore) + 1);
    assert.equal(client.connected, true, 'the device stays connected');
  });

  it('is withheld when the batch cannot be written: the device sends it again and it is stored', async () => {
    const { device, client: scripted, broadcastId: id, deliveryId } = await playingDevice();
    await scripted.endAsync();
    // A device as the protocol asks: it keeps the event until its PUBACK and reconnects.
    const online = nextPresence(s, (c) => c.deviceId === device.id && c.online);
    const client = await new Promise<MqttClient>((resolve, reject) => {
      const c = mqtt.connect(mqttUrl(s), {
        protocolVersion: 4,
        clientId: device.id,
        username: device.id,
        password: device.secret,
        reconnectPeriod: 100,
      });
      c.once('connect', () => resolve(c));
      c.once('error', reject);
    });
    clients.push(client);
    await client.publishAsync(
      `dalaba/v1/d/${device.id}/state`,
      JSON.stringify({
        v: 1,
        type: 'state',
        id: 'pr-hello',
        ts: Date.now(),
        status: 'online',
        session: 'pr',
        hello: { deviceType: 'village_loudspeaker', firmware: 't/1', codecs: ['mp3'], volume: 80 },
      }),
      { qos: 1, retain: true },
    );
    await online;
    const r = repo();
    const applyChanges = r.applyChanges.bind(r);
    // The database refuses the batch (and the event alone) until the connection closes.
    let down = true;
    let failures = 0;
    r.applyChanges = async (changes: DeliveryChange[]) => {
      if (down && changes.some((c) => c.id === deliveryId)) {
        failures++;
        throw new Error('database unavailable (test)');
      }
      return applyChanges(changes);
    };
    const closed = new Promise<void>((resolve) =>
      client.once('close', () => {
        down = false;
        resolve();
      }),
    );
    try {
      const published = client.publishAsync(topic(device.id), event(deliveryId, 'played', 3), {
        qos: 1,
      });
      const first = await Promise.race([
        closed.then(() => 'closed'),
        published.then(() => 'acknowledged'),
      ]);
      assert.equal(first, 'closed', 'not acknowledged: the write failed');
      assert.ok(failures > 0);
      await published; // sent again on the reconnect, and acknowledged once stored
      assert.equal((await deliveriesOf(s, id))[0].state, 'played');
    } finally {
      r.applyChanges = applyChanges;
    }
  });
});
