import assert from 'node:assert/strict';
import { setTimeout as wait } from 'node:timers/promises';
import { describe, it, beforeAll, afterAll } from '@jest/globals';
import { DataSource } from 'typeorm';
import type { DeviceAgent } from '../devices/agent.js';
import { AudioProcessor } from '../src/clips/audio-processor.js';
import { deliveriesOf, newClip, statusReached } from './support/broadcasts.js';
import { fixtures } from './support/fixtures.js';
import { mqttUrl, startAgentOnline, eventually } from './support/mqtt.js';
import { api, startTestServer, TestServer } from './support/server.js';
import { gate } from './support/gate.js';

describe('an emergency whose tone version is not ready yet', () => {
  let s: TestServer;
  let agent: DeviceAgent;
  let village: string;
  beforeAll(async () => {
    s = await startTestServer();
    const fx = fixtures(s.url, s.adminToken);
    village = (await fx.newVillage((await fx.newTown()).code)).code;
    agent = await startAgentOnline(s, mqttUrl(s), await fx.newDevice(village));
  });
  afterAll(async () => {
    await agent.stop();
    await s.close();
  });

  it('is answered at once (`scheduled`), and goes out with its tone the moment that is made', async () => {
    const clip = await newClip(s, 1);
    const db = s.server.app.get(DataSource);
    const tones = async () =>
      (
        (await db.query(`SELECT tone FROM clip_renditions WHERE clip_id = ?`, [clip.id])) as {
          tone: string;
        }[]
      ).map((r) => r.tone);
    // Made at upload: wait for them, then lose the emergency one, as if it were still being made.
    await eventually(async () => (await tones()).includes('emergency'), 30_000, 'renditions');
    await db.query(`DELETE FROM clip_renditions WHERE clip_id = ? AND tone = 'emergency'`, [
      clip.id,
    ]);
    const processor = s.server.app.get(AudioProcessor);
    const measure = processor.measure.bind(processor);
    const rendering = gate();
    const release = gate();
    processor.measure = async (...args: Parameters<AudioProcessor['measure']>) => {
      rendering.open();
      await release.opened;
      return measure(...args);
    };
    try {
      const answered = api(s.url, s.adminToken)
        .post('/api/broadcasts')
        .send({ title: '山洪预警', clipId: clip.id, level: 'I', target: { villages: [village] } })
        .then((r) => r);
      await rendering.opened;
      const res = await Promise.race([
        answered,
        // Only if it never answers: fail instead of hanging (the old code waited here).
        wait(10_000).then(() => {
          release.open();
          throw new Error('POST /api/broadcasts waited for the tone version to be made');
        }),
      ]);
      assert.equal(res.status, 201);
      assert.equal(res.body.status, 'scheduled');
      const active = statusReached(s, () => res.body.id as string, 'active');
      release.open();
      await active;
      await eventually(
        async () => (await deliveriesOf(s, res.body.id as string))[0].state === 'played',
        30_000,
        'played',
      );
      const b = (await api(s.url, s.adminToken).get(`/api/broadcasts/${res.body.id}`)).body;
      const [rendition] = (await db.query(
        `SELECT sha256 FROM clip_renditions WHERE clip_id = ? AND tone = 'emergency'`,
        [clip.id],
      )) as { sha256: string }[];
      assert.equal(b.audio.sha256, rendition.sha256, 'it went out with the emergency tone');
      assert.ok(s.logs().some((l) => l.msg.includes('waits for its audio to be ready')));
    } finally {
      processor.measure = measure;
      release.open();
    }
  });
});
