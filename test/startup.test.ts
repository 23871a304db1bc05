import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { describe, it } from '@jest/globals';
import { LISTEN_BACKLOG } from '../src/common/listen-backlog.js';
import { MIGRATIONS } from '../src/database/schema.js';
import { makeAudio, measureLufs } from './support/audio.js';
import { MAIN, ROOT, runCli } from './support/cli.js';
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

describe('the first admin token after a failed first start', () => {
  /** Holds a port on all addresses, as a Mosquitto or another server would. */
  async function takePort(): Promise<{ port: number; release: () => void }> {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '0.0.0.0', resolve));
    return {
      port: (blocker.address() as { port: number }).port,
      release: () => blocker.close(),
    };
  }

  for (const which of ['MQTT', 'HTTP'] as const) {
    it(`is neither created nor lost when the ${which} port is taken, and shown on the next start`, async () => {
      const dataDir = tempDir();
      const taken = await takePort();
      const env = { DATA_DIR: dataDir, SEED_SAMPLE: 'false', HOST: '0.0.0.0' };
      try {
        const failed = spawnServer({
          ...env,
          ...(which === 'MQTT'
            ? { MQTT_PORT: String(taken.port), MQTT_HOST: '0.0.0.0', PORT: '0' }
            : { PORT: String(taken.port) }),
        });
        assert.equal((await failed.exited).code, 1);
        assert.match(failed.stderr(), new RegExp(`${which} port ${taken.port} is already in use`));
        assert.match(failed.stderr(), /No admin token was created yet: it will be shown once/);
      } finally {
        taken.release();
      }
      const list = await runCli(['tokens', 'list', '--json'], { DATA_DIR: dataDir });
      assert.equal(list.code, 0, list.stderr);
      assert.deepEqual(JSON.parse(list.stdout), [], 'no token exists that nobody saw');

      const started = spawnServer({ ...env, PORT: '0' });
      try {
        const [, url] = await started.waitFor(/Dalaba is running on (http:\/\/\S+)/);
        const [, token] = await started.waitFor(/Admin API token[^\n]*\n\s+(\S+)/);
        const me = await fetch(`${url}/api/me`, { headers: { Authorization: `Bearer ${token}` } });
        assert.equal(me.status, 200);
        assert.equal(((await me.json()) as { role: string }).role, 'admin');
        // The first person's account is printed beside the token, and signs in.
        const [, password] = await started.waitFor(/one-time password: (\S+)/);
        const signIn = await fetch(`${url}/api/session`, {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify({ username: 'admin', password }),
        });
        assert.equal(signIn.status, 200);
        assert.equal(
          ((await signIn.json()) as { user: { mustChangePassword: boolean } }).user
            .mustChangePassword,
          true,
        );
      } finally {
        started.child.kill('SIGTERM');
        assert.equal((await started.exited).code, 0);
      }
    });
  }
});

