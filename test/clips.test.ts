import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it, beforeAll, afterAll } from '@jest/globals';
import request from 'supertest';
import { ClipsService } from '../src/clips/clips.service.js';
import { Ffmpeg, FfmpegActivity } from '../src/clips/ffmpeg.js';
import { MediaService } from '../src/clips/media.service.js';
import { makeAudio, measureLufs, probe } from './support/audio.js';
import { eventually } from './support/mqtt.js';
import { api, startTestServer, tempDir, TestServer, tokenFor } from './support/server.js';

const TARGET = -16;

/** Every file under the clips directory (relative paths), to prove a refused upload leaves none. */
async function clipFiles(dataDir: string): Promise<string[]> {
  const root = join(dataDir, 'clips');
  const out: string[] = [];
  const walk = async (dir: string, prefix: string) => {
    for (const entry of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
      if (entry.isDirectory()) await walk(join(dir, entry.name), `${prefix}${entry.name}/`);
      else out.push(`${prefix}${entry.name}`);
    }
  };
  await walk(root, '');
  return out.sort();
}

describe('clips: upload, normalise, store, serve', () => {
  let s: TestServer;
  let client: ReturnType<typeof api>;
  let dir: string;
  const upload = (path: string, name?: string, query = '?wait=true') =>
    client.post(`/api/clips${query}`).attach('file', path, name ? { filename: name } : undefined);

  beforeAll(async () => {
    s = await startTestServer({
      env: { CLIP_MAX_UPLOAD: '2mb', CLIP_MAX_DURATION_S: '20', FFMPEG_CONCURRENCY: '1' },
    });
    client = api(s.url, s.adminToken);
    dir = tempDir('dalaba-audio-');
  });
  afterAll(() => s.close());

  it('accepts WAV, MP3, OGG/Opus and M4A/AAC from −35 to −8 LUFS and delivers MP3 mono 44.1 kHz at −16 LUFS ±1', async () => {
    const inputs = [
      await makeAudio(dir, 'quiet-noise', { signal: 'noise', gainDb: -20, format: 'wav' }),
      await makeAudio(dir, 'loud-noise', {
        signal: 'noise',
        gainDb: 7.5,
        format: 'mp3',
        channels: 2,
      }),
      await makeAudio(dir, 'sine-opus', {
        signal: 'sine',
        gainDb: 0,
        format: 'ogg',
        channels: 2,
        rate: 48000,
      }),
      await makeAudio(dir, 'noise-aac', {
        signal: 'noise',
        gainDb: -5,
        format: 'm4a',
        channels: 2,
        rate: 48000,
      }),
      await makeAudio(dir, 'stereo-48k', {
        signal: 'noise',
        gainDb: -10,
        format: 'wav',
        channels: 2,
        rate: 48000,
      }),
    ];
    const loudness: number[] = [];
    for (const path of inputs) {
      const before = await measureLufs(path);
      loudness.push(before);
      const res = await upload(path).expect(201);
      assert.equal(res.body.status, 'ready', `${path}: ${res.body.failureReason}`);
      const mp3 = join(dir, `${res.body.id}.mp3`);
      const audio = await client
        .get(`/api/clips/${res.body.id}/audio`)
        .buffer(true)
        .parse((r, cb) => {
          const chunks: Buffer[] = [];
          r.on('data', (c: Buffer) => chunks.push(c));
          r.on('end', () => cb(null, Buffer.concat(chunks)));
        });
      assert.equal(audio.status, 200);
      await writeFile(mp3, audio.body as Buffer);
      assert.equal(
        createHash('sha256')
          .update(audio.body as Buffer)
          .digest('hex'),
        res.body.sha256,
      );
      const format = await probe(mp3);
      assert.deepEqual([format.codec, format.channels, format.sampleRate], ['mp3', 1, 44100], path);
      assert.ok(Math.abs(format.durationS - 6) < 0.2, `${path}: ${format.durationS} s`);
      const out = await measureLufs(mp3);
      assert.ok(
        Math.abs(out - TARGET) <= 1,
        `${path}: in ${before.toFixed(1)} LUFS → out ${out} LUFS`,
      );
      assert.ok(
        Math.abs(res.body.loudnessBeforeLufs - before) < 1.5,
        'loudness before is recorded',
      );
      assert.ok(Math.abs(res.body.loudnessAfterLufs - TARGET) <= 1, 'loudness after is recorded');
      assert.ok(Math.abs(res.body.durationMs - 6000) <= 100, `${res.body.durationMs} ms`);
      assert.match(res.body.originalFormat, /Hz/);
    }
    assert.ok(
      Math.min(...loudness) <= -34 && Math.max(...loudness) >= -9,
      `inputs spanned ${loudness.map((l) => l.toFixed(1)).join(', ')}`,
    );
    assert.equal(
      s.server.app.get(Ffmpeg).peakConcurrency,
      1,
      'never more than FFMPEG_CONCURRENCY ffmpeg runs at once',
    );
  });

  it('makes the same upload one clip, and reports progress while processing', async () => {
    const path = await makeAudio(dir, 'dup', { signal: 'noise', gainDb: -15 });
    const first = await upload(path, 'first.wav', '').expect(202);
    assert.equal(first.body.status, 'processing');
    await eventually(
      async () => (await client.get(`/api/clips/${first.body.id}`)).body.status === 'ready',
      20_000,
      'ready',
    );
    const again = await upload(path, 'again.wav').expect(200);
    assert.equal(again.body.duplicate, true);
    assert.equal(again.body.id, first.body.id);
    const list = await client.get('/api/clips?limit=500').expect(200);
    assert.equal(
      list.body.items.filter((c: { sha256: string }) => c.sha256 === again.body.sha256).length,
      1,
    );
  });

  it('refuses what is not usable audio with a 4xx that says why, and leaves no file behind', async () => {
    const good = await makeAudio(dir, 'tocut', { signal: 'noise', format: 'mp3', seconds: 8 });
    const half = join(dir, 'half.mp3');
    await writeFile(
      half,
      (await readFile(good)).subarray(0, Math.floor((await stat(good)).size / 2)),
    );
    const text = join(dir, 'letter.mp3');
    await writeFile(text, '各位村民请注意 this is a text file, not audio\n');
    const random = join(dir, 'random.mp3');
    await writeFile(
      random,
      Buffer.from(Array.from({ length: 30_000 }, (_, i) => (i * 7919 + 13) % 256)),
    );
    const empty = join(dir, 'empty.wav');
    await writeFile(empty, '');
    const big = join(dir, 'big.wav');
    await writeFile(big, Buffer.alloc(3 * 1024 * 1024, 1));
    const long = await makeAudio(dir, 'long', { signal: 'noise', seconds: 25, format: 'mp3' });
    const silent = await makeAudio(dir, 'silent', { signal: 'silence' });
    const image = join(dir, 'picture.png');
    await writeFile(
      image,
      Buffer.from('89504e470d0a1a0a0000000d4948445200000001000000010806000000', 'hex'),
    );

    await s.server.app.get(ClipsService).idle(); // emergency renditions made ahead of need
    const filesBefore = await clipFiles(s.dataDir);
    const cases: [string, number, string][] = [
      [text, 422, 'NOT_AUDIO'],
      [random, 422, 'NOT_AUDIO'],
      [half, 422, 'AUDIO_TRUNCATED'],
      [empty, 422, 'AUDIO_EMPTY'],
      [big, 413, 'CLIP_TOO_LARGE'],
      [long, 422, 'AUDIO_TOO_LONG'],
      [silent, 422, 'AUDIO_SILENT'],
      [image, 422, 'NOT_AUDIO'],
    ];
    for (const [path, status, code] of cases) {
      const res = await upload(path);
      assert.equal(res.status, status, `${path}: ${res.text}`);
      assert.equal(res.body.error, code, path);
      assert.ok(res.body.message.length > 10);
      assert.deepEqual(await clipFiles(s.dataDir), filesBefore, `${path} left no file`);
    }
    const badQuery = await upload(silent, undefined, '?wait=maybe');
    assert.equal(badQuery.status, 400, badQuery.text);
    assert.deepEqual(await clipFiles(s.dataDir), filesBefore, 'a refused query left no file');
    assert.match((await upload(long)).body.message, /20 s/, 'the limit is named');
    assert.match((await upload(big)).body.message, /2 MB/);
    assert.equal(
      (await client.post('/api/clips').field('title', 'no file').expect(400)).body.error,
      'FILE_REQUIRED',
    );
    assert.equal(
      (await client.post('/api/clips').send({ file: 'x' }).expect(415)).body.error,
      'MULTIPART_REQUIRED',
    );
    const two = await client
      .post('/api/clips')
      .attach('file', silent)
      .attach('file', silent)
      .expect(400);
    assert.equal(two.body.error, 'UNEXPECTED_FILE');
    assert.deepEqual(await clipFiles(s.dataDir), filesBefore);
  });

  it('refuses a recording whose header says it is too long before decoding it', async () => {
    // The header of this MP3 promises 25 s but only a few seconds follow: decoding it would find
    // it cut short, so only a refusal made from the header says "too long".
    const whole = await makeAudio(dir, 'header-long', { seconds: 25, format: 'mp3', gainDb: -16 });
    const cut = join(dir, 'header-long-cut.mp3');
    await writeFile(cut, (await readFile(whole)).subarray(0, 80_000));
    await s.server.app.get(ClipsService).idle();
    const filesBefore = await clipFiles(s.dataDir);
    const res = await upload(cut).expect(422);
    assert.equal(res.body.error, 'AUDIO_TOO_LONG', res.text);
    assert.match(res.body.message, /25(\.\d)? s/, "the recording's length is named");
    assert.match(res.body.message, /20 s/, 'the limit is named');
    assert.deepEqual(await clipFiles(s.dataDir), filesBefore, 'no file is left behind');
  });

  it('prepares every attention-tone rendition when a clip is uploaded, the emergency one first', async () => {
    const clip = (
      await upload(await makeAudio(dir, 'ahead', { signal: 'noise', gainDb: -19 })).expect(201)
    ).body;
    await s.server.app.get(ClipsService).idle();
    const rendered = s
      .logs()
      .map((l) => String(l.msg))
      .filter((m) => m.includes(`clip=${clip.id} rendered`))
      .map((m) => /with the (\w+) tone/.exec(m)?.[1]);
    assert.deepEqual(rendered, ['emergency', 'routine', 'test']);
    for (const tone of ['emergency', 'routine', 'test']) {
      await client.post(`/api/clips/${clip.id}/renditions/${tone}`).expect(200);
    }
    assert.equal(
      s.logs().filter((l) => String(l.msg).includes(`clip=${clip.id} rendered`)).length,
      3,
      'asking for a rendition afterwards makes nothing again',
    );
  });

  it('answers readyAudio at once: null while the audio is made in the urgent lane, then an event, then the audio', async () => {
    const service = s.server.app.get(ClipsService);
    const activity: FfmpegActivity[] = [];
    const watching = s.server.app.get(Ffmpeg).activity.subscribe((a) => activity.push(a));
    const events: string[] = [];
    let clipId = '';
    const changes = service.changes.subscribe((c) => {
      if (c.clipId === clipId)
        events.push(c.kind === 'clip' ? `clip ${c.status}` : `${c.tone} ${c.status}`);
    });
    try {
      const clip = (
        await upload(
          await makeAudio(dir, 'ready-audio', { signal: 'noise', gainDb: -21 }),
          undefined,
          '',
        ).expect(202)
      ).body;
      clipId = clip.id;
      assert.equal(await service.readyAudio(clip.id, 'test'), null, 'still processing');
      await eventually(() => events.includes('test ready'), 60_000, 'the test-tone rendition');
      const audio = await service.readyAudio(clip.id, 'test');
      assert.ok(audio && audio.durationMs > 6000, 'the rendition, tone included');
      assert.equal(events[0], 'clip ready');
      assert.equal(
        events[1],
        'test ready',
        'the rendition asked for went ahead of those made in case',
      );
      assert.deepEqual(
        [
          ...new Set(
            activity.filter((a) => a.label === `clip=${clip.id} rendition=test`).map((a) => a.lane),
          ),
        ],
        ['urgent'],
      );
      assert.deepEqual(await service.readyAudio(clip.id, null), await service.audioOf(clip.id));

      const urgent = (
        await client
          .post('/api/clips?wait=true&priority=urgent')
          .attach('file', await makeAudio(dir, 'urgent-flag', { signal: 'noise', gainDb: -11 }))
          .expect(201)
      ).body;
      const lanes = activity
        .filter((a) => a.label === `clip=${urgent.id} transcode`)
        .map((a) => a.lane);
      assert.ok(lanes.length > 0 && lanes.every((l) => l === 'urgent'), lanes.join());
      await client
        .post('/api/clips?priority=now')
        .attach('file', await makeAudio(dir, 'bad-flag', { gainDb: -12 }))
        .expect(400);
      await service.idle();
    } finally {
      watching.unsubscribe();
      changes.unsubscribe();
    }
  });

  it('keeps the file name only as a label: a path or Chinese name never becomes a path', async () => {
    const path = await makeAudio(dir, 'label', { signal: 'noise', gainDb: -12 });
    const evil = await upload(path, '../../etc/passwd').expect(201);
    assert.equal(evil.body.originalName, 'passwd');
    assert.equal(evil.body.title, 'passwd');
    const files = await clipFiles(s.dataDir);
    assert.ok(
      files.every(
        (f) => /^[0-9a-f]{2}\/[0-9a-f]{64}\.mp3$/.test(f) || f === 'uploads' || f === 'work',
      ),
      files.join(', '),
    );
    const other = await makeAudio(dir, 'label2', { signal: 'noise', gainDb: -13 });
    const chinese = await upload(other, '村委会 防汛紧急通知.m4a').expect(201);
    assert.equal(chinese.body.originalName, '村委会 防汛紧急通知.m4a');
    assert.equal(chinese.body.title, '村委会 防汛紧急通知');
    const titled = await client
      .post('/api/clips?wait=true')
      .field('title', '  乾佑街道 通知 ')
      .attach('file', await makeAudio(dir, 'label3', { gainDb: -9 }))
      .expect(201);
    assert.equal(titled.body.title, '乾佑街道 通知');
  });

  describe('signed downloads for devices', () => {
    let sha: string;
    let size: number;
    let body: Buffer;
    const get = (url: string) =>
      request(url)
        .get('')
        .buffer(true)
        .parse((r, cb) => {
          const chunks: Buffer[] = [];
          r.on('data', (c: Buffer) => chunks.push(c));
          r.on('end', () => cb(null, Buffer.concat(chunks)));
        });
    const urlFor = (deviceId: string, expiresAt = Date.now() + 60_000) => {
      const url = s.server.app.get(MediaService).urlFor(sha, deviceId, expiresAt);
      return url.replace(/^https?:\/\/[^/]+/, s.url);
    };

    beforeAll(async () => {
      const clip = (
        await upload(
          await makeAudio(dir, 'served', { signal: 'noise', gainDb: -18, seconds: 4 }),
        ).expect(201)
      ).body;
      sha = clip.sha256;
      size = clip.bytes;
      body = (await get(urlFor('vl-1')).expect(200)).body as Buffer;
    });

    it('serves the whole file with Content-Type, Content-Length, ETag and Accept-Ranges', async () => {
      const res = await get(urlFor('vl-1')).expect(200);
      assert.equal(res.headers['content-type'], 'audio/mpeg');
      assert.equal(Number(res.headers['content-length']), size);
      assert.equal(res.headers.etag, `"${sha}"`);
      assert.equal(res.headers['accept-ranges'], 'bytes');
      assert.equal(createHash('sha256').update(body).digest('hex'), sha);
      await request(urlFor('vl-1')).get('').set('If-None-Match', `"${sha}"`).expect(304);
      const head = await request(urlFor('vl-1')).head('').expect(200);
      assert.equal(Number(head.headers['content-length']), size);
    });

    it('answers Range requests with the right bytes (first, middle, suffix) and 416 for a bad range', async () => {
      const range = async (header: string, status: number) => {
        const res = await get(urlFor('vl-1')).set('Range', header).expect(status);
        return res;
      };
      const first = await range('bytes=0-99', 206);
      assert.deepEqual(first.body, body.subarray(0, 100));
      assert.equal(first.headers['content-range'], `bytes 0-99/${size}`);
      const middle = await range('bytes=1000-1999', 206);
      assert.deepEqual(middle.body, body.subarray(1000, 2000));
      const suffix = await range('bytes=-500', 206);
      assert.deepEqual(suffix.body, body.subarray(size - 500));
      const rest = await range(`bytes=${size - 10}-`, 206);
      assert.deepEqual(rest.body, body.subarray(size - 10));
      const bad = await range(`bytes=${size + 10}-`, 416);
      assert.equal(bad.headers['content-range'], `bytes */${size}`);
    });

    it('refuses tampered, foreign and expired links with the same 403 that reveals nothing', async () => {
      const good = new URL(urlFor('vl-1'));
      const variants: string[] = [];
      const tampered = new URL(good);
      tampered.searchParams.set('sig', `${good.searchParams.get('sig')!.slice(0, -2)}AA`);
      variants.push(tampered.toString());
      const otherDevice = new URL(good);
      otherDevice.searchParams.set('d', 'vl-2');
      variants.push(otherDevice.toString());
      const longer = new URL(good);
      longer.searchParams.set('exp', String(Number(good.searchParams.get('exp')) + 3600));
      variants.push(longer.toString());
      variants.push(urlFor('vl-1', Date.now() - 1000));
      variants.push(good.toString().replace(/\?.*$/, ''));
      variants.push(good.toString().replace(sha, 'f'.repeat(64)));
      variants.push(good.toString().replace(`${sha}.mp3`, '../../etc/passwd'));
      const bodies = new Set<string>();
      for (const url of variants) {
        const res = await request(url).get('');
        assert.equal(res.status, url.includes('etc/passwd') ? 404 : 403, url);
        if (res.status === 403) bodies.add(JSON.stringify({ ...res.body, requestId: undefined }));
        assert.ok(
          !res.text.includes(sha) && !/not found|exist/i.test(res.text),
          'nothing about the file',
        );
      }
      assert.equal(bodies.size, 1, 'every refusal looks the same');
      // A valid signature for audio that is not stored: 404 (only a holder of a valid link learns it).
      const missing = s.server.app
        .get(MediaService)
        .urlFor('e'.repeat(64), 'vl-1', Date.now() + 60_000)
        .replace(/^https?:\/\/[^/]+/, s.url);
      await request(missing).get('').expect(404);
    });
  });

  it('renders a clip with an attention tone in front, normalised together, once', async () => {
    const clip = (
      await upload(
        await makeAudio(dir, 'toned', { signal: 'noise', gainDb: -22, seconds: 5 }),
      ).expect(201)
    ).body;
    const first = await client.post(`/api/clips/${clip.id}/renditions/emergency`).expect(200);
    assert.equal(first.body.tone, 'emergency');
    assert.ok(
      first.body.durationMs > clip.durationMs + 2500,
      `tone added: ${first.body.durationMs} ms`,
    );
    const url = s.server.app
      .get(MediaService)
      .urlFor(first.body.sha256, 'x', Date.now() + 60_000)
      .replace(/^https?:\/\/[^/]+/, s.url);
    const mp3 = join(dir, 'rendition.mp3');
    const res = await request(url)
      .get('')
      .buffer(true)
      .parse((r, cb) => {
        const chunks: Buffer[] = [];
        r.on('data', (c: Buffer) => chunks.push(c));
        r.on('end', () => cb(null, Buffer.concat(chunks)));
      })
      .expect(200);
    await writeFile(mp3, res.body as Buffer);
    assert.ok(Math.abs((await measureLufs(mp3)) - TARGET) <= 1);
    const renderedLines = () =>
      s
        .logs()
        .filter((l) => typeof l.msg === 'string' && l.msg.includes(`clip=${clip.id} rendered`))
        .length;
    assert.equal(renderedLines(), 1);
    const [a, b] = await Promise.all([
      client.post(`/api/clips/${clip.id}/renditions/emergency`).expect(200),
      client.post(`/api/clips/${clip.id}/renditions/emergency`).expect(200),
    ]);
    assert.equal(a.body.sha256, first.body.sha256);
    assert.equal(b.body.sha256, first.body.sha256);
    assert.equal(renderedLines(), 1, 'made once, then reused');
    await client.post(`/api/clips/${clip.id}/renditions/disco`).expect(400);
  });

  it('joins ready clips into one, checked and normalised like an upload; the same parts again are that clip', async () => {
    const clips = s.server.app.get(ClipsService);
    const quiet = (
      await upload(await makeAudio(dir, 'join-a', { seconds: 2, gainDb: -30 })).expect(201)
    ).body;
    const loud = (
      await upload(
        await makeAudio(dir, 'join-b', { signal: 'noise', seconds: 3, gainDb: -12 }),
      ).expect(201)
    ).body;
    const joined = await clips.join([quiet.id, loud.id, quiet.id], 'joined', 'test');
    assert.equal(joined.status, 'ready', joined.failureReason ?? '');
    assert.equal(joined.duplicate, false);
    assert.equal(joined.deliveryFormat, quiet.deliveryFormat);
    const expected = 2 * quiet.durationMs + loud.durationMs;
    assert.ok(
      Math.abs(joined.durationMs! - expected) < 300,
      `${joined.durationMs} ms, expected ~${expected}`,
    );
    assert.ok(Math.abs(joined.loudnessAfterLufs! - TARGET) <= 1, `${joined.loudnessAfterLufs}`);
    assert.notEqual(joined.sha256, quiet.sha256);
    const again = await clips.join([quiet.id, loud.id, quiet.id], 'again', 'test');
    assert.deepEqual([again.id, again.duplicate], [joined.id, true], 'found by its parts');
    const other = await clips.join([loud.id, quiet.id, quiet.id], 'other order', 'test');
    assert.notEqual(other.id, joined.id, 'another order is another recording');
    await assert.rejects(clips.join([quiet.id, 'no-such-clip'], 'x', 'test'), /no-such-clip/);
  });

  it('lists, searches, renames and deletes clips; refuses deleting one in use', async () => {
    const clip = (
      await upload(
        await makeAudio(dir, 'lib', { signal: 'noise', gainDb: -17 }),
        '每日天气预报.wav',
      ).expect(201)
    ).body;
    const found = await client.get(`/api/clips?q=${encodeURIComponent('天气')}`).expect(200);
    assert.deepEqual(
      found.body.items.map((c: { id: string }) => c.id),
      [clip.id],
    );
    assert.ok((await client.get('/api/clips?status=ready').expect(200)).body.total >= 1);
    const renamed = await client
      .patch(`/api/clips/${clip.id}`)
      .send({ title: '早间天气' })
      .expect(200);
    assert.equal(renamed.body.title, '早间天气');
    await client.patch(`/api/clips/${clip.id}`).send({ title: '' }).expect(400);
    await client.get('/api/clips/not-a-uuid').expect(400);
    await client.get('/api/clips/00000000-0000-4000-8000-000000000000').expect(404);

    const service = s.server.app.get(ClipsService);
    let inUse = true;
    service.registerUsageCheck(async (id) =>
      id === clip.id && inUse ? 'broadcast B-1 is scheduled' : null,
    );
    const refused = await client.delete(`/api/clips/${clip.id}`).expect(409);
    assert.equal(refused.body.error, 'CLIP_IN_USE');
    assert.match(refused.body.message, /broadcast B-1/);
    inUse = false;
    await service.idle();
    const files = await clipFiles(s.dataDir);
    await client.delete(`/api/clips/${clip.id}`).expect(204);
    await client.get(`/api/clips/${clip.id}`).expect(404);
    assert.ok(
      !(await clipFiles(s.dataDir)).some((f) => f.includes(clip.sha256)),
      'its audio file is gone',
    );
    assert.equal(
      (await clipFiles(s.dataDir)).length,
      files.length - 4,
      'the clip and its three renditions (made ahead of need) are removed',
    );
  });

  it('lets viewers list and listen but not upload', async () => {
    const viewer = await tokenFor(s, 'viewer');
    await api(s.url, viewer).get('/api/clips').expect(200);
    await api(s.url, viewer)
      .post('/api/clips')
      .attach('file', await makeAudio(dir, 'viewer', {}))
      .expect(403);
  });
});

