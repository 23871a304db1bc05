import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { createServer, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it, beforeAll, afterAll } from '@jest/globals';
import { DeviceAgent } from '../devices/agent.js';
import { fetchClip } from '../devices/clip-fetcher.js';
import type { Level, PlayCommand } from '../src/contract/messages.js';
import { DeviceGateway } from '../src/devices/device-gateway.js';
import { fixtures } from './support/fixtures.js';
import { mqttUrl, startAgentOnline } from './support/mqtt.js';
import { startTestServer, TestServer } from './support/server.js';

/**
 * Serves one clip with Range support; can cut a response short once, like a broken 4G link, or
 * answer 503 to the next few requests, like a server that is restarting.
 */
function clipServer(body: Buffer): Promise<{
  url: string;
  server: Server;
  cutNext: () => void;
  unavailableFor: (requests: number, status?: number) => void;
  ranges: string[];
  requests: () => number;
}> {
  let cut = false;
  let unavailable = 0;
  let unavailableStatus = 503;
  let requests = 0;
  const ranges: string[] = [];
  const server = createServer((req, res) => {
    requests++;
    if (unavailable > 0) {
      unavailable--;
      res.writeHead(unavailableStatus).end();
      return;
    }
    const range = req.headers.range;
    if (range) ranges.push(range);
    const start = range ? Number(/bytes=(\d+)-/.exec(range)?.[1] ?? 0) : 0;
    res.writeHead(range ? 206 : 200, {
      'Content-Length': body.length - start,
      'Accept-Ranges': 'bytes',
    });
    if (cut) {
      cut = false;
      // Flush the first bytes, then break the connection mid-body.
      res.write(body.subarray(start, start + 1000), () => setTimeout(() => res.destroy(), 20));
      return;
    }
    res.end(body.subarray(start));
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({
        url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/clip.mp3`,
        server,
        cutNext: () => (cut = true),
        unavailableFor: (n, status = 503) => {
          unavailable = n;
          unavailableStatus = status;
        },
        ranges,
        requests: () => requests,
      }),
    ),
  );
}

describe('fetching a clip', () => {
  const body = randomBytes(10_000);
  const clipOf = (url: string) => ({
    url,
    bytes: body.length,
    sha256: createHash('sha256').update(body).digest('hex'),
    codec: 'mp3' as const,
    durationMs: 1000,
  });
  let clip: Awaited<ReturnType<typeof clipServer>>;
  beforeAll(async () => (clip = await clipServer(body)));
  afterAll(() => void clip.server.close());

  it('retries a server that is down until the deadline, not a fixed number of times', async () => {
    clip.unavailableFor(6);
    const before = clip.requests();
    const got = await fetchClip(clipOf(clip.url), { deadline: Date.now() + 30_000, backoffMs: 5 });
    assert.equal(got.bytes, body.length);
    assert.equal(clip.requests() - before, 7, 'six 503s, then the clip');
  });

  it('gives up when the deadline comes, or after the attempts without one', async () => {
    clip.unavailableFor(1000);
    await assert.rejects(
      fetchClip(clipOf(clip.url), { deadline: Date.now() + 300, backoffMs: 20 }),
      /download failed: HTTP 503/,
    );
    const before = clip.requests();
    await assert.rejects(fetchClip(clipOf(clip.url), { backoffMs: 1 }), /HTTP 503/);
    assert.equal(clip.requests() - before, 4);
    clip.unavailableFor(0);
  });

  it('retries a busy server (408, 429) like a 5xx, and stops at once on another 4xx', async () => {
    for (const status of [408, 429]) {
      clip.unavailableFor(2, status);
      const before = clip.requests();
      const got = await fetchClip(clipOf(clip.url), {
        deadline: Date.now() + 30_000,
        backoffMs: 5,
      });
      assert.equal(got.bytes, body.length, `after two ${status}s`);
      assert.equal(clip.requests() - before, 3);
    }
    clip.unavailableFor(5, 403);
    const before = clip.requests();
    await assert.rejects(
      fetchClip(clipOf(clip.url), { deadline: Date.now() + 30_000, backoffMs: 5 }),
      /download failed: HTTP 403/,
    );
    assert.equal(clip.requests() - before, 1, 'a refusal is final');
    clip.unavailableFor(0);
  });
});

describe('device agent: the play flow against the contract', () => {
  let s: TestServer;
  let fx: ReturnType<typeof fixtures>;
  let village: string;
  let clip: Awaited<ReturnType<typeof clipServer>>;
  const body = randomBytes(40_000);
  const sha256 = createHash('sha256').update(body).digest('hex');
  const agents: DeviceAgent[] = [];

  beforeAll(async () => {
    s = await startTestServer();
    fx = fixtures(s.url, s.adminToken);
    village = (await fx.newVillage((await fx.newTown()).code)).code;
    clip = await clipServer(body);
  });
  afterAll(async () => {
    await Promise.all(agents.map((a) => a.stop()));
    clip.server.close();
    await s.close();
  });

  let seq = 0;
  const play = (overrides: Partial<PlayCommand> = {}): PlayCommand => {
    const now = Date.now();
    seq++;
    return {
      v: 1,
      type: 'play',
      id: `cmd-${seq}`,
      ts: now,
      deliveryId: `dl-${seq}`,
      broadcastId: `bc-${seq}`,
      level: 'routine' as Level,
      clip: { url: clip.url, sha256, bytes: body.length, durationMs: 50, codec: 'mp3' },
      notBefore: now,
      expiresAt: now + 60_000,
      repeat: 1,
      ...overrides,
    };
  };

  /** The states a delivery goes through, as the server receives them, until one of `until`. */
  const statesOf = (deliveryId: string, until: string[]) =>
    new Promise<{ state: string; reason?: string }[]>((resolve) => {
      const seen: { state: string; reason?: string }[] = [];
      const sub = s.server.app.get(DeviceGateway).events.subscribe(({ message }) => {
        if (message.type !== 'delivery' || message.deliveryId !== deliveryId) return;
        seen.push({ state: message.state, ...(message.reason ? { reason: message.reason } : {}) });
        if (until.includes(message.state)) {
          sub.unsubscribe();
          resolve(seen);
        }
      });
    });

  const device = async (
    options: ConstructorParameters<typeof DeviceAgent>[0] extends infer O ? Partial<O> : never = {},
  ) => {
    const d = await fx.newDevice(village);
    const agent = await startAgentOnline(s, mqttUrl(s), d, { speed: 0, ...options });
    agents.push(agent);
    return { id: d.id, agent };
  };
  const send = (deviceId: string, cmd: PlayCommand) =>
    s.server.app.get(DeviceGateway).sendCommand(deviceId, cmd);

  it('says why a connection attempt failed (connect-failed): a refused login, a broker not there', async () => {
    const d = await fx.newDevice(village);
    const refused = new DeviceAgent({
      url: mqttUrl(s),
      id: d.id,
      secret: `${d.secret}x`,
      speed: 0,
    });
    const login = new Promise<string>((resolve) => refused.once('connect-failed', resolve));
    await assert.rejects(refused.start());
    assert.equal(await login, '4'); // CONNACK 4: bad user name or password
    await refused.stop();

    const closed = await new Promise<number>((resolve) => {
      const probe = createServer().listen(0, '127.0.0.1', () => {
        const port = (probe.address() as AddressInfo).port;
        probe.close(() => resolve(port));
      });
    });
    const nobody = new DeviceAgent({ url: `mqtt://127.0.0.1:${closed}`, ...d, speed: 0 });
    const down = new Promise<string>((resolve) => nobody.once('connect-failed', resolve));
    void nobody.start().catch(() => undefined);
    assert.equal(await down, 'ECONNREFUSED');
    await nobody.stop();
  });

  it('reports received, downloading, ready, playing, played for a good clip', async () => {
    const { id } = await device();
    const cmd = play();
    const states = statesOf(cmd.deliveryId, ['played', 'failed', 'rejected']);
    await send(id, cmd);
    assert.deepEqual(
      (await states).map((x) => x.state),
      ['received', 'downloading', 'ready', 'playing', 'played'],
    );
  });

  it('resumes a broken download with Range and still checks the sha256', async () => {
    const { id } = await device();
    const cmd = play();
    clip.cutNext();
    const states = statesOf(cmd.deliveryId, ['played', 'failed']);
    await send(id, cmd);
    assert.equal((await states).at(-1)?.state, 'played');
    assert.ok(
      clip.ranges.some((r) => /^bytes=\d+-$/.test(r)),
      'resumed with a Range request',
    );
  });

  it('fails on a sha256 mismatch and rejects an expired play', async () => {
    const { id } = await device();
    const bad = play({
      clip: {
        url: clip.url,
        sha256: '0'.repeat(64),
        bytes: body.length,
        durationMs: 50,
        codec: 'mp3',
      },
    });
    const badStates = statesOf(bad.deliveryId, ['played', 'failed']);
    await send(id, bad);
    assert.deepEqual((await badStates).at(-1), { state: 'failed', reason: 'sha256 mismatch' });
    const late = play({ expiresAt: Date.now() - 1000 });
    const lateStates = statesOf(late.deliveryId, ['rejected', 'played']);
    await send(id, late);
    assert.deepEqual((await lateStates).at(-1), {
      state: 'rejected',
      reason: 'expired before it arrived',
    });
  });

  it('never plays a delivery twice: a resend only repeats where it is', async () => {
    const { id, agent } = await device();
    const cmd = play();
    const states = statesOf(cmd.deliveryId, ['played']);
    await send(id, cmd);
    await states;
    let playing = 0;
    agent.on('delivery', (_d: string, st: string) => st === 'playing' && playing++);
    const again = statesOf(cmd.deliveryId, ['played']);
    await send(id, cmd);
    assert.deepEqual(
      (await again).map((x) => x.state),
      ['played'],
    );
    assert.equal(playing, 0);
  });

  it('lets a level I broadcast preempt a routine one, which the server may send again', async () => {
    const { id } = await device({ speed: 1 });
    const routine = play({
      clip: { url: clip.url, sha256, bytes: body.length, durationMs: 30_000, codec: 'mp3' },
    });
    const routinePlaying = statesOf(routine.deliveryId, ['playing']);
    await send(id, routine);
    await routinePlaying;
    const preempted = statesOf(routine.deliveryId, ['preempted']);
    const urgent = play({ level: 'I' });
    const urgentStates = statesOf(urgent.deliveryId, ['played']);
    await send(id, urgent);
    const routineEnd = (await preempted).at(-1)!;
    assert.equal(routineEnd.state, 'preempted');
    assert.match(routineEnd.reason ?? '', /level I/);
    assert.equal((await urgentStates).at(-1)?.state, 'played');
    // Resent (same delivery id), the preempted delivery plays again.
    const resent = statesOf(routine.deliveryId, ['playing']);
    await send(id, { ...routine, clip: { ...routine.clip, durationMs: 50 } });
    assert.equal((await resent).at(-1)?.state, 'playing');
  });

  it('honours the fault knobs: rejected codec, failed downloads', async () => {
    const codec = await device({ faults: { rejectCodec: true } });
    const c1 = play();
    const s1 = statesOf(c1.deliveryId, ['rejected', 'played']);
    await send(codec.id, c1);
    assert.equal((await s1).at(-1)?.state, 'rejected');
    const flaky = await device({ faults: { failDownloads: 1 } });
    const c2 = play();
    const s2 = statesOf(c2.deliveryId, ['failed', 'played']);
    await send(flaky.id, c2);
    assert.match((await s2).at(-1)?.reason ?? '', /download failed/);
  });

  it('stops a delivery on `stop` and acknowledges', async () => {
    const { id, agent } = await device({ speed: 1 });
    const long = play({
      clip: { url: clip.url, sha256, bytes: body.length, durationMs: 30_000, codec: 'mp3' },
    });
    const playing = statesOf(long.deliveryId, ['playing']);
    await send(id, long);
    await playing;
    const ack = new Promise((resolve) =>
      s.server.app.get(DeviceGateway).events.subscribe(({ deviceId, message }) => {
        if (deviceId === id && message.type === 'ack' && message.ref === 'stop-1')
          resolve(message.ok);
      }),
    );
    await s.server.app.get(DeviceGateway).sendCommand(id, {
      v: 1,
      type: 'stop',
      id: 'stop-1',
      ts: Date.now(),
      deliveryId: long.deliveryId,
      reason: 'cancelled',
    });
    assert.equal(await ack, true);
    assert.equal(agent.deliveryState(long.deliveryId), 'stopped');
  });
});
