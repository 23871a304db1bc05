import assert from 'node:assert/strict';
import { describe, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ConfigError, ENV_SCHEMA, loadConfig, localDeviceBrokerUrl } from './app-config.js';

function problemsOf(env: Record<string, string>): string[] {
  try {
    loadConfig(env, '/srv/dalaba');
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    return err.problems;
  }
  assert.fail('expected a ConfigError');
}

describe('loadConfig', () => {
  it('gives the embedded defaults with an empty environment', () => {
    const config = loadConfig({}, '/srv/dalaba');
    assert.equal(config.port, 3000);
    assert.equal(config.dataDir, '/srv/dalaba/data');
    assert.deepEqual(config.database, {
      type: 'sqlite',
      path: '/srv/dalaba/data/dalaba.db',
      busyTimeoutMs: 5000,
    });
    assert.equal(config.timeZone, 'Asia/Shanghai');
    assert.equal(config.runMigrations, true);
    assert.equal(config.seedSample, true);
    assert.equal(config.adminToken, undefined);
    assert.match(config.publicUrl, /^http:\/\/.+:3000$/);
    assert.equal(config.http.bodyLimitBytes, 1024 * 1024);
  });

  it('selects PostgreSQL from DATABASE_URL', () => {
    const config = loadConfig({
      DATABASE_URL: 'postgres://u:p@db:5432/dalaba',
      DATABASE_SCHEMA: 'county',
    });
    assert.deepEqual(config.database, {
      type: 'postgres',
      url: 'postgres://u:p@db:5432/dalaba',
      schema: 'county',
    });
  });

  it('reads sizes, booleans and paths', () => {
    const config = loadConfig(
      {
        BODY_LIMIT: '2mb',
        IMPORT_LIMIT: '512kb',
        RUN_MIGRATIONS: 'false',
        DATA_DIR: '/var/lib/dalaba',
        PUBLIC_URL: 'https://x.example/',
      },
      '/srv',
    );
    assert.equal(config.http.bodyLimitBytes, 2 * 1024 * 1024);
    assert.equal(config.http.importLimitBytes, 512 * 1024);
    assert.equal(config.runMigrations, false);
    assert.equal(config.dataDir, '/var/lib/dalaba');
    assert.equal(config.publicUrl, 'https://x.example');
  });

  it('names every bad variable and what it accepts, all at once', () => {
    const problems = problemsOf({
      PORT: 'eighty',
      LOG_LEVEL: 'loud',
      TZ_DEFAULT: 'Mars/Olympus',
      RUN_MIGRATIONS: 'maybe',
      BODY_LIMIT: '12 parsecs',
    });
    assert.equal(problems.length, 5);
    assert.match(
      problems.find((p) => p.startsWith('PORT'))!,
      /whole number from 0 to 65535/,
    );
    assert.match(
      problems.find((p) => p.startsWith('LOG_LEVEL'))!,
      /one of trace, debug, info/,
    );
    assert.match(
      problems.find((p) => p.startsWith('TZ_DEFAULT'))!,
      /IANA time zone/,
    );
    assert.match(
      problems.find((p) => p.startsWith('RUN_MIGRATIONS'))!,
      /true or false/,
    );
    assert.match(
      problems.find((p) => p.startsWith('BODY_LIMIT'))!,
      /size/,
    );
  });

  it('never repeats a secret or a URL that may hold a password in its messages', () => {
    const problems = problemsOf({
      ADMIN_TOKEN: 'short s3cret',
      DATABASE_URL: 'mysql://root:hunter2@db/x',
    });
    assert.equal(problems.length, 2);
    for (const p of problems) {
      assert.doesNotMatch(p, /s3cret|hunter2/);
    }
    assert.match(problems.join('\n'), /ADMIN_TOKEN: must be 24 to 256/);
    assert.match(problems.join('\n'), /DATABASE_URL: must be a URL starting with postgres:/);
  });

  it('refuses a port out of range and a bad schema name', () => {
    assert.equal(problemsOf({ PORT: '70000', DATABASE_SCHEMA: 'Robert"; drop' }).length, 2);
  });

  it('refuses a number that is not one, out of its range, or a value outside a list', () => {
    assert.deepEqual(problemsOf({ ACK_TIMEOUT_S: '1.5' }), [
      'ACK_TIMEOUT_S="1.5": must be a whole number from 1 to 3600',
    ]);
    assert.deepEqual(problemsOf({ MAX_RESUMES: '4' }), [
      'MAX_RESUMES="4": must be a whole number from 0 to 3',
    ]);
    assert.deepEqual(problemsOf({ CLIP_TARGET_LUFS: '-3' }), [
      'CLIP_TARGET_LUFS="-3": must be a number from -40 to -5',
    ]);
    assert.deepEqual(problemsOf({ CLIP_TRUE_PEAK_DB: 'loud' }), [
      'CLIP_TRUE_PEAK_DB="loud": must be a number from -9 to 0',
    ]);
    assert.deepEqual(problemsOf({ LOG_FORMAT: 'xml' }), [
      'LOG_FORMAT="xml": must be one of auto, json, pretty',
    ]);
    assert.deepEqual(problemsOf({ MQTT_MAX_PAYLOAD: '2mb' }), [
      'MQTT_MAX_PAYLOAD="2mb": must be a size from 1kb to 1mb, like 4kb',
    ]);
  });

  it('reads values trimmed, words in any case, and an empty variable as unset', () => {
    const config = loadConfig({
      LOG_LEVEL: ' WARN ',
      SEED_SAMPLE: 'Off',
      PORT: '',
      CLIP_TRUE_PEAK_DB: '-2.5',
      MQTT_WS_PORT: '8883',
    });
    assert.equal(config.log.level, 'warn');
    assert.equal(config.seedSample, false);
    assert.equal(config.port, 3000);
    assert.equal(config.audio.truePeakDb, -2.5);
    assert.equal(config.mqtt.wsPort, 8883);
    assert.equal(loadConfig({}).mqtt.wsPort, undefined);
  });

  it('refuses settings that only clash together, and names the secrets without their values', () => {
    assert.deepEqual(problemsOf({ MQTT_PORT: '1900', MQTT_WS_PORT: '1900' }), [
      'MQTT_WS_PORT=1900: must differ from MQTT_PORT',
    ]);
    assert.deepEqual(problemsOf({ MQTT_PASSWORD: 'pass', MEDIA_SIGNING_KEY: 'short-key' }), [
      'MQTT_PASSWORD: must be at least 8 characters',
      'MEDIA_SIGNING_KEY: must be at least 32 characters',
    ]);
  });

  it('trusts only the proxy hops TRUST_PROXY names: a count or addresses, never any client', () => {
    assert.equal(loadConfig({}).http.trustProxy, false);
    assert.equal(loadConfig({ TRUST_PROXY: 'false' }).http.trustProxy, false);
    assert.equal(loadConfig({ TRUST_PROXY: '0' }).http.trustProxy, false);
    assert.equal(loadConfig({ TRUST_PROXY: '2' }).http.trustProxy, 2);
    assert.deepEqual(
      loadConfig({ TRUST_PROXY: '10.0.0.5, 10.1.0.0/16,loopback' }).http.trustProxy,
      ['10.0.0.5', '10.1.0.0/16', 'loopback'],
    );
    for (const bad of ['true', 'on', '11', '10.0.0.300', 'proxy.example.org', '10.0.0.0/99']) {
      const problems = problemsOf({ TRUST_PROXY: bad });
      assert.equal(problems.length, 1, bad);
      assert.match(problems[0], /^TRUST_PROXY=.*number of proxies.*addresses/, bad);
    }
  });
});

