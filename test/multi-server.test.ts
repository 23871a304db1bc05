import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it, beforeAll, afterAll } from '@jest/globals';
import { DeviceAgent } from '../devices/agent.js';
import { credentialsPath, readCredentials } from '../src/seed/credentials-file.js';
import { makeAudio } from './support/audio.js';
import { runCli } from './support/cli.js';
import { eventually, freePort, startMosquitto } from './support/mqtt.js';
import { freshPostgresSchema, TEST_DATABASE_URL } from './support/postgres.js';
import { ServerProcess, spawnServer } from './support/process.js';
import { approvalsOff } from './support/approvals.js';
import { api, tempDir } from './support/server.js';

const ADMIN = 'multi-server-admin-token-0123456789';

/** Whether a server process stopped at start-up (its exit code) or came up (then it is stopped). */
async function refusedWith(p: ServerProcess): Promise<number | null | 'running'> {
  const outcome = await Promise.race([
    p.exited.then(({ code }) => code),
    p.waitFor(/Dalaba is running/).then(
      () => 'running' as const,
      () => null,
    ),
  ]);
  if (outcome === 'running') {
    p.child.kill('SIGKILL');
    await p.exited;
  }
  return outcome;
}

describe('several servers on one PostgreSQL database', () => {
  let schema: string;
  let drop: () => Promise<void>;
  beforeAll(async () => {
    ({ schema, drop } = await freshPostgresSchema());
  });
  afterAll(async () => {
    await drop?.();
  });

  const env = (extra: Record<string, string> = {}) => ({
    DATA_DIR: tempDir(),
    DATABASE_URL: TEST_DATABASE_URL,
    DATABASE_SCHEMA: schema,
    ADMIN_TOKEN: ADMIN,
    SEED_SAMPLE: 'false',
    PORT: '0',
    HOST: '127.0.0.1',
    ...extra,
  });

  it('refuses a second server with its own embedded broker, naming the supported set-up; a killed one restarts at once', async () => {
    const first = spawnServer(env());
    await first.waitFor(/Dalaba is running/);
    try {
      const second = spawnServer(env());
      assert.equal(await refusedWith(second), 1, 'the second server stops');
      assert.match(
        second.stderr(),
        /Dalaba cannot start\. Another Dalaba server .* uses this database/,
      );
      assert.match(second.stderr(), /MQTT_URL/, 'names the supported set-up');
      assert.match(second.stderr(), /mosquitto export/);
      assert.doesNotMatch(second.stderr(), /\n\s+at /, 'no stack trace');

      // An external-broker server cannot join a database an embedded-broker server uses either.
      const external = spawnServer(env({ MQTT_URL: 'mqtt://127.0.0.1:1', MQTT_CLIENT_ID: 'x-1' }));
      assert.equal(await refusedWith(external), 1);
      assert.match(external.stderr(), /embedded MQTT broker/);
    } finally {
      first.child.kill('SIGKILL');
      await first.exited;
    }
    // Nothing of the killed server is left to block its successor.
    const again = spawnServer(env());
    try {
      await again.waitFor(/Dalaba is running/);
    } finally {
      again.child.kill('SIGTERM');
      assert.equal((await again.exited).code, 0);
    }
  });

  it('refuses a second external-broker server with the same MQTT client id', async () => {
    const same = { MQTT_URL: 'mqtt://127.0.0.1:1', MQTT_CLIENT_ID: 'dalaba-server-same' };
    const first = spawnServer(env(same));
    await first.waitFor(/Dalaba is running/);
    try {
      const second = spawnServer(env(same));
      assert.equal(await refusedWith(second), 1);
      assert.match(second.stderr(), /MQTT_CLIENT_ID=dalaba-server-same is in use/);
      const other = spawnServer(env({ ...same, MQTT_CLIENT_ID: 'dalaba-server-other' }));
      try {
        await other.waitFor(/Dalaba is running/);
      } finally {
        other.child.kill('SIGTERM');
        await other.exited;
      }
    } finally {
      first.child.kill('SIGTERM');
      await first.exited;
    }
  });
});

describe('several servers on one SQLite file', () => {
  it('refuses a second server on the same DATA_DIR; a killed one restarts at once', async () => {
    const env = {
      DATA_DIR: tempDir(),
      ADMIN_TOKEN: ADMIN,
      SEED_SAMPLE: 'false',
      PORT: '0',
      HOST: '127.0.0.1',
    };
    const first = spawnServer(env);
    await first.waitFor(/Dalaba is running/);
    try {
      const second = spawnServer(env);
      assert.equal(await refusedWith(second), 1);
      assert.match(
        second.stderr(),
        /Another Dalaba server \(pid \d+ on \S+\) uses this SQLite database/,
      );
      assert.match(second.stderr(), /PostgreSQL/, 'names the supported set-up');
    } finally {
      first.child.kill('SIGKILL');
      await first.exited;
    }
    const again = spawnServer(env);
    try {
      await again.waitFor(/Dalaba is running/);
    } finally {
      again.child.kill('SIGTERM');
      assert.equal((await again.exited).code, 0);
    }
  });
});

