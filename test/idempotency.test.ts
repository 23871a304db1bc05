import assert from 'node:assert/strict';
import { describe, it, beforeAll, afterAll } from '@jest/globals';
import { newClip } from './support/broadcasts.js';
import { fixtures } from './support/fixtures.js';
import { api, startTestServer, TestServer, tokenFor } from './support/server.js';

describe('POST /api/broadcasts with an Idempotency-Key', () => {
  let s: TestServer;
  let body: Record<string, unknown>;
  const later = () => new Date(Date.now() + 3_600_000).toISOString();
  const count = async () =>
    (await api(s.url, s.adminToken).get('/api/broadcasts').expect(200)).body.total as number;

  beforeAll(async () => {
    s = await startTestServer();
    const fx = fixtures(s.url, s.adminToken);
    const village = (await fx.newVillage((await fx.newTown()).code)).code;
    await fx.newDevice(village);
    const clip = await newClip(s, 1);
    body = { title: '防汛通知', clipId: clip.id, level: 'II', target: { villages: [village] } };
  });
  afterAll(() => s.close());

  it('sent again with the same key, answers with the broadcast the first made and makes no second', async () => {
    const client = api(s.url, s.adminToken);
    const first = await client
      .post('/api/broadcasts')
      .set('Idempotency-Key', 'console-7f3a')
      .send({ ...body, startAt: later() })
      .expect(201);
    const before = await count();
    const again = await client
      .post('/api/broadcasts')
      .set('Idempotency-Key', 'console-7f3a')
      .send({ ...body, startAt: later() })
      .expect(201);
    assert.equal(again.body.id, first.body.id);
    assert.equal(await count(), before);
    assert.ok(s.logs().some((l) => l.msg.includes('requested again with its Idempotency-Key')));
  });

  it('the same key with a different request is refused (409); another token’s same key is its own', async () => {
    const client = api(s.url, s.adminToken);
    await client
      .post('/api/broadcasts')
      .set('Idempotency-Key', 'shared-key-1')
      .send({ ...body, startAt: later() })
      .expect(201);
    const reused = await client
      .post('/api/broadcasts')
      .set('Idempotency-Key', 'shared-key-1')
      .send({ ...body, title: '另一条通知', startAt: later() })
      .expect(409);
    assert.equal(reused.body.error, 'IDEMPOTENCY_KEY_REUSED');
    const operator = await tokenFor(s, 'operator');
    const before = await count();
    await api(s.url, operator)
      .post('/api/broadcasts')
      .set('Idempotency-Key', 'shared-key-1')
      .send({ ...body, title: '另一条通知', startAt: later() })
      .expect(201);
    assert.equal(await count(), before + 1);
  });

  it('refuses a key that is too long or not visible ASCII, before creating anything', async () => {
    const before = await count();
    for (const key of ['x'.repeat(101), 'has space', '键']) {
      const res = await api(s.url, s.adminToken)
        .post('/api/broadcasts')
        .set('Idempotency-Key', encodeURI(key) === key ? key : Buffer.from(key).toString('latin1'))
        .send({ ...body, startAt: later() })
        .expect(400);
      assert.match(res.body.message, /Idempotency-Key/);
    }
    assert.equal(await count(), before);
  });

  it('two requests with the same key at the same moment make one broadcast', async () => {
    const before = await count();
    const send = () =>
      api(s.url, s.adminToken)
        .post('/api/broadcasts')
        .set('Idempotency-Key', 'double-click')
        .send({ ...body, title: '双击', startAt: later() });
    const [a, b] = await Promise.all([send(), send()]);
    assert.deepEqual([a.status, b.status], [201, 201]);
    assert.equal(a.body.id, b.body.id);
    assert.equal(await count(), before + 1);
  });
});