describe('transcoding lanes: an emergency never waits behind routine work', () => {
  let s: TestServer;
  let client: ReturnType<typeof api>;
  let dir: string;

  beforeAll(async () => {
    s = await startTestServer({
      env: { FFMPEG_CONCURRENCY: '1', CLIP_MAX_UPLOAD: '20mb', CLIP_MAX_DURATION_S: '1800' },
    });
    client = api(s.url, s.adminToken);
    dir = tempDir('dalaba-lanes-');
  });
  afterAll(() => s.close());

  it('a short alert uploaded while a long recording is checked, then transcoded, is ready first each time; deleting the long one stops its work', async () => {
    // Eight minutes at 8 kHz: each ffmpeg pass over it takes seconds, an alert's pass a fraction.
    const long = await makeAudio(dir, 'long-recording', {
      signal: 'noise',
      seconds: 480,
      rate: 8000,
      gainDb: -18,
    });
    const ffmpeg = s.server.app.get(Ffmpeg);
    const order: string[] = [];
    const longUpload = client
      .post('/api/clips')
      .attach('file', long)
      .then((res) => {
        order.push('long accepted');
        return res;
      });
    await eventually(() => ffmpeg.peakConcurrency > 0, 60_000, 'the long recording being read');
    await client
      .post('/api/clips?wait=true')
      .attach('file', await makeAudio(dir, 'alert-1', { seconds: 10, gainDb: -15 }))
      .expect(201);
    order.push('alert ready');
    const accepted = await longUpload;
    assert.equal(accepted.status, 202, accepted.text);
    assert.deepEqual(
      order,
      ['alert ready', 'long accepted'],
      'the alert did not wait for the check',
    );

    // The long recording is now transcoded in the background; a second alert goes ahead of it.
    await client
      .post('/api/clips?wait=true')
      .attach('file', await makeAudio(dir, 'alert-2', { seconds: 10, gainDb: -14 }))
      .expect(201);
    const longNow = (await client.get(`/api/clips/${accepted.body.id}`).expect(200)).body;
    assert.equal(longNow.status, 'processing', 'the alert did not wait for the long transcode');

    // Deleted while still processing: its ffmpeg work stops and nothing of it runs again.
    const activity: FfmpegActivity[] = [];
    const watching = ffmpeg.activity.subscribe((a) => activity.push(a));
    await client.delete(`/api/clips/${accepted.body.id}`).expect(204);
    const deletedAt = activity.length;
    await s.server.app.get(ClipsService).idle();
    watching.unsubscribe();
    const ofLong = (a: FfmpegActivity) => a.label.startsWith(`clip=${accepted.body.id} `);
    assert.deepEqual(
      activity.slice(deletedAt).filter((a) => ofLong(a) && a.kind !== 'end'),
      [],
      'no run of the deleted clip starts or resumes',
    );
    assert.ok(
      !s.logs().some((l) => String(l.msg).includes(`clip=${accepted.body.id} ready`)),
      'it never became ready',
    );
  });
});