describe('two servers on PostgreSQL with one Mosquitto from the exported files', () => {
  it('a broadcast sent through either server reaches every online device once, and coverage is right', async () => {
    const { schema, drop } = await freshPostgresSchema();
    const dataDir = tempDir();
    const password = 'multi-server-mqtt-password';
    const common = {
      DATA_DIR: dataDir,
      DATABASE_URL: TEST_DATABASE_URL,
      DATABASE_SCHEMA: schema,
      ADMIN_TOKEN: ADMIN,
      MQTT_PASSWORD: password,
      HOST: '127.0.0.1',
      DISPATCH_TICK_MS: '200',
      // No heartbeat in the test's time: presence must come from the devices' `state` alone.
      HEARTBEAT_INTERVAL_S: '600',
    };
    // The sample county, seeded once into the shared database (and its clips directory).
    const seeding = spawnServer({ ...common, SEED_SAMPLE: 'true', PORT: '0' });
    await seeding.waitFor(/Dalaba is running/);
    seeding.child.kill('SIGTERM');
    assert.equal((await seeding.exited).code, 0);
    const dir = join(tempDir(), 'mosquitto');
    const exported = await runCli(['mosquitto', 'export', '--out', dir], common);
    assert.equal(exported.code, 0, exported.stderr);
    const mosquitto = await startMosquitto(dir);

    const servers = await Promise.all(
      [1, 2].map(async () => {
        const port = await freePort();
        const url = `http://127.0.0.1:${port}`;
        const p = spawnServer({
          ...common,
          SEED_SAMPLE: 'false',
          PORT: String(port),
          PUBLIC_URL: url,
          MQTT_URL: mosquitto.serverUrl,
        });
        await p.waitFor(/Dalaba is running/);
        return { p, url, client: api(url, ADMIN) };
      }),
    );
    const [one, two] = servers;
    const credentials = await readCredentials(credentialsPath(dataDir));
    // Two towns of the county, with every kind of device they have.
    const towns = [...new Set(credentials.map((c) => c.villageCode.slice(0, 9)))]
      .sort()
      .slice(0, 2);
    const fleet = credentials.filter((c) => towns.includes(c.villageCode.slice(0, 9)));
    const villages = new Set(fleet.map((c) => c.villageCode));
    const agents = fleet.map(
      (d) => new DeviceAgent({ url: mosquitto.url, id: d.id, secret: d.secret, speed: 0 }),
    );
    const plays = new Map<string, string[]>();
    for (const a of agents)
      a.on('playback', (deliveryId: string) =>
        plays.set(a.id, [...(plays.get(a.id) ?? []), deliveryId]),
      );
    try {
      for (const s of servers)
        await eventually(
          async () => (await api(s.url).get('/health/ready')).status === 200,
          20_000,
          'both servers ready',
        );
      // The policy is in the shared database: one change holds for both servers.
      await approvalsOff(one.url, ADMIN);
      const clip = (
        await one.client
          .post('/api/clips?wait=true')
          .attach('file', await makeAudio(tempDir(), 'multi', { signal: 'noise', seconds: 1 }))
          .expect(201)
      ).body as { id: string };

      await Promise.all(agents.map((a) => a.start()));
      // Each server knows every device is online from its `state`, wherever it connected.
      for (const s of servers)
        await eventually(
          async () => {
            const items = (await s.client.get('/api/devices?limit=500').expect(200)).body.items as {
              id: string;
              online: boolean;
            }[];
            const ids = new Set(items.filter((d) => d.online).map((d) => d.id));
            return fleet.every((d) => ids.has(d.id));
          },
          20_000,
          'every device online on both servers',
        );

      for (const [n, s] of [one, two].entries()) {
        const b = (
          await s.client
            .post('/api/broadcasts')
            .send({
              title: `through server ${n + 1}`,
              clipId: clip.id,
              level: 'II',
              target: { towns },
              attentionTone: false,
            })
            .expect(201)
        ).body as { id: string };
        // Sent at dispatch to every device: none waits for a heartbeat to reach this server.
        const deliveries = (
          await s.client.get(`/api/broadcasts/${b.id}/deliveries?limit=500`).expect(200)
        ).body.items as { id: string; state: string; deviceId: string }[];
        assert.equal(deliveries.length, fleet.length);
        assert.deepEqual(
          deliveries.filter((d) => d.state === 'pending').map((d) => d.deviceId),
          [],
          `server ${n + 1} sent to every device at dispatch`,
        );
        await eventually(
          async () => (await s.client.get(`/api/broadcasts/${b.id}`)).body.status === 'completed',
          60_000,
          `broadcast ${n + 1} to complete`,
        );
        const ids = new Set(deliveries.map((d) => d.id));
        for (const a of agents) {
          const mine = (plays.get(a.id) ?? []).filter((id) => ids.has(id));
          assert.equal(mine.length, 1, `device ${a.id} played broadcast ${n + 1} once`);
        }
        // Both servers tell the same story.
        for (const reader of servers) {
          const c = (await reader.client.get(`/api/broadcasts/${b.id}/coverage`).expect(200)).body;
          assert.equal(c.summary.targeted, villages.size);
          assert.equal(c.summary.coveredByDevices, villages.size);
          assert.equal(c.summary.uncovered, 0);
          assert.equal(c.deliveries.total, fleet.length);
        }
      }
    } finally {
      await Promise.all(agents.map((a) => a.stop()));
      for (const { p } of servers) p.child.kill('SIGTERM');
      await Promise.all(servers.map(({ p }) => p.exited));
      await mosquitto.stop();
      await drop();
    }
  });
});
