import assert from 'node:assert/strict';
import { describe, it } from '@jest/globals';
import { killableServer, smallCounty } from './support/killable.js';
import { eventually } from './support/mqtt.js';
import { api } from './support/server.js';

const ADMIN = 'restart-test-admin-token-0123456789';
const DEVICES = 12;

describe('SIGKILL of the server mid-broadcast', () => {
  it('resumes after a restart: every device plays once, no confirmation is lost', async () => {
    const killable = await killableServer(ADMIN);
    const url = killable.url;
    let server = await killable.start();
    const client = api(url, ADMIN);
    const { secrets, clipId } = await smallCounty(url, ADMIN, {
      devices: DEVICES,
      prefix: 'rs',
      clipSeconds: 3,
    });
    const clip = { id: clipId };

    const agents = killable.agents(secrets, 1);
    const plays = new Map<string, number>();
    for (const a of agents) a.on('playback', () => plays.set(a.id, (plays.get(a.id) ?? 0) + 1));
    try {
      await Promise.all(agents.map((a) => a.start()));
      await eventually(
        async () =>
          (await client.get('/api/status/villages')).body.summary.devicesOnline === DEVICES,
        15_000,
        'devices online',
      );
      const b = (
        await client
          .post('/api/broadcasts')
          .send({
            title: 'restart',
            clipId: clip.id,
            level: 'II',
            target: { all: true },
            attentionTone: false,
          })
          .expect(201)
      ).body;

      // Kill -9 while the devices are playing (a 3 s clip): nothing graceful happens.
      await eventually(() => plays.size >= DEVICES / 2, 15_000, 'devices playing');
      server.child.kill('SIGKILL');
      assert.equal((await server.exited).signal, 'SIGKILL');

      server = await killable.start();
      await eventually(
        async () => (await client.get(`/api/broadcasts/${b.id}`)).body.status === 'completed',
        60_000,
        'the broadcast to complete',
      );
      const deliveries = (
        await client.get(`/api/broadcasts/${b.id}/deliveries?limit=100`).expect(200)
      ).body.items as { state: string; deviceId: string }[];
      assert.equal(deliveries.length, DEVICES);
      assert.deepEqual(
        deliveries.filter((d) => d.state !== 'played'),
        [],
        'every confirmation arrived, including those sent while the server was down',
      );
      assert.equal(plays.size, DEVICES);
      assert.deepEqual(
        [...plays.values()].filter((n) => n !== 1),
        [],
        'no device played it twice because of the restart',
      );
    } finally {
      await Promise.all(agents.map((a) => a.stop()));
      server.child.kill('SIGTERM');
      await server.exited;
    }
  });
});

/** The tester's run was 13 restarts and about 5,000 deliveries: `SOAK_*` set a run that size. */
const SOAK = {
  devices: Number(process.env.SOAK_DEVICES ?? 40),
  broadcasts: Number(process.env.SOAK_BROADCASTS ?? 4),
  restarts: Number(process.env.SOAK_RESTARTS ?? 4),
};
/**
 * Clip length, real time: long enough that the devices are still playing (and confirming) through
 * every kill, at about four seconds for a kill, a start-up and the devices' reconnect back-off.
 */
const SOAK_CLIP_S = Math.max(2, Math.ceil((SOAK.restarts * 4) / SOAK.broadcasts));

describe('SIGKILL again and again while confirmations stream in', () => {
  it(`loses no confirmation and plays nothing twice (${SOAK.devices} devices, ${SOAK.broadcasts} broadcasts, ${SOAK.restarts} kills)`, async () => {
    const killable = await killableServer(ADMIN);
    const url = killable.url;
    let server = await killable.start();
    const client = api(url, ADMIN);
    const { secrets, clipId } = await smallCounty(url, ADMIN, {
      devices: SOAK.devices,
      villages: 4,
      prefix: 'soak',
      clipSeconds: SOAK_CLIP_S,
    });
    const clip = { id: clipId };
    const agents = killable.agents(secrets, 1);
    const plays = new Map<string, number>();
    /** Deliveries whose `played` the server acknowledged (PUBACK): their device forgot the event. */
    const acknowledged = new Set<string>();
    const total = SOAK.devices * SOAK.broadcasts;
    // Kill k lands on the `played` acknowledgement that reaches its share of all of them.
    const floor = (k: number) => Math.round((total * (k + 1)) / (SOAK.restarts + 2));
    /** Up, and the broadcasts created: a kill may land. */
    let serverUp = false;
    let kills = 0;
    const seen: number[] = [];
    for (const a of agents) {
      a.on('playback', (deliveryId: string) =>
        plays.set(deliveryId, (plays.get(deliveryId) ?? 0) + 1),
      );
      a.on('acknowledged', (deliveryId: string, state: string) => {
        if (state !== 'played') return;
        acknowledged.add(deliveryId);
        if (!serverUp || kills >= SOAK.restarts || acknowledged.size < floor(kills)) return;
        // At once, in the PUBACK's callback: the worst moment for a server that acknowledges an
        // event before storing it (it then waits in a batch not yet committed).
        serverUp = false;
        server.child.kill('SIGKILL');
        seen.push(acknowledged.size);
        kills++;
      });
    }
    try {
      const ids: string[] = [];
      for (let i = 0; i < SOAK.broadcasts; i++)
        ids.push(
          (
            await client
              .post('/api/broadcasts')
              .send({
                title: `soak ${i}`,
                clipId: clip.id,
                level: 'II',
                target: { all: true },
                attentionTone: false,
              })
              .expect(201)
          ).body.id as string,
        );
      // The devices connect once every broadcast exists: they get all of them at once, and the
      // plays (and kills) start after the set-up, however long it took.
      serverUp = true;
      await Promise.all(agents.map((a) => a.start()));
      for (let k = 0; k < SOAK.restarts; k++) {
        await eventually(() => kills > k, 120_000, `kill ${k + 1} at ${floor(k)} \`played\``);
        await server.exited;
        server = await killable.start();
        serverUp = true;
      }
      await eventually(
        () => acknowledged.size === total,
        180_000,
        'every `played` acknowledged by the server',
      );
      console.log(
        `${kills} kills, at ${seen.join(', ')} of ${total} \`played\` acknowledged; clips of ${SOAK_CLIP_S} s`,
      );
      // No waiting here: what the server acknowledged, it has stored.
      let states: string[] = [];
      for (const id of ids)
        states = states.concat(
          (
            (await client.get(`/api/broadcasts/${id}/deliveries?limit=500`).expect(200)).body
              .items as { state: string }[]
          ).map((d) => d.state),
        );
      assert.equal(states.length, total);
      const notPlayed: Record<string, number> = {};
      for (const s of states) if (s !== 'played') notPlayed[s] = (notPlayed[s] ?? 0) + 1;
      assert.deepEqual(
        notPlayed,
        {},
        'every acknowledged confirmation was stored, including those sent while the server was down',
      );
      for (const id of ids)
        await eventually(
          async () => (await client.get(`/api/broadcasts/${id}`)).body.status === 'completed',
          60_000,
          `broadcast ${id} to complete`,
        );
      assert.equal(plays.size, total, 'every delivery was played');
      assert.deepEqual(
        [...plays.values()].filter((n) => n !== 1),
        [],
        'no device played anything twice because of the restarts',
      );
    } finally {
      await Promise.all(agents.map((a) => a.stop()));
      server.child.kill('SIGTERM');
      await server.exited;
    }
  });
});
