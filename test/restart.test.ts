import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DeviceAgent } from '../devices/agent.js';
import { makeAudio } from './support/audio.js';
import { eventually, freePort } from './support/mqtt.js';
import { spawnServer } from './support/process.js';
import { api, tempDir } from './support/server.js';

const ADMIN = 'restart-test-admin-token-0123456789';
const DEVICES = 12;

describe('SIGKILL of the server mid-broadcast', () => {
  it('resumes after a restart: every device plays once, no confirmation is lost', async () => {
    const dataDir = tempDir();
    const [httpPort, mqttPort] = [await freePort(), await freePort()];
    const url = `http://127.0.0.1:${httpPort}`;
    const env = {
      DATA_DIR: dataDir,
      PORT: String(httpPort),
      MQTT_PORT: String(mqttPort),
      HOST: '127.0.0.1',
      MQTT_HOST: '127.0.0.1',
      PUBLIC_URL: url,
      ADMIN_TOKEN: ADMIN,
      SEED_SAMPLE: 'false',
      DISPATCH_TICK_MS: '200',
      ACK_TIMEOUT_S: '1',
    };
    let server = spawnServer(env);
    await server.waitFor(/Dalaba is running/);
    const client = api(url, ADMIN);
    await client.post('/api/towns').send({ code: '610126100', name: '乾佑街道' }).expect(201);
    await client
      .post('/api/villages')
      .send({ code: '610126100201', name: '东沟村', townCode: '610126100' })
      .expect(201);
    const csv = [
      'id,village_code,type',
      ...Array.from({ length: DEVICES }, (_, i) => `rs-${i},610126100201,village_loudspeaker`),
    ].join('\n');
    const secrets = (
      await client.post('/api/devices/import').set('Content-Type', 'text/csv').send(csv).expect(200)
    ).body.secrets as { id: string; secret: string }[];
    const clip = (
      await client
        .post('/api/clips?wait=true')
        .attach('file', await makeAudio(tempDir(), 'restart', { signal: 'noise', seconds: 3 }))
        .expect(201)
    ).body;

    const agents = secrets.map(
      (d) =>
        new DeviceAgent({
          url: `mqtt://127.0.0.1:${mqttPort}`,
          id: d.id,
          secret: d.secret,
          speed: 1,
        }),
    );
    const plays = new Map<string, number>();
    for (const a of agents) a.on('playback', () => plays.set(a.id, (plays.get(a.id) ?? 0) + 1));
    try {
      await Promise.all(agents.map((a) => a.start()));
      await eventually(
        async () =>
          (await client.get('/api/status/villages')).body.summary.devicesOnline === DEVICES,
        15_000,
        'devices online',
      );
      const b = (
        await client
          .post('/api/broadcasts')
          .send({
            title: 'restart',
            clipId: clip.id,
            level: 'II',
            target: { all: true },
            attentionTone: false,
          })
          .expect(201)
      ).body;

      // Kill -9 while the devices are playing (a 3 s clip): nothing graceful happens.
      await eventually(() => plays.size >= DEVICES / 2, 15_000, 'devices playing');
      server.child.kill('SIGKILL');
      assert.equal((await server.exited).signal, 'SIGKILL');

      server = spawnServer(env);
      await server.waitFor(/Dalaba is running/);
      await eventually(
        async () => (await client.get(`/api/broadcasts/${b.id}`)).body.status === 'completed',
        60_000,
        'the broadcast to complete',
      );
      const deliveries = (
        await client.get(`/api/broadcasts/${b.id}/deliveries?limit=100`).expect(200)
      ).body.items as { state: string; deviceId: string }[];
      assert.equal(deliveries.length, DEVICES);
      assert.deepEqual(
        deliveries.filter((d) => d.state !== 'played'),
        [],
        'every confirmation arrived, including those sent while the server was down',
      );
      assert.equal(plays.size, DEVICES);
      assert.deepEqual(
        [...plays.values()].filter((n) => n !== 1),
        [],
        'no device played it twice because of the restart',
      );
    } finally {
      await Promise.all(agents.map((a) => a.stop()));
      server.child.kill('SIGTERM');
      await server.exited;
    }
  });
});
