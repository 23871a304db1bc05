import assert from 'node:assert/strict';
import { chmod, readFile, writeFile } from 'node:fs/promises';
import { createServer, IncomingMessage, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { describe, it, beforeAll, afterAll } from '@jest/globals';
import type { DeviceAgent } from '../devices/agent.js';
import type { PlayCommand } from '../src/contract/messages.js';
import { createBroadcast, deliveriesOf, statusReached } from './support/broadcasts.js';
import { makeAudio } from './support/audio.js';
import { fixtures } from './support/fixtures.js';
import { mqttUrl, startAgentOnline } from './support/mqtt.js';
import { api, startTestServer, tempDir, TestServer, tokenFor } from './support/server.js';

const NOTICE = '各位村民请注意：今天夜间有暴雨，请不要靠近河道，注意防范山洪。';

describe('text to speech with espeak-ng, played by the fleet', () => {
  let s: TestServer;
  let operator: string;
  let viewer: string;
  let village: string;
  const agents: DeviceAgent[] = [];

  beforeAll(async () => {
    s = await startTestServer();
    operator = await tokenFor(s, 'operator');
    viewer = await tokenFor(s, 'viewer');
    const fx = fixtures(s.url, s.adminToken);
    village = (await fx.newVillage((await fx.newTown()).code)).code;
    for (let i = 0; i < 2; i++) {
      const device = await fx.newDevice(village);
      agents.push(await startAgentOnline(s, mqttUrl(s), device));
    }
  });
  afterAll(async () => {
    await Promise.all(agents.map((a) => a.stop()));
    await s.close();
  });

  it('says which engine speaks, with its Mandarin voice first, to any viewer', async () => {
    const res = await api(s.url, viewer).get('/api/clips/tts').expect(200);
    assert.equal(res.body.engine, 'espeak-ng');
    assert.equal(res.body.available, true);
    assert.equal(res.body.reason, null);
    assert.equal(res.body.defaultVoice, 'cmn');
    assert.equal(res.body.voices[0], 'cmn');
    assert.ok(res.body.voices.includes('yue'), 'the other voices are listed too');
    const ready = await api(s.url).get('/health/ready').expect(200);
    assert.deepEqual(
      { ok: ready.body.checks.tts.ok, critical: ready.body.checks.tts.critical },
      { ok: true, critical: false },
    );
  });

  it('makes a ready clip that a broadcast delivers and every device plays', async () => {
    const made = await api(s.url, operator).post('/api/clips/tts').send({ text: NOTICE });
    assert.equal(made.status, 201, made.text);
    const clip = made.body;
    assert.equal(clip.status, 'ready');
    assert.equal(clip.duplicate, false);
    assert.equal(clip.originalName, 'tts.wav');
    assert.match(clip.originalFormat, /^wav /);
    assert.equal(clip.title, NOTICE, 'titled with the text when short');
    assert.equal(clip.createdBy, 'test operator');
    // 29 characters of Mandarin at the normal rate: seconds of speech, not a click.
    assert.ok(clip.durationMs > 3000, `${clip.durationMs} ms`);
    assert.ok(Math.abs(clip.loudnessAfterLufs - -16) < 1.5, 'normalised like any upload');
    assert.ok(clip.truePeakAfterDb <= -1.5, `${clip.truePeakAfterDb} dBTP: under the ceiling`);

    const commands = new Map<string, PlayCommand>();
    const plays = new Map<string, number>();
    for (const a of agents) {
      a.on('command', (cmd: PlayCommand) => cmd.type === 'play' && commands.set(a.id, cmd));
      a.on('playback', () => plays.set(a.id, (plays.get(a.id) ?? 0) + 1));
    }
    let id = '';
    const completed = statusReached(s, () => id, 'completed');
    const b = await createBroadcast(s, {
      title: '暴雨提醒',
      clipId: clip.id,
      level: 'III',
      target: { villages: [village] },
      attentionTone: false,
    });
    id = b.id;
    await completed;
    const deliveries = await deliveriesOf(s, id);
    assert.deepEqual(
      deliveries.map((d) => d.state),
      ['played', 'played'],
    );
    assert.deepEqual([...plays.values()], [1, 1], 'each device played it once');
    for (const a of agents) {
      assert.equal(commands.get(a.id)?.clip.sha256, clip.sha256, 'the spoken clip itself');
    }
  });

  it('returns the same clip for the same text, voice and speed', async () => {
    const first = await api(s.url, operator)
      .post('/api/clips/tts')
      .send({ text: '明天上午九点村委会开会。', title: '开会通知' })
      .expect(201);
    const again = await api(s.url, operator)
      .post('/api/clips/tts')
      .send({ text: '  明天上午九点村委会开会。 ', title: '开会通知' })
      .expect(201);
    assert.equal(again.body.id, first.body.id);
    assert.equal(again.body.duplicate, true);
    assert.equal(first.body.title, '开会通知');
    const faster = await api(s.url, operator)
      .post('/api/clips/tts')
      .send({ text: '明天上午九点村委会开会。', speed: 2 })
      .expect(201);
    assert.notEqual(faster.body.id, first.body.id);
    assert.ok(
      faster.body.durationMs < first.body.durationMs,
      `speed 2: ${faster.body.durationMs} ms against ${first.body.durationMs} ms`,
    );
    const cantonese = await api(s.url, operator)
      .post('/api/clips/tts')
      .send({ text: '明天上午九点村委会开会。', voice: 'yue' })
      .expect(201);
    assert.notEqual(cantonese.body.sha256, first.body.sha256);
  });

  it('answers the same text asked for twice at once with one clip, ready for both', async () => {
    const text = '今晚八点至十点停水，请提前储水。';
    const [a, b] = await Promise.all(
      [0, 1].map(() => api(s.url, operator).post('/api/clips/tts').send({ text }).expect(201)),
    );
    assert.equal(a.body.id, b.body.id);
    assert.deepEqual(
      [a.body.status, b.body.status],
      ['ready', 'ready'],
      'the second is given the clip once made, not while it is processing',
    );
    assert.deepEqual([a.body.duplicate, b.body.duplicate].sort(), [false, true]);
  });

  it('refuses text and voices it cannot speak with 400 and says why', async () => {
    const refused = async (body: Record<string, unknown>, code: string, message: RegExp) => {
      const res = await api(s.url, operator).post('/api/clips/tts').send(body);
      assert.equal(res.status, 400, `${JSON.stringify(body).slice(0, 80)}: ${res.text}`);
      assert.equal(res.body.error, code);
      assert.match(res.body.message, message);
    };
    await refused({ text: '  \n ' }, 'TTS_TEXT_INVALID', /text is empty/);
    await refused({ text: '请注意\u0007' }, 'TTS_TEXT_INVALID', /control characters/);
    await refused({ text: '雨'.repeat(2001) }, 'TTS_TEXT_INVALID', /2001 characters; at most 2000/);
    await refused({ text: '。。。！' }, 'TTS_TEXT_INVALID', /no letter or digit/);
    await refused({ text: NOTICE, voice: 'klingon' }, 'TTS_VOICE_UNKNOWN', /no voice "klingon"/);
    await refused({ text: NOTICE, voice: '--help' }, 'VALIDATION_FAILED', /voice/);
    await refused({ text: NOTICE, speed: 3 }, 'VALIDATION_FAILED', /speed/);
    await refused({ voice: 'cmn' }, 'VALIDATION_FAILED', /text/);
  });

  it('lets only an operator speak', async () => {
    const res = await api(s.url, viewer).post('/api/clips/tts').send({ text: NOTICE }).expect(403);
    assert.equal(res.body.error, 'FORBIDDEN');
  });
});

describe('espeak-ng gets the text on stdin, never on its command line', () => {
  it('speaks text that looks like options and shell', async () => {
    const dir = tempDir('dalaba-espeak-');
    // A stand-in on TTS_ESPEAK_PATH that notes its arguments and input, then runs the real one.
    const wrapper = join(dir, 'espeak-ng');
    await writeFile(
      wrapper,
      [
        '#!/bin/sh',
        `printf '%s\\n' "$*" >> ${dir}/argv.log`,
        'case "$*" in',
        `  *--stdin*) tee ${dir}/stdin.txt | exec /usr/bin/espeak-ng "$@" ;;`,
        '  *) exec /usr/bin/espeak-ng "$@" ;;',
        'esac',
        '',
      ].join('\n'),
    );
    await chmod(wrapper, 0o755);
    const s = await startTestServer({
      env: { TTS_ENGINE: 'espeak-ng', TTS_ESPEAK_PATH: wrapper },
    });
    try {
      const text = '--help -w /etc/passwd $(touch pwned) 请注意';
      const res = await api(s.url, s.adminToken).post('/api/clips/tts').send({ text }).expect(201);
      assert.equal(res.body.status, 'ready');
      assert.equal(await readFile(join(dir, 'stdin.txt'), 'utf8'), text);
      const argv = await readFile(join(dir, 'argv.log'), 'utf8');
      assert.doesNotMatch(argv, /pwned|请注意|passwd/);
      assert.match(argv, /^-v cmn -s 225 -b 1 -w \S+ --stdin$/m);
    } finally {
      await s.close();
    }
  });
});

interface SpeechRequest {
  authorization: string | undefined;
  contentType: string | undefined;
  body: string;
}

/** A speech server: answers a POST with the WAV it was given, or with `failWith` when set. */
async function speechServer(wav: Buffer): Promise<{
  url: string;
  server: Server;
  requests: SpeechRequest[];
  failWith: (status: number | null) => void;
}> {
  const requests: SpeechRequest[] = [];
  let failure: number | null = null;
  const read = (req: IncomingMessage) =>
    new Promise<string>((resolve) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    });
  const server = createServer((req, res) => {
    void read(req).then((body) => {
      requests.push({
        authorization: req.headers.authorization,
        contentType: req.headers['content-type'],
        body,
      });
      if (failure !== null) {
        res.writeHead(failure, { 'Content-Type': 'text/plain' }).end('model is loading');
        return;
      }
      res.writeHead(200, { 'Content-Type': 'audio/wav', 'Content-Length': wav.length }).end(wav);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/tts`,
    server,
    requests,
    failWith: (status) => (failure = status),
  };
}

describe('text to speech through a speech server over HTTP', () => {
  const TOKEN = 'tts-secret-0123456789abcdef';
  let speech: Awaited<ReturnType<typeof speechServer>>;
  let wav: Buffer;

  beforeAll(async () => {
    // What a neural engine would answer: two seconds of audio, made here with ffmpeg.
    wav = await readFile(
      await makeAudio(tempDir('dalaba-speech-'), 'speech', { seconds: 2, gainDb: -18 }),
    );
    speech = await speechServer(wav);
  });
  afterAll(() => void speech.server.close());

  it('posts the text as JSON with the bearer token, and never logs the token', async () => {
    const s = await startTestServer({
      env: { TTS_HTTP_URL: speech.url, TTS_HTTP_TOKEN: TOKEN, TTS_HTTP_VOICES: 'xiaoyan,xiaofeng' },
    });
    try {
      const status = (await api(s.url, s.adminToken).get('/api/clips/tts').expect(200)).body;
      assert.deepEqual(status, {
        engine: 'http',
        available: true,
        reason: null,
        voices: ['xiaoyan', 'xiaofeng'],
        defaultVoice: 'xiaoyan',
      });
      const res = await api(s.url, s.adminToken)
        .post('/api/clips/tts?priority=urgent')
        .send({ text: NOTICE, voice: 'xiaofeng', speed: 1.2 });
      assert.equal(res.status, 201, res.text);
      assert.equal(res.body.status, 'ready');
      assert.equal(res.body.originalName, 'tts.wav');
      assert.ok(Math.abs(res.body.durationMs - 2000) < 100, `${res.body.durationMs} ms`);
      const got = speech.requests.at(-1)!;
      assert.equal(got.authorization, `Bearer ${TOKEN}`);
      assert.match(got.contentType ?? '', /^application\/json/);
      assert.deepEqual(JSON.parse(got.body), { text: NOTICE, voice: 'xiaofeng', speed: 1.2 });

      const unknown = await api(s.url, s.adminToken)
        .post('/api/clips/tts')
        .send({ text: NOTICE, voice: 'cmn' })
        .expect(400);
      assert.equal(unknown.body.error, 'TTS_VOICE_UNKNOWN');

      // The server fails: 503 with its words, readiness degraded, then it recovers.
      speech.failWith(500);
      const failed = await api(s.url, s.adminToken)
        .post('/api/clips/tts')
        .send({ text: '第二条通知。' })
        .expect(503);
      assert.equal(failed.body.error, 'TTS_ENGINE_FAILED');
      assert.match(failed.body.message, /answered HTTP 500: model is loading/);
      const degraded = (await api(s.url).get('/health/ready').expect(200)).body;
      assert.equal(degraded.status, 'degraded');
      assert.match(degraded.checks.tts.error, /HTTP 500/);
      speech.failWith(null);
      await api(s.url, s.adminToken)
        .post('/api/clips/tts')
        .send({ text: '第二条通知。' })
        .expect(201);
      assert.equal((await api(s.url).get('/health/ready').expect(200)).body.checks.tts.ok, true);

      assert.ok(
        s.rawLogs.every((line) => !line.includes(TOKEN)),
        'the token is in no log line',
      );
    } finally {
      speech.failWith(null);
      await s.close();
    }
  });

  it('posts a form when TTS_HTTP_FORMAT=form', async () => {
    const s = await startTestServer({
      env: { TTS_ENGINE: 'http', TTS_HTTP_URL: speech.url, TTS_HTTP_FORMAT: 'form' },
    });
    try {
      await api(s.url, s.adminToken)
        .post('/api/clips/tts')
        .send({ text: '停电通知：明天停电。' })
        .expect(201);
      const got = speech.requests.at(-1)!;
      assert.equal(got.authorization, undefined, 'no token configured, none sent');
      assert.match(got.contentType ?? '', /^application\/x-www-form-urlencoded/);
      assert.deepEqual(Object.fromEntries(new URLSearchParams(got.body)), {
        text: '停电通知：明天停电。',
        voice: 'default',
        speed: '1',
      });
    } finally {
      await s.close();
    }
  });
});

describe('without an engine', () => {
  it('says text to speech is turned off (TTS_ENGINE=none), and refuses with 503', async () => {
    const s = await startTestServer({ env: { TTS_ENGINE: 'none' } });
    try {
      const status = (await api(s.url, s.adminToken).get('/api/clips/tts').expect(200)).body;
      assert.equal(status.engine, null);
      assert.equal(status.available, false);
      assert.match(status.reason, /turned off \(TTS_ENGINE=none\)/);
      assert.deepEqual(status.voices, []);
      const res = await api(s.url, s.adminToken)
        .post('/api/clips/tts')
        .send({ text: NOTICE })
        .expect(503);
      assert.equal(res.body.error, 'TTS_UNAVAILABLE');
      assert.match(res.body.message, /^Text to speech is unavailable: .*TTS_ENGINE=none/);
      // Turned off on purpose is not a fault: readiness does not count it.
      const ready = (await api(s.url).get('/health/ready').expect(200)).body;
      assert.equal(ready.checks.tts, undefined);
    } finally {
      await s.close();
    }
  });

  it('says espeak-ng is missing and how to fix it', async () => {
    const s = await startTestServer({
      env: { TTS_ENGINE: 'espeak-ng', TTS_ESPEAK_PATH: '/nonexistent/espeak-ng' },
    });
    try {
      const status = (await api(s.url, s.adminToken).get('/api/clips/tts').expect(200)).body;
      assert.equal(status.engine, 'espeak-ng');
      assert.equal(status.available, false);
      assert.match(status.reason, /TTS_ESPEAK_PATH=\/nonexistent\/espeak-ng is not an espeak-ng/);
      const res = await api(s.url, s.adminToken)
        .post('/api/clips/tts')
        .send({ text: NOTICE })
        .expect(503);
      assert.equal(res.body.error, 'TTS_UNAVAILABLE');
      const ready = (await api(s.url).get('/health/ready').expect(200)).body;
      assert.equal(ready.status, 'degraded');
      assert.match(ready.checks.tts.error, /TTS_ESPEAK_PATH/);
    } finally {
      await s.close();
    }
  });
});
