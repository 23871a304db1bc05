import assert from 'node:assert/strict';
import { readFile, rm, stat } from 'node:fs/promises';
import { describe, it } from '@jest/globals';
import { TONE_FAMILIES } from '../src/clips/attention-tones.js';
import { ClipsRepository } from '../src/clips/clips.repository.js';
import { ClipsService } from '../src/clips/clips.service.js';
import { DevicesService } from '../src/devices/devices.service.js';
import { credentialsPath } from '../src/seed/credentials-file.js';
import { sampleCounty } from '../src/seed/sample-county.js';
import { runCli } from './support/cli.js';
import { eventually } from './support/mqtt.js';
import { api, startTestServer, tempDir } from './support/server.js';

interface Cred {
  id: string;
  secret: string;
  villageCode: string;
  type: string;
}

async function readCreds(dataDir: string): Promise<Cred[]> {
  return JSON.parse(await readFile(credentialsPath(dataDir), 'utf8')).devices;
}

describe('sample county seed', () => {
  it('seeds 81 villages in 9 towns with the described devices on first start, and keeps their secrets private', async () => {
    const s = await startTestServer({ seed: true });
    try {
      const client = api(s.url, s.adminToken);
      const villages = (await client.get('/api/villages?limit=100').expect(200)).body;
      assert.equal(villages.total, 81);
      assert.equal(villages.items.length, 81);
      assert.equal(new Set(villages.items.map((v: { townCode: string }) => v.townCode)).size, 9);
      assert.equal((await client.get('/api/towns').expect(200)).body.total, 9);

      const devices = (await client.get('/api/devices?limit=500').expect(200)).body.items as {
        villageCode: string;
        type: string;
      }[];
      const villagesWith = (type: string) =>
        new Set(devices.filter((d) => d.type === type).map((d) => d.villageCode));
      assert.equal(villagesWith('emergency_terminal').size, 10);
      assert.equal(villagesWith('speaker_cart').size, 2);
      assert.equal(
        new Set([...villagesWith('village_loudspeaker'), ...villagesWith('flood_pa')]).size,
        69,
      );
      assert.equal(devices.length, sampleCounty().devices.length);

      const file = await stat(credentialsPath(s.dataDir));
      assert.equal(file.mode & 0o777, 0o600, 'credentials file is private to its owner');
      const creds = await readCreds(s.dataDir);
      assert.equal(creds.length, devices.length);
      const service = s.server.app.get(DevicesService);
      const verified = await Promise.all(creds.map((c) => service.verifySecret(c.id, c.secret)));
      assert.ok(verified.every(Boolean), 'every stored secret lets its device in');
      const logs = s.rawLogs.join('');
      assert.ok(
        creds.every((c) => !logs.includes(c.secret)),
        'no secret is logged',
      );
    } finally {
      await s.close();
    }
  });

  it('does not seed again on restart, nor into a registry that already has data', async () => {
    const dataDir = tempDir();
    const first = await startTestServer({ dataDir, seed: false });
    await api(first.url, first.adminToken)
      .post('/api/towns')
      .send({ code: '610999100', name: '自有镇' })
      .expect(201);
    await first.close();
    const second = await startTestServer({ dataDir, seed: true });
    try {
      assert.equal(second.server.seeded, null);
      assert.equal(
        (await api(second.url, second.adminToken).get('/api/villages').expect(200)).body.total,
        0,
      );
    } finally {
      await second.close();
    }
  });

  it('npm run seed adds what is missing, is idempotent, and can reissue lost secrets', async () => {
    const dataDir = tempDir();
    const env = { DATA_DIR: dataDir };
    const first = await runCli(['seed'], env);
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, /added 9 town\(s\), 81 village\(s\), 95 device\(s\)/);
    const before = await readFile(credentialsPath(dataDir), 'utf8');

    const again = await runCli(['seed'], env);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /added 0 town\(s\), 0 village\(s\), 0 device\(s\)/);
    assert.equal(await readFile(credentialsPath(dataDir), 'utf8'), before, 'credentials untouched');

    await rm(credentialsPath(dataDir));
    const lost = await runCli(['seed'], env);
    assert.match(lost.stderr, /95 sample device\(s\) have no secret/);
    const rotated = await runCli(['seed', '--rotate-missing'], env);
    assert.equal(rotated.code, 0, rotated.stderr);
    assert.match(rotated.stdout, /rotated 95 secret\(s\)/);
    const creds = await readCreds(dataDir);
    assert.equal(creds.length, 95);

    const s = await startTestServer({ dataDir, seed: true });
    try {
      assert.equal(s.server.seeded, null, 'already seeded');
      const service = s.server.app.get(DevicesService);
      assert.equal(await service.verifySecret(creds[0].id, creds[0].secret), true);
    } finally {
      await s.close();
    }
  });
});

