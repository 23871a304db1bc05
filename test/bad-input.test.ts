import assert from 'node:assert/strict';
import { describe, it, beforeAll, afterAll } from '@jest/globals';
import { BroadcastsService } from '../src/broadcasts/broadcasts.service.js';
import { newClip } from './support/broadcasts.js';
import { fixtures } from './support/fixtures.js';
import { api, startTestServer, TestServer } from './support/server.js';

/** Sends raw JSON text, so keys like `__proto__` arrive exactly as a hostile client wrote them. */
function postJson(s: TestServer, path: string, json: string) {
  return api(s.url, s.adminToken).post(path).set('Content-Type', 'application/json').send(json);
}

describe('bad input gets a clear 4xx before any work', () => {
  let s: TestServer;
  let client: ReturnType<typeof api>;
  let clipId: string;
  let village: { code: string; townCode: string };
  let broadcastsCreated: () => Promise<number>;

  beforeAll(async () => {
    s = await startTestServer();
    client = api(s.url, s.adminToken);
    const f = fixtures(s.url, s.adminToken);
    village = await f.newVillage((await f.newTown()).code);
    clipId = (await newClip(s, 1)).id;
    const broadcasts = s.server.app.get(BroadcastsService);
    broadcastsCreated = async () => (await broadcasts.list({})).total;
  });
  afterAll(() => s.close());

  const broadcastBody = () => ({
    title: '防汛通知',
    clipId,
    level: 'routine',
    target: { villages: [village.code] },
    startAt: new Date(Date.now() + 3_600_000).toISOString(),
  });

  it('refuses __proto__, constructor and prototype keys anywhere in a body (400)', async () => {
    const before = await broadcastsCreated();
    const valid = JSON.stringify(broadcastBody());
    const hostile = [
      valid.replace('{', '{"__proto__":{"level":"I","isAdmin":true},'),
      valid.replace('"target":{', '"target":{"__proto__":{"all":true},'),
      valid.replace('{', '{"constructor":{"prototype":{"polluted":true}},'),
      valid.replace('{', '{"prototype":{},'),
      // The same key with an escape: JSON.parse still makes it "__proto__".
      valid.replace('{', '{"\\u005f_proto__":{"level":"I"},'),
    ];
    for (const json of hostile) {
      const res = await postJson(s, '/api/broadcasts', json);
      assert.equal(res.status, 400, `${json.slice(0, 60)} → ${res.status} ${res.text}`);
      assert.equal(res.body.error, 'VALIDATION_FAILED');
      assert.equal(res.body.details[0].rule, 'forbiddenKey', res.text);
    }
    assert.equal(await broadcastsCreated(), before, 'nothing was created');
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
    assert.equal(({} as Record<string, unknown>).isAdmin, undefined);
    // The same body without the key is fine: the refusal is about the key, not the broadcast.
    await postJson(s, '/api/broadcasts', valid).expect(201);
  });

  it('refuses a forbidden key in a query string too', async () => {
    const res = await client.get('/api/villages?__proto__=x').expect(400);
    assert.equal(res.body.details[0].rule, 'forbiddenKey');
  });

  it('refuses a target listing more villages or devices than the limit, before looking them up', async () => {
    // 65,000 unknown codes are ~1 MB: under the body limit, far over the target limit.
    const codes = Array.from({ length: 65_000 }, (_, i) => `61099${String(i).padStart(7, '0')}`);
    for (const target of [{ villages: codes }, { devices: codes.map((_, i) => `d${i}`) }]) {
      const res = await client
        .post('/api/broadcasts')
        .send({ ...broadcastBody(), target })
        .expect(400);
      assert.equal(res.body.error, 'VALIDATION_FAILED');
      assert.ok(
        res.body.details.some((p: { rule: string }) => p.rule === 'arrayMaxSize'),
        res.text.slice(0, 300),
      );
      assert.match(res.body.message, /at most 10000/);
    }
    const preview = await client
      .post('/api/broadcasts/target-preview')
      .send({ villages: codes })
      .expect(400);
    assert.equal(preview.body.details[0].rule, 'arrayMaxSize');
  });

  it('refuses JSON nested deeper than the limit before parsing it (400), arrays or objects', async () => {
    const depth = 100_000;
    const bodies = [
      `{"title":${'['.repeat(depth)}${']'.repeat(depth)}}`,
      `{"target":${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}}`,
    ];
    for (const json of bodies) {
      const res = await postJson(s, '/api/broadcasts', json).expect(400);
      assert.equal(res.body.error, 'BODY_TOO_DEEP');
      assert.match(res.body.message, /nested deeper than 32/);
    }
    // Brackets inside strings are text, not nesting.
    const text = JSON.stringify({ ...broadcastBody(), title: '['.repeat(100) });
    await postJson(s, '/api/broadcasts', text).expect(201);
  });

  it('refuses a lone surrogate in any stored string (400) and keeps the row readable', async () => {
    const cases: [string, string, string][] = [
      [
        '/api/villages',
        `{"code":"${village.townCode}999","name":"石\\ud800坪","townCode":"${village.townCode}"}`,
        'name',
      ],
      ['/api/towns', '{"code":"610999999","name":"\\udc00镇"}', 'name'],
      [
        '/api/devices',
        `{"id":"lone-1","villageCode":"${village.code}","type":"flood_pa","label":"喇叭\\ud83d"}`,
        'label',
      ],
      [
        '/api/broadcasts',
        JSON.stringify(broadcastBody()).replace('防汛通知', '防汛\\ud800'),
        'title',
      ],
    ];
    for (const [path, json, field] of cases) {
      const res = await postJson(s, path, json);
      assert.equal(res.status, 400, `${path}: ${res.text}`);
      assert.deepEqual(
        res.body.details.map((p: { field: string; rule: string }) => [p.field, p.rule]),
        [[field, 'wellFormedText']],
      );
    }
    await client
      .patch(`/api/villages/${village.code}`)
      .set('Content-Type', 'application/json')
      .send('{"name":"\\ud800"}')
      .expect(400);
    // A pair (an emoji) is fine, and the registry still reads.
    await client.patch(`/api/villages/${village.code}`).send({ name: '东沟村🔔' }).expect(200);
    const list = await client.get('/api/villages').expect(200);
    assert.ok(list.body.items.some((v: { name: string }) => v.name === '东沟村🔔'));
  });

  it('answers 400, not 500, to offset and limit past 2^53 on every list route', async () => {
    const doc = (await client.get('/api/docs-json').expect(200)).body as {
      paths: Record<string, { get?: { parameters?: { name: string; in: string }[] } }>;
    };
    const pathValue: Record<string, string> = {
      id: '00000000-0000-4000-8000-000000000000',
      deliveryId: '00000000-0000-4000-8000-000000000001',
      code: village.code,
    };
    let routes = 0;
    for (const [path, ops] of Object.entries(doc.paths)) {
      const params = ops.get?.parameters ?? [];
      const query = new Set(params.filter((p) => p.in === 'query').map((p) => p.name));
      if (!query.has('offset') && !query.has('limit')) continue;
      routes++;
      const url = path.replace(/\{(\w+)\}/g, (_, name: string) => pathValue[name] ?? 'x');
      const values = ['9007199254740993', '9007199254740992', '1e21', '1e400', '-1', '0x10'];
      for (const name of ['offset', 'limit'].filter((n) => query.has(n))) {
        for (const value of values) {
          const res = await client.get(`${url}?${name}=${value}`);
          assert.equal(res.status, 400, `${url}?${name}=${value} → ${res.status} ${res.text}`);
          assert.equal(res.body.details?.[0]?.field, name, `${url}?${name}=${value}: ${res.text}`);
        }
      }
      const largest = query.has('offset') ? 'limit=1&offset=9007199254740991' : 'limit=1';
      const ok = await client.get(`${url}?${largest}`);
      assert.ok([200, 404].includes(ok.status), `${url}: the largest offset is served`);
    }
    assert.ok(routes >= 12, `walked ${routes} list routes`);
  });
});