describe('localDeviceBrokerUrl (where the fleet connects)', () => {
  it('is the embedded broker on MQTT_PORT, over loopback when it listens on every address', () => {
    assert.equal(localDeviceBrokerUrl(loadConfig({ MQTT_PORT: '1884' })), 'mqtt://127.0.0.1:1884');
    assert.equal(
      localDeviceBrokerUrl(loadConfig({ MQTT_PORT: '2883', MQTT_HOST: '10.0.0.5' })),
      'mqtt://10.0.0.5:2883',
    );
  });

  it("is an external broker's device listener on 1883", () => {
    assert.equal(
      localDeviceBrokerUrl(loadConfig({ MQTT_URL: 'mqtt://broker.lan:1884' })),
      'mqtt://broker.lan:1883',
    );
  });

  it('puts the sample credentials in DATA_DIR', () => {
    assert.equal(
      loadConfig({ DATA_DIR: '/srv/dalaba' }).sampleCredentialsFile,
      '/srv/dalaba/sample-credentials.json',
    );
  });
});

describe('README "Configuration" and docs/operations.md "Configuration: every variable"', () => {
  const sectionOf = (file: string, heading: string) => {
    const text = readFileSync(fileURLToPath(new URL(`../../../${file}`, import.meta.url)), 'utf8');
    const start = text.indexOf(heading);
    assert.ok(start >= 0, `${file} has no "${heading}"`);
    const end = text.indexOf('\n## ', start + 1);
    return text.slice(start, end < 0 ? undefined : end);
  };
  const section =
    sectionOf('README.md', '## Configuration') +
    sectionOf('docs/operations.md', '## Configuration: every variable');
  const names = Object.keys(ENV_SCHEMA.properties);

  it('lists every variable of the schema', () => {
    // A row may shorten a variable sharing the previous one's prefix: `…_ROUTINE_MIN`.
    const shortened = (name: string) =>
      `\`…${name.slice(name.lastIndexOf('_', name.length - 5))}\``;
    const missing = names.filter(
      (n) => !section.includes(`\`${n}\``) && !section.includes(shortened(n)),
    );
    assert.deepEqual(missing, []);
  });

  it('lists no variable the schema lacks', () => {
    const listed = [...section.matchAll(/^\| `([A-Z][A-Z0-9_]+)`/gm)].map((m) => m[1]);
    assert.ok(listed.length > 40, `found ${listed.length} rows`);
    assert.deepEqual(
      listed.filter((n) => !names.includes(n)),
      [],
    );
  });
});