describe('ffmpeg on a machine without one', () => {
  it('falls back to the binary inside @ffmpeg-installer/ffmpeg, says so, and clips still come out at -16 LUFS', async () => {
    // ffmpeg-static downloads its binary at install time, which fails where only the npm registry
    // is reachable (as here); when it did install, it comes first.
    const staticPackage = 'ffmpeg-static';
    const fromStatic = await import(staticPackage).then(
      (m: { default?: unknown }) => typeof m.default === 'string',
      () => false,
    );
    const adminToken = 'startup-ffmpeg-admin-token-0123456789';
    const p = spawnServer({
      DATA_DIR: tempDir(),
      SEED_SAMPLE: 'false',
      PORT: '0',
      HOST: '127.0.0.1',
      ADMIN_TOKEN: adminToken,
      PATH: '/nonexistent', // no system ffmpeg
    });
    try {
      const [, url] = await p.waitFor(/Dalaba is running on (http:\/\/\S+)/);
      const [, ffmpeg] = await p.waitFor(/ffmpeg: (.*)/);
      assert.match(
        ffmpeg,
        fromStatic ? /from ffmpeg-static/ : /^ffmpeg version \S+ from @ffmpeg-installer\/ffmpeg \(/,
      );
      const input = await makeAudio(tempDir('dalaba-audio-'), 'fallback', {
        signal: 'noise',
        gainDb: -28,
      });
      const form = new FormData();
      form.append('file', new Blob([await readFile(input)]), 'fallback.wav');
      const res = await fetch(`${url}/api/clips?wait=true`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${adminToken}` },
        body: form,
      });
      const clip = (await res.json()) as { id: string; status: string; loudnessAfterLufs: number };
      assert.equal(res.status, 201, JSON.stringify(clip));
      assert.equal(clip.status, 'ready');
      assert.ok(Math.abs(clip.loudnessAfterLufs + 16) <= 1, `${clip.loudnessAfterLufs} LUFS`);
      const audio = await fetch(`${url}/api/clips/${clip.id}/audio`, {
        headers: { Authorization: `Bearer ${adminToken}` },
      });
      const out = join(tempDir('dalaba-audio-'), 'out.mp3');
      await writeFile(out, Buffer.from(await audio.arrayBuffer()));
      // Measured by the system's ffmpeg, not the one that made it.
      const lufs = await measureLufs(out);
      assert.ok(Math.abs(lufs + 16) <= 1, `delivered at ${lufs} LUFS`);
    } finally {
      p.child.kill('SIGTERM');
      assert.equal((await p.exited).code, 0);
    }
  });
});

describe('what a newcomer sees on the first start', () => {
  it('on a terminal: readable lines, at most 25 up to the end of the banner, seed details at debug', async () => {
    // `script` gives the server a pseudo-terminal, as `npm start` in a terminal does.
    const child = spawn('script', ['-qfec', `"${process.execPath}" "${MAIN}"`, '/dev/null'], {
      cwd: ROOT,
      env: {
        PATH: process.env.PATH ?? '',
        DATA_DIR: tempDir(),
        PORT: '0',
        HOST: '127.0.0.1',
        MQTT_PORT: '0',
        MQTT_HOST: '127.0.0.1',
        TERM: 'dumb',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    const exited = new Promise((resolve) => child.once('exit', resolve));
    try {
      const banner = await new Promise<string>((resolve, reject) => {
        child.stdout.on('data', (d: Buffer) => {
          out += d.toString();
          // The banner ends with its second rule.
          if ((out.match(/─{20,}/g) ?? []).length >= 2) resolve(out);
        });
        void exited.then(() => reject(new Error(`exited before the banner:\n${out}`)));
      });
      // eslint-disable-next-line no-control-regex
      const lines = banner.replace(/\x1b\[[0-9;]*m/g, '').split(/\r?\n/);
      assert.ok(lines.length <= 25, `${lines.length} lines:\n${lines.join('\n')}`);
      assert.ok(
        lines.every((l) => !l.startsWith('{')),
        'no JSON lines on a terminal',
      );
      assert.ok(lines.some((l) => /INFO: seed: sample county: 9 town\(s\), 81 village/.test(l)));
      assert.ok(!lines.some((l) => /village=\d+ created/.test(l)), 'no line per seeded village');
      assert.ok(lines.some((l) => /Admin API token/.test(l)));
      assert.ok(lines.some((l) => /username: admin +one-time password: \S{10,}/.test(l)));
    } finally {
      child.kill('SIGTERM');
      await exited;
    }
  });

  it('not on a terminal: one JSON object per line, the seed details there at debug', async () => {
    const p = spawnServer({
      DATA_DIR: tempDir(),
      PORT: '0',
      HOST: '127.0.0.1',
      LOG_FORMAT: '', // auto: stdout is a pipe here
      LOG_LEVEL: 'debug',
    });
    try {
      await p.waitFor(/Dalaba is running on/);
      const logLines = p.stdout().slice(0, p.stdout().indexOf('─')).trim().split('\n');
      const parsed = logLines.map((l) => JSON.parse(l) as { level: number; msg: string });
      assert.ok(parsed.some((l) => l.level === 30 && /sample county: 9 town/.test(l.msg)));
      const villages = parsed.filter((l) => /^village=\d+ created/.test(l.msg));
      assert.equal(villages.length, 81);
      assert.ok(
        villages.every((l) => l.level === 20),
        'each seeded village at debug',
      );
    } finally {
      p.child.kill('SIGTERM');
      await p.exited;
    }
  });
});
