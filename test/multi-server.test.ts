import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { freshPostgresSchema, TEST_DATABASE_URL } from './support/postgres.js';
import { ServerProcess, spawnServer } from './support/process.js';
import { tempDir } from './support/server.js';

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
  before(async () => {
    ({ schema, drop } = await freshPostgresSchema());
  });
  after(async () => {
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
