import assert from 'node:assert/strict';
import { describe, it, beforeAll, afterAll } from '@jest/globals';
import { parse } from 'csv-parse/sync';
import type { DeviceAgent } from '../devices/agent.js';
import { createBroadcast, deliveryReached, newClip, statusReached } from './support/broadcasts.js';
import { fixtures } from './support/fixtures.js';
import { mqttUrl, startAgentOnline } from './support/mqtt.js';
import { api, startTestServer, TestServer, tokenFor } from './support/server.js';

describe('cancelling a broadcast', () => {
  let s: TestServer;
  let operator: string;
  let clip: { id: string };
  let village: string;
  let device: { id: string; secret: string };
  let agent: DeviceAgent;

  beforeAll(async () => {
    s = await startTestServer();
    operator = await tokenFor(s, 'operator');
    const fx = fixtures(s.url, s.adminToken);
    const town = (await fx.newTown()).code;
    village = (await fx.newVillage(town)).code;
    device = await fx.newDevice(village);
    clip = await newClip(s, 2);
    // Real time: a cancel lands while the device is still playing the 2-second clip.
    agent = await startAgentOnline(s, mqttUrl(s), device, { speed: 1 });
  });
  afterAll(async () => {
    await agent?.stop();
    await s?.close();
  });

  it('needs a reason, and keeps it with who cancelled; no village stays half played', async () => {
    let id = '';
    const playing = deliveryReached(s, () => id, device.id, 'playing');
    const b = await createBroadcast(s, {
      title: '山洪预警（演练）',
      clipId: clip.id,
      level: 'III',
      target: { villages: [village] },
    });
    id = b.id;
    await playing;
    const cancel = (body: unknown) =>
      api(s.url, operator)
        .post(`/api/broadcasts/${id}/cancel`)
        .send(body as object);
    const missing = await cancel({}).expect(400);
    assert.equal(missing.body.details[0].field, 'reason');
    await cancel({ reason: '   ' }).expect(400);
    await cancel({ reason: 'x'.repeat(201) }).expect(400);
    const current = (await api(s.url, operator).get(`/api/broadcasts/${id}`).expect(200)).body;
    assert.equal(current.status, 'active', 'a refused cancel changes nothing');

    const res = await cancel({ reason: '预警解除' }).expect(200);
    assert.equal(res.body.status, 'cancelled');
    assert.equal(res.body.endReason, '预警解除');
    assert.equal(res.body.cancelledBy, 'test operator');

    const c = (await api(s.url, s.adminToken).get(`/api/broadcasts/${id}/coverage`).expect(200))
      .body;
    assert.equal(c.broadcast.cancelledBy, 'test operator');
    assert.equal(c.broadcast.endReason, '预警解除');
    assert.equal(c.summary.partial, 0, 'a cancelled broadcast plays nowhere');
    assert.deepEqual(
      c.villages.map((v: { outcome: string; reason: string }) => [v.outcome, v.reason]),
      [['uncovered', 'cancelled']],
    );
    const csv = await api(s.url, s.adminToken)
      .get(`/api/broadcasts/${id}/coverage?format=csv`)
      .expect(200);
    const meta = new Map(
      (parse(csv.text.slice(1).split('\r\n\r\n')[0]) as string[][]).map(([k, v]) => [k, v]),
    );
    assert.equal(meta.get('结果'), '已取消');
    assert.equal(meta.get('取消人'), 'test operator');
    assert.equal(meta.get('取消原因'), '预警解除');
  });

  it('leaves the board showing the latest outcome when a test broadcast is cancelled', async () => {
    const completed = { id: '' };
    const done = statusReached(s, () => completed.id, 'completed');
    const real = await createBroadcast(s, {
      title: '汛期安全提示',
      clipId: clip.id,
      level: 'IV',
      target: { villages: [village] },
    });
    completed.id = real.id;
    await done;
    const latest = async () =>
      (
        (await api(s.url, s.adminToken).get('/api/status/villages?limit=500').expect(200)).body
          .items as { code: string; latestBroadcast: { id: string; outcome: string } | null }[]
      ).find((v) => v.code === village)!.latestBroadcast;
    assert.deepEqual([(await latest())?.id, (await latest())?.outcome], [real.id, 'covered']);

    const test = await createBroadcast(s, {
      title: '设备测试',
      clipId: clip.id,
      level: 'test',
      target: { villages: [village] },
    });
    await api(s.url, operator)
      .post(`/api/broadcasts/${test.id}/cancel`)
      .send({ reason: '测试中止' })
      .expect(200);
    assert.equal((await latest())?.id, real.id, 'the cancelled test does not replace it');
    const history = (
      await api(s.url, s.adminToken).get(`/api/villages/${village}/coverage`).expect(200)
    ).body as { id: string; status: string }[];
    assert.equal(history[0].id, test.id, 'the village history still lists the cancelled test');
    assert.equal(history[0].status, 'cancelled');
  });
});
