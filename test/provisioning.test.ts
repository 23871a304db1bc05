import assert from 'node:assert/strict';
import { describe, it, beforeAll, afterAll } from '@jest/globals';
import QRCode from 'qrcode';
import { keyIdOf, isSignatureAlgorithm } from '../src/contract/signing.js';
import { ServerKeys } from '../src/signing/server-keys.js';
import { fixtures } from './support/fixtures.js';
import { mqttUrl, rawClient } from './support/mqtt.js';
import { api, startTestServer, TestServer, tokenFor } from './support/server.js';

interface Bundle {
  format: string;
  deviceId: string;
  secret: string | null;
  mqttUrl: string;
  topicPrefix: string;
  protocol: number;
  signing: { mode: string; keys: { kid: string; alg: string; publicKey: string }[] };
  serverTime: number;
  qr: string | null;
}

/**
 * The QR code is of the bundle's JSON (without `qr`): the same text rendered again gives the same
 * SVG, so the code a field installer scans carries exactly these fields.
 */
async function assertQrOf(bundle: Bundle): Promise<void> {
  const { qr, ...json } = bundle;
  assert.ok(qr, 'the bundle has a QR code');
  assert.match(qr, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"[^>]* viewBox="0 0 (\d+) \1"/);
  const expected = await QRCode.toString(JSON.stringify(json), {
    type: 'svg',
    errorCorrectionLevel: 'L',
    margin: 2,
  });
  assert.equal(qr, expected, 'the QR code encodes the bundle’s JSON');
}

function assertComplete(bundle: Bundle, deviceId: string, s: TestServer): void {
  assert.deepEqual(Object.keys(bundle).sort(), [
    'deviceId',
    'format',
    'mqttUrl',
    'protocol',
    'qr',
    'secret',
    'serverTime',
    'signing',
    'topicPrefix',
  ]);
  assert.equal(bundle.format, 'dalaba-provisioning/1');
  assert.equal(bundle.deviceId, deviceId);
  assert.equal(bundle.topicPrefix, 'dalaba/v1');
  assert.equal(bundle.protocol, 1);
  assert.equal(bundle.signing.mode, 'optional');
  assert.ok(bundle.signing.keys.length >= 1, 'at least the active key');
  for (const k of bundle.signing.keys) {
    assert.ok(isSignatureAlgorithm(k.alg), k.alg);
    assert.equal(k.kid, keyIdOf(k.alg, k.publicKey), 'kid matches the public key');
  }
  assert.ok(Math.abs(bundle.serverTime - s.clock.now().getTime()) < 60_000);
}

describe('provisioning bundles (embedded broker)', () => {
  let s: TestServer;
  let client: ReturnType<typeof api>;
  let village: string;

  beforeAll(async () => {
    s = await startTestServer();
    client = api(s.url, s.adminToken);
    const fx = fixtures(s.url, s.adminToken);
    village = (await fx.newVillage((await fx.newTown()).code)).code;
  });
  afterAll(() => s?.close());

  it('comes with a new device: its secret once, the broker, the prefix, the server’s keys, a QR code', async () => {
    const res = await client
      .post('/api/devices')
      .send({ id: 'prov-new-1', villageCode: village, type: 'flood_pa' })
      .expect(201);
    const bundle = res.body.provisioning as Bundle;
    assertComplete(bundle, 'prov-new-1', s);
    assert.equal(bundle.secret, res.body.secret);
    assert.equal(bundle.mqttUrl, mqttUrl(s));
    const published = await s.server.app.get(ServerKeys).published();
    assert.deepEqual(bundle.signing.keys, published.keys);
    await assertQrOf(bundle);
    // What the bundle says is enough to log in.
    const device = await rawClient(bundle.mqttUrl, {
      clientId: bundle.deviceId,
      username: bundle.deviceId,
      password: bundle.secret!,
    });
    await device.endAsync();
    assert.ok(!s.rawLogs.join('').includes(bundle.secret!), 'the secret is never logged');
  });

  it('reads back without the secret, and rotating gives a new secret in a new bundle', async () => {
    const created = (
      await client
        .post('/api/devices')
        .send({ id: 'prov-rot-1', villageCode: village, type: 'village_loudspeaker' })
        .expect(201)
    ).body;
    const read = (await client.get('/api/devices/prov-rot-1/provisioning').expect(200))
      .body as Bundle;
    assertComplete(read, 'prov-rot-1', s);
    assert.equal(read.secret, null);
    assert.ok(!JSON.stringify(read).includes(created.secret), 'no trace of the secret');
    await assertQrOf(read);

    const rotated = (await client.post('/api/devices/prov-rot-1/rotate-secret').expect(201)).body;
    const bundle = rotated.provisioning as Bundle;
    assertComplete(bundle, 'prov-rot-1', s);
    assert.equal(bundle.secret, rotated.secret);
    assert.notEqual(bundle.secret, created.secret);
    await assertQrOf(bundle);
    assert.equal(
      (await client.get('/api/devices/prov-rot-1/provisioning').expect(200)).body.secret,
      null,
    );
    assert.ok(!s.rawLogs.join('').includes(bundle.secret!), 'the secret is never logged');
  });

  it('is for operators: 403 for a viewer, 401 without a token, 404 unknown, 400 a bad id', async () => {
    await client
      .post('/api/devices')
      .send({ id: 'prov-auth-1', villageCode: village, type: 'village_loudspeaker' })
      .expect(201);
    const viewer = api(s.url, await tokenFor(s, 'viewer'));
    const denied = await viewer.get('/api/devices/prov-auth-1/provisioning').expect(403);
    assert.equal(denied.body.error, 'FORBIDDEN');
    await viewer.post('/api/devices/prov-auth-1/rotate-secret').expect(403);
    await api(s.url).get('/api/devices/prov-auth-1/provisioning').expect(401);
    const operator = api(s.url, await tokenFor(s, 'operator'));
    await operator.get('/api/devices/prov-auth-1/provisioning').expect(200);
    const missing = await operator.get('/api/devices/no-such-device/provisioning').expect(404);
    assert.equal(missing.body.error, 'DEVICE_NOT_FOUND');
    await operator.get('/api/devices/-bad/provisioning').expect(400);
  });
});

describe('provisioning bundles name the broker devices use, never the server’s credentials', () => {
  const cases: { name: string; env: Record<string, string>; expected: string }[] = [
    {
      name: 'an external broker: its host on the device listener, without the URL’s credentials',
      env: {
        MQTT_URL: 'mqtt://dalaba-server:url-password-4242@127.0.0.1:1883',
        MQTT_PASSWORD: 'server-password-9999',
        MQTT_CLIENT_ID: `prov-test-${process.pid}`,
        MQTT_TOPIC_PREFIX: `provtest${process.pid}/v1`,
      },
      expected: 'mqtt://127.0.0.1:1883',
    },
    {
      name: 'MQTT_PUBLIC_URL, credentials in it dropped',
      env: { MQTT_PUBLIC_URL: 'mqtts://installer:typo-pass-1@broker.county.example:8883' },
      expected: 'mqtts://broker.county.example:8883',
    },
    {
      name: 'the embedded broker on the host of PUBLIC_URL',
      env: { PUBLIC_URL: 'http://dalaba.county.example:3000' },
      expected: 'mqtt://dalaba.county.example:{port}',
    },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      const s = await startTestServer({ env: c.env });
      try {
        const fx = fixtures(s.url, s.adminToken);
        const village = (await fx.newVillage((await fx.newTown()).code)).code;
        const created = (
          await api(s.url, s.adminToken)
            .post('/api/devices')
            .send({ id: 'prov-broker-1', villageCode: village, type: 'village_loudspeaker' })
            .expect(201)
        ).body;
        for (const bundle of [
          created.provisioning as Bundle,
          (
            await api(s.url, s.adminToken)
              .get('/api/devices/prov-broker-1/provisioning')
              .expect(200)
          ).body as Bundle,
        ]) {
          assert.equal(bundle.mqttUrl, c.expected.replace('{port}', String(s.server.mqttPort)));
          if (c.env.MQTT_TOPIC_PREFIX) assert.equal(bundle.topicPrefix, c.env.MQTT_TOPIC_PREFIX);
          const text = JSON.stringify(bundle);
          for (const secret of [
            'url-password-4242',
            'server-password-9999',
            'dalaba-server',
            'typo-pass-1',
            'installer',
          ])
            assert.ok(!text.includes(secret), `the bundle does not hold ${secret}`);
          await assertQrOf(bundle);
        }
      } finally {
        await s.close();
      }
    });
  }
});
