import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { describe, it } from '@jest/globals';
import request from 'supertest';
import { MqttTransport } from '../src/mqtt/transport.js';
import { mqttUrl } from './support/mqtt.js';
import { spawnServer } from './support/process.js';
import { api, startTestServer, tempDir } from './support/server.js';

const ADMIN = 'shutdown-test-admin-token-0123456789';

describe('stopping the embedded broker', () => {
  // A thousand devices reconnecting the moment the broker closed their sessions used to land on
  // the still-open listener, where the closed broker never answered them: the shutdown hung.
  it('refuses connections that arrive while it stops, and finishes stopping', async () => {
    const s = await startTestServer();
    try {
      const port = Number(new URL(mqttUrl(s)).port);
      const stopping = s.server.app.get(MqttTransport).stop();
      const late = await new Promise<string>((resolve) => {
        const socket = connect(port, '127.0.0.1');
        socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
        socket.once('close', () => resolve('closed'));
      });
      assert.equal(late, 'ECONNREFUSED', 'the listener closed before the sessions');
      await stopping;
    } finally {
      await s.close();
    }
  }, 60_000);
});

describe('graceful shutdown on SIGTERM', () => {
  it('stops taking requests, finishes the one in flight and its writes, closes the database, exits 0', async () => {
    const dataDir = tempDir();
    const p = spawnServer({
      DATA_DIR: dataDir,
      PORT: '0',
      HOST: '127.0.0.1',
      ADMIN_TOKEN: ADMIN,
      SEED_SAMPLE: 'false',
    });
    const [, url] = await p.waitFor(/Dalaba is running on (http:\/\/\S+)/);
    const client = api(url, ADMIN);
    await client.post('/api/towns').send({ code: '611026100', name: '乾佑街道' }).expect(201);
    await client
      .post('/api/villages')
      .send({ code: '611026100201', name: '东沟村', townCode: '611026100' })
      .expect(201);

    // A devices import long enough to be in flight: each new device gets a slow-hashed secret.
    const count = 120;
    const csv = [
      'id,village_code,type',
      ...Array.from({ length: count }, (_, i) => `sd-${i},611026100201,flood_pa`),
    ].join('\n');
    const inFlight = client
      .post('/api/devices/import')
      .set('Content-Type', 'text/csv')
      .send(csv)
      .then((r) => r);
    await p.waitFor(/devices import: issuing 120 secret/);
    p.child.kill('SIGTERM');
    await p.waitFor(/SIGTERM: finishing requests and writes/);

    await assert.rejects(
      request(url).get('/health'),
      /ECONNREFUSED|ECONNRESET|socket hang up/,
      'new requests are refused',
    );
    const res = await inFlight;
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.created, count);
    assert.deepEqual(await p.exited, { code: 0, signal: null });

    // Everything the answered request wrote is on disk.
    const s = await startTestServer({ dataDir, adminToken: ADMIN });
    try {
      const devices = await api(s.url, ADMIN)
        .get('/api/devices?village=611026100201&limit=1')
        .expect(200);
      assert.equal(devices.body.total, count);
    } finally {
      await s.close();
    }
  });
});