describe('clips across restarts and without ffmpeg', () => {
  it('keeps clips over a restart, resumes one interrupted mid-transcode, and cleans orphaned files', async () => {
    const dir = tempDir('dalaba-audio-');
    const first = await startTestServer();
    let kept: { id: string };
    let interrupted: { id: string };
    try {
      const client1 = api(first.url, first.adminToken);
      kept = (
        await client1
          .post('/api/clips?wait=true')
          .attach('file', await makeAudio(dir, 'kept', { signal: 'noise' }))
          .expect(201)
      ).body;
      // Accepted, then the server stops before its transcode finishes (ffmpeg is killed).
      const long = await makeAudio(dir, 'interrupted', {
        signal: 'noise',
        seconds: 120,
        format: 'mp3',
        gainDb: -14,
      });
      interrupted = (await client1.post('/api/clips').attach('file', long).expect(202)).body;
    } finally {
      await first.close();
    }

    const clipsDir = join(first.dataDir, 'clips');
    await writeFile(join(clipsDir, 'work', 'half-written.mp3'), 'x');
    await writeFile(join(clipsDir, 'uploads', '11111111-1111-4111-8111-111111111111.src'), 'x');
    await mkdir(join(clipsDir, 'ab'), { recursive: true });
    await writeFile(join(clipsDir, 'ab', `ab${'0'.repeat(62)}.mp3`), 'orphan');

    const second = await startTestServer({ dataDir: first.dataDir, adminToken: first.adminToken });
    try {
      const client2 = api(second.url, second.adminToken);
      const again = await client2.get(`/api/clips/${kept.id}`).expect(200);
      assert.equal(again.body.status, 'ready');
      await client2.get(`/api/clips/${kept.id}/audio`).expect(200);
      const files = await clipFiles(second.dataDir);
      assert.ok(!files.includes('work/half-written.mp3'));
      assert.ok(!files.some((f) => f.startsWith('uploads/1111')));
      assert.ok(!files.includes(`ab/ab${'0'.repeat(62)}.mp3`));
      await eventually(
        async () => (await client2.get(`/api/clips/${interrupted.id}`)).body.status === 'ready',
        60_000,
        'the interrupted clip to finish',
      );
      const done = (await client2.get(`/api/clips/${interrupted.id}`)).body;
      assert.ok(Math.abs(done.durationMs - 120_000) <= 100, `${done.durationMs} ms`);
      assert.ok(
        !(await clipFiles(second.dataDir)).some(
          (f) => f.startsWith('uploads/') && f.endsWith('.src'),
        ),
        'its upload is cleaned up',
      );
    } finally {
      await second.close();
    }
  });

  it('starts without ffmpeg, reports audio as unavailable, and answers uploads 503 with the fix', async () => {
    const dir = tempDir('dalaba-audio-');
    const path = await makeAudio(dir, 'nofffmpeg', {});
    const variants: Record<string, string>[] = [
      { FFMPEG_PATH: '/nonexistent/ffmpeg' },
      // Nothing anywhere: no FFMPEG_PATH, none on PATH, and (below) no npm package with one.
      { PATH: '/nonexistent', FFMPEG_PATH: '' },
    ];
    for (const env of variants) {
      const s = await startTestServer({
        env,
        configure: (config) => {
          config.audio.ffmpegPackages = [];
        },
      });
      try {
        const ready = await api(s.url).get('/health/ready').expect(200);
        assert.equal(ready.body.status, 'degraded');
        assert.equal(ready.body.checks.audio.ok, false);
        assert.equal(ready.body.checks.database.ok, true);
        const res = await api(s.url, s.adminToken)
          .post('/api/clips')
          .attach('file', path)
          .expect(503);
        assert.equal(res.body.error, 'AUDIO_UNAVAILABLE');
        assert.match(
          res.body.message,
          env.FFMPEG_PATH ? /FFMPEG_PATH=\/nonexistent\/ffmpeg/ : /apt-get install ffmpeg/,
        );
        assert.ok(
          s.logs().some((l) => l.context === 'ffmpeg' && /unavailable/.test(String(l.msg))),
          'the start-up log says so',
        );
        assert.deepEqual(
          (await clipFiles(s.dataDir)).filter((f) => !['uploads', 'work'].includes(f)),
          [],
        );
      } finally {
        await s.close();
      }
    }
  });

  it('kills an ffmpeg run that exceeds its time limit', async () => {
    const dir = tempDir('dalaba-audio-');
    const s = await startTestServer({
      env: { FFMPEG_TIMEOUT_S: '1', CLIP_MAX_DURATION_S: '7200' },
    });
    try {
      const long = await makeAudio(dir, 'slow', {
        signal: 'noise',
        seconds: 600,
        format: 'mp3',
        gainDb: -14,
      });
      const res = await api(s.url, s.adminToken).post('/api/clips').attach('file', long);
      assert.equal(res.status, 422, res.text);
      assert.equal(res.body.error, 'AUDIO_TIMEOUT');
    } finally {
      await s.close();
    }
  });
});