describe('sample county code 611026 (was 610126)', () => {
  it('seeds Zhashui under 611026, and npm run seed refuses to add it beside one seeded as 610126', async () => {
    const fresh = tempDir();
    const seeded = await runCli(['seed'], { DATA_DIR: fresh });
    assert.equal(seeded.code, 0, seeded.stderr);
    const creds = await readCreds(fresh);
    assert.ok(creds.length > 0 && creds.every((c) => c.villageCode.startsWith('611026')));

    const dataDir = tempDir();
    const old = await startTestServer({ dataDir, seed: false });
    await api(old.url, old.adminToken)
      .post('/api/towns')
      .send({ code: '610126100', name: '乾佑街道' })
      .expect(201);
    await old.close();
    const refused = await runCli(['seed'], { DATA_DIR: dataDir });
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /old code 610126/);
    assert.doesNotMatch(refused.stderr, /\n\s+at /, 'no stack trace');
    const after = await startTestServer({ dataDir, seed: true });
    try {
      const towns = (await api(after.url, after.adminToken).get('/api/towns').expect(200)).body;
      assert.deepEqual(
        towns.items.map((t: { code: string }) => t.code),
        ['610126100'],
      );
    } finally {
      await after.close();
    }
  });
});

describe('the sample clip on first start', () => {
  it('is added with the county, made ready with its tone renditions in the background, once', async () => {
    const dataDir = tempDir();
    const s = await startTestServer({ dataDir, seed: true, sampleClip: true });
    let clipId: string;
    try {
      const client = api(s.url, s.adminToken);
      const listed = async () =>
        (await client.get('/api/clips').expect(200)).body.items as {
          id: string;
          title: string;
          status: string;
          loudnessAfterLufs: number | null;
        }[];
      await eventually(
        async () => (await listed()).some((c) => c.status === 'ready'),
        120_000,
        'the sample clip to be ready',
      );
      const [clip] = await listed();
      clipId = clip.id;
      assert.match(clip.title, /示例广播/);
      assert.ok(Math.abs(clip.loudnessAfterLufs! + 16) <= 1, `${clip.loudnessAfterLufs} LUFS`);
      await s.server.app.get(ClipsService).idle();
      const missing = await s.server.app.get(ClipsRepository).missingRenditions(TONE_FAMILIES);
      assert.deepEqual(missing, [], 'every attention-tone rendition is made');
      // A first broadcast needs nothing else.
      const sent = await client
        .post('/api/broadcasts')
        .send({ title: '第一次广播', clipId, level: 'test', target: { all: true } });
      assert.ok([201, 202].includes(sent.status), JSON.stringify(sent.body));
    } finally {
      await s.close();
    }
    const again = await startTestServer({ dataDir, seed: true, sampleClip: true });
    try {
      const items = (await api(again.url, again.adminToken).get('/api/clips').expect(200)).body
        .items as { id: string }[];
      assert.deepEqual(
        items.map((c) => c.id),
        [clipId],
        'not added again on restart',
      );
    } finally {
      await again.close();
    }
  });

  it('is not added without the sample county', async () => {
    const s = await startTestServer({ seed: false, sampleClip: true });
    try {
      const clips = (await api(s.url, s.adminToken).get('/api/clips').expect(200)).body;
      assert.equal(clips.total, 0);
    } finally {
      await s.close();
    }
  });
});
