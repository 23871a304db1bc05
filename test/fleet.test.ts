import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { describe, it } from '@jest/globals';
import { credentialsPath } from '../src/seed/credentials-file.js';
import { ROOT } from './support/cli.js';
import { eventually, mqttUrl } from './support/mqtt.js';
import { api, startTestServer, tempDir, tokenFor } from './support/server.js';

describe('npm run fleet -- --count N', () => {
  it('registers N synthetic devices through the API and connects them all', async () => {
    const s = await startTestServer();
    const token = await tokenFor(s, 'operator');
    const fleet = spawn(
      process.execPath,
      [
        'dist/devices/main.js',
        'fleet',
        '--count',
        '150',
        '--api',
        s.url,
        '--token',
        token,
        '--url',
        mqttUrl(s),
        '--quiet',
      ],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    fleet.stdout.on('data', (d: Buffer) => (out += d.toString()));
    fleet.stderr.on('data', (d: Buffer) => (out += d.toString()));
    try {
      await eventually(
        async () => /fleet: 150 of 150 devices online/.test(out),
        60_000,
        `the fleet to report (${out})`,
      );
      const board = (
        await api(s.url, s.adminToken).get('/api/status/villages?town=999999100').expect(200)
      ).body;
      assert.deepEqual(board.summary, {
        commandSigning: 'optional',
        securityEvents: 0,
        villages: 2,
        villagesOk: 2,
        devicesTotal: 150,
        devicesOnline: 150,
        typeMismatches: 0,
      });
    } finally {
      fleet.kill('SIGKILL');
      await s.close();
    }
  });
});

describe('npm run fleet -- --county', () => {
  it('brings every sample device online within seconds, and the board shows them offline when the fleet dies', async () => {
    const s = await startTestServer({ seed: true });
    const fleet = spawn(
      process.execPath,
      [
        'dist/devices/main.js',
        'fleet',
        '--county',
        '--credentials',
        credentialsPath(s.dataDir),
        '--url',
        mqttUrl(s),
        '--quiet',
      ],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    fleet.stdout.on('data', (d: Buffer) => (out += d.toString()));
    fleet.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise((resolve) => fleet.once('exit', resolve));
    try {
      const summary = async () =>
        (await api(s.url, s.adminToken).get('/api/status/villages?limit=500').expect(200)).body
          .summary;
      const started = Date.now();
      await eventually(
        async () => (await summary()).devicesOnline === 95,
        30_000,
        'all 95 sample devices online',
      );
      const seconds = (Date.now() - started) / 1000;
      const board = await summary();
      assert.deepEqual(board, {
        commandSigning: 'optional',
        securityEvents: 0,
        villages: 81,
        villagesOk: 81,
        devicesTotal: 95,
        devicesOnline: 95,
        typeMismatches: 0,
      });
      assert.match(out, /fleet: 95 of 95 devices online/);
      assert.ok(seconds < 30, `online in ${seconds} s`);

      fleet.kill('SIGKILL'); // no clean goodbye: only the Wills say they are gone
      await exited;
      await eventually(
        async () => (await summary()).devicesOnline === 0,
        30_000,
        'all offline after the fleet died',
      );
      const village = (
        await api(s.url, s.adminToken).get('/api/status/villages?limit=1').expect(200)
      ).body.items[0];
      assert.equal(village.problem, 'all_offline');
    } finally {
      fleet.kill('SIGKILL');
      await s.close();
    }
  });
});

describe('npm run fleet -- --county with the server settings', () => {
  it('finds the credentials in DATA_DIR and the broker on MQTT_PORT, from any working directory', async () => {
    const s = await startTestServer({ seed: true });
    const fleet = spawn(
      process.execPath,
      [`${ROOT}/dist/devices/main.js`, 'fleet', '--county', '--quiet'],
      {
        // Not the checkout: a ./data there must not be what the fleet reads.
        cwd: tempDir('dalaba-elsewhere-'),
        env: {
          PATH: process.env.PATH ?? '',
          DATA_DIR: s.dataDir,
          MQTT_PORT: String(s.server.mqttPort),
          MQTT_HOST: '127.0.0.1',
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let out = '';
    fleet.stdout.on('data', (d: Buffer) => (out += d.toString()));
    fleet.stderr.on('data', (d: Buffer) => (out += d.toString()));
    try {
      await eventually(
        async () => /fleet: 95 of 95 devices online/.test(out),
        60_000,
        `the fleet to report (${out})`,
      );
      assert.match(out, new RegExp(`to mqtt://127\\.0\\.0\\.1:${s.server.mqttPort}`));
      const board = (
        await api(s.url, s.adminToken).get('/api/status/villages?limit=500').expect(200)
      ).body;
      assert.equal(board.summary.devicesOnline, 95);
    } finally {
      fleet.kill('SIGKILL');
      await s.close();
    }
  });
});

describe('the device agent and fleet command line', () => {
  it('refuses an unknown option or a malformed value with the usage text and exit code 2', async () => {
    const run = (args: string[]) =>
      new Promise<{ code: number; stderr: string }>((done) =>
        execFile(
          process.execPath,
          [`${ROOT}/dist/devices/main.js`, ...args],
          { env: { PATH: process.env.PATH ?? '', DATA_DIR: tempDir() }, timeout: 60_000 },
          (err, _stdout, stderr) =>
            done({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stderr }),
        ),
      );
    const unknown = await run(['fleet', '--county', '--colour']);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /Unknown option '--colour'/);
    assert.match(unknown.stderr, /Dalaba device agent/);
    const noValue = await run(['device', '--secret', 's', '--id']);
    assert.equal(noValue.code, 2);
    assert.match(noValue.stderr, /--id <value>' argument missing/);
    const notNumber = await run(['device', '--id', 'a', '--secret', 's', '--speed', 'fast']);
    assert.equal(notNumber.code, 2);
    assert.match(notNumber.stderr, /--speed needs a number/);
  });
});
