import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { request } from 'node:http';
import { describe, it } from '@jest/globals';
import { setTimeout as wait } from 'node:timers/promises';
import { killableServer, smallCounty } from './support/killable.js';
import { eventually } from './support/mqtt.js';
import type { OutputPosition, ServerProcess } from './support/process.js';
import { api } from './support/server.js';

const ADMIN = 'crash-points-admin-token-0123456789';
const DEVICES = 6;
/** Kill -9 this many ms after the request left: from before the server read it to after it answered. */
const KILL_AFTER_MS = [0, 10, 30, 60, 90, 150];
/** And the moment the server logs each step (the kill lands a little after it, the log being a pipe). */
const KILL_AT_LOG = [/created level=I/, /dispatched: /];

/** POST with no retry, as a console would: the answer's status, or the error if none came. */
function post(url: string, path: string, body: unknown, key: string): Promise<number | Error> {
  const data = Buffer.from(JSON.stringify(body));
  return new Promise((resolve) => {
    const req = request(
      `${url}${path}`,
      {
        method: 'POST',
        headers: {
          Authorization: `Bearer ${ADMIN}`,
          'Content-Type': 'application/json',
          'Content-Length': data.length,
          'Idempotency-Key': key,
        },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
        res.on('error', resolve);
      },
    );
    req.on('error', resolve);
    req.end(data);
  });
}

describe('SIGKILL at every step of sending a broadcast', () => {
  it('a broadcast sent once, and again with its Idempotency-Key when no answer came, is played exactly once by every device whenever the server dies', async () => {
    const killable = await killableServer(ADMIN, { DISPATCH_TICK_MS: '100' });
    const url = killable.url;
    let server: ServerProcess = await killable.start();
    const client = api(url, ADMIN);
    const { secrets, clipId } = await smallCounty(url, ADMIN, {
      devices: DEVICES,
      prefix: 'cp',
      clipSeconds: 1,
    });
    const clip = { id: clipId };

    const agents = killable.agents(secrets, 0);
    const plays = new Map<string, number>();
    for (const a of agents)
      a.on('playback', (deliveryId: string) =>
        plays.set(deliveryId, (plays.get(deliveryId) ?? 0) + 1),
      );
    const allOnline = async () =>
      eventually(
        async () =>
          (await client.get('/api/status/villages')).body.summary?.devicesOnline === DEVICES,
        30_000,
        'every device back online',
      );
    const titled = async (title: string) =>
      (
        (await client.get('/api/broadcasts?limit=100').expect(200)).body.items as {
          id: string;
          title: string;
        }[]
      ).filter((x) => x.title === title);
    /** Once the broadcast titled `title` completed: how many times each device played it. */
    const playsOf = async (title: string): Promise<number[]> => {
      const [b] = await titled(title);
      await eventually(
        async () => (await client.get(`/api/broadcasts/${b.id}`)).body.status === 'completed',
        30_000,
        `"${title}" to complete`,
      );
      const deliveries = (await client.get(`/api/broadcasts/${b.id}/deliveries?limit=100`)).body
        .items as { id: string; state: string }[];
      assert.deepEqual(
        deliveries.map((d) => d.state),
        Array(DEVICES).fill('played'),
        `every confirmation of "${title}" is on record`,
      );
      return deliveries.map((d) => plays.get(d.id) ?? 0);
    };

    try {
      await Promise.all(agents.map((a) => a.start()));
      await allOnline();
      const outcomes: string[] = [];
      const points = [
        ...KILL_AFTER_MS.map((ms) => ({ name: `${ms} ms`, when: () => wait(ms) })),
        ...KILL_AT_LOG.map((pattern) => ({
          name: `log ${pattern.source.trim()}`,
          when: (since: OutputPosition) => server.waitFor(pattern, since),
        })),
      ];
      const alert = (title: string) => ({
        title,
        clipId: clip.id,
        level: 'I',
        target: { all: true },
        attentionTone: false,
      });
      for (const point of points) {
        const title = `crash at ${point.name}`;
        const key = randomUUID();
        const since = server.position();
        const answered = post(url, '/api/broadcasts', alert(title), key);
        await point.when(since);
        server.child.kill('SIGKILL');
        await server.exited;
        const answer = await answered;
        server = await killable.start();
        const stored = (await titled(title)).length === 1;
        if (answer === 201) assert.ok(stored, `"${title}": answered 201, so it must be stored`);
        if (!stored) assert.ok(answer instanceof Error, `"${title}": not stored, never answered`);
        // Told nothing, the console sends it again with the same key: one broadcast either way.
        if (answer !== 201)
          assert.equal(await post(url, '/api/broadcasts', alert(title), key), 201);
        await allOnline();
        assert.equal((await titled(title)).length, 1, `"${title}": one broadcast, not two`);
        assert.deepEqual(
          await playsOf(title),
          Array(DEVICES).fill(1),
          `"${title}": every device played it exactly once`,
        );
        outcomes.push(
          `${point.name}: ${stored ? 'stored' : 'not stored'}, ${answer instanceof Error ? `no answer (${answer.message})` : answer}`,
        );
      }
      console.log(outcomes.join('; '));

      // Sent the moment the server is back, before the devices are: they get it when they return.
      server.child.kill('SIGKILL');
      await server.exited;
      server = await killable.start();
      const title = 'right after a restart';
      assert.equal(await post(url, '/api/broadcasts', alert(title), randomUUID()), 201);
      await allOnline();
      assert.deepEqual(await playsOf(title), Array(DEVICES).fill(1));
      assert.equal(
        [...plays.values()].reduce((a, b) => a + b, 0),
        DEVICES * (points.length + 1),
        'nothing else was ever played',
      );
    } finally {
      await Promise.all(agents.map((a) => a.stop()));
      server.child.kill('SIGTERM');
      await server.exited;
    }
  });
});
