import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { describe, it } from '@jest/globals';
import { LISTEN_BACKLOG } from '../src/common/listen-backlog.js';
import { MIGRATIONS } from '../src/database/schema.js';
import { runCli } from './support/cli.js';
import { spawnServer } from './support/process.js';
import { startTestServer, tempDir } from './support/server.js';

describe('starting the server', () => {
  it('stops with a message naming each bad variable, without a stack trace', async () => {
    const p = spawnServer({ DATA_DIR: tempDir(), PORT: 'eighty', LOG_LEVEL: 'loud' });
    const { code } = await p.exited;
    assert.equal(code, 1);
    assert.match(p.stderr(), /PORT="eighty": must be a whole number from 0 to 65535/);
    assert.match(p.stderr(), /LOG_LEVEL="loud": must be one of/);
    assert.doesNotMatch(p.stderr(), /\n\s+at /, 'no stack trace');
  });

  it('says what to do when its HTTP port is taken', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as { port: number }).port;
    try {
      const p = spawnServer({
        DATA_DIR: tempDir(),
        PORT: String(port),
        HOST: '127.0.0.1',
        SEED_SAMPLE: 'false',
      });
      const { code } = await p.exited;
      assert.equal(code, 1);
      assert.match(p.stderr(), new RegExp(`HTTP port ${port} is already in use`));
      assert.match(p.stderr(), new RegExp(`PORT=${port + 1} npm start`));
    } finally {
      blocker.close();
    }
  });

  it('says what to do when its MQTT port is taken (e.g. by Mosquitto)', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as { port: number }).port;
    try {
      const p = spawnServer({
        DATA_DIR: tempDir(),
        MQTT_PORT: String(port),
        SEED_SAMPLE: 'false',
        PORT: '0',
      });
      assert.equal((await p.exited).code, 1);
      assert.match(p.stderr(), new RegExp(`MQTT port ${port} is already in use`));
      assert.match(p.stderr(), new RegExp(`MQTT_PORT=${port + 1}`));
      assert.match(p.stderr(), new RegExp(`MQTT_URL=mqtt://127.0.0.1:${port}`));
      assert.doesNotMatch(p.stderr(), /\n\s+at /, 'no stack trace');
    } finally {
      blocker.close();
    }
  });

  it('explains a database it cannot open', async () => {
    const file = join(tempDir(), 'not-a-dir');
    await writeFile(file, '');
    const sqlite = spawnServer({ DATA_DIR: join(file, 'data') });
    assert.equal((await sqlite.exited).code, 1);
    assert.match(
      sqlite.stderr(),
      /Cannot open the database \(SQLite .*\): part of the path is a file/,
    );

    const pg = spawnServer({
      DATA_DIR: tempDir(),
      DATABASE_URL: 'postgres://postgres@127.0.0.1:1/test',
    });
    assert.equal((await pg.exited).code, 1);
    assert.match(
      pg.stderr(),
      /Cannot open the database \(PostgreSQL 127\.0\.0\.1:1\/test schema public\): nothing is listening/,
    );
    assert.doesNotMatch(pg.stderr(), /\n\s+at /, 'no stack trace');
  });

  it('with RUN_MIGRATIONS=false refuses an outdated schema until `cli migrate` has run', async () => {
    const dataDir = tempDir();
    const env = {
      DATA_DIR: dataDir,
      RUN_MIGRATIONS: 'false',
      SEED_SAMPLE: 'false',
      PORT: '0',
      HOST: '127.0.0.1',
    };
    const refused = spawnServer(env);
    assert.equal((await refused.exited).code, 1);
    assert.match(refused.stderr(), /pending migrations.*npm run cli -- migrate/s);

    const migrate = await runCli(['migrate'], env);
    assert.equal(migrate.code, 0, migrate.stderr);
    assert.match(migrate.stderr, new RegExp(`applied ${MIGRATIONS.length} migration`));

    const started = spawnServer({ ...env, ADMIN_TOKEN: 'startup-test-admin-token-0123456789' });
    try {
      await started.waitFor(/Dalaba is running on (http:\/\/\S+)/);
    } finally {
      started.child.kill('SIGTERM');
      assert.equal((await started.exited).code, 0);
    }
  });

  it('asks for an accept queue that holds a fleet arriving at once (HTTP and MQTT)', async () => {
    // Node's default of 511 overflowed when 10,000 devices fetched a clip at once: dropped
    // handshakes are retried by the devices' TCP stacks with waits of up to minutes.
    const somaxconn = Number(readFileSync('/proc/sys/net/core/somaxconn', 'utf8'));
    assert.ok(somaxconn > 511, `net.core.somaxconn is ${somaxconn}: raise it (docs/operations.md)`);
    const s = await startTestServer();
    try {
      const backlog = (port: number): number => {
        // For a listening socket, `ss` shows the accept-queue limit as Send-Q.
        const out = execFileSync('ss', ['-Hltn', `sport = :${port}`], { encoding: 'utf8' });
        const fields = out.trim().split(/\s+/);
        assert.equal(fields[0], 'LISTEN', `ss printed: ${out}`);
        return Number(fields[2]);
      };
      const expected = Math.min(LISTEN_BACKLOG, somaxconn);
      assert.equal(backlog(s.server.port), expected, 'HTTP listener');
      assert.equal(backlog(s.server.mqttPort!), expected, 'MQTT listener');
    } finally {
      await s.close();
    }
  });
});
