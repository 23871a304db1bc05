import assert from 'node:assert/strict';
import { describe, it, beforeAll, afterAll } from '@jest/globals';
import { fixtures } from './support/fixtures.js';
import { api, startTestServer, TestServer } from './support/server.js';

describe('towns and villages API', () => {
  let s: TestServer;
  let client: ReturnType<typeof api>;
  let fx: ReturnType<typeof fixtures>;
  beforeAll(async () => {
    s = await startTestServer();
    client = api(s.url, s.adminToken);
    fx = fixtures(s.url, s.adminToken);
  });
  afterAll(() => s.close());

  it('creates, reads, renames and deletes a town', async () => {
    const created = await client
      .post('/api/towns')
      .send({ code: '611026200', name: ' 新镇 ' })
      .expect(201);
    assert.equal(created.body.name, '新镇', 'names are trimmed');
    assert.equal(created.body.villageCount, 0);
    await client.post('/api/towns').send({ code: '611026200', name: '又一个' }).expect(409);
    const renamed = await client
      .patch('/api/towns/611026200')
      .send({ name: '新镇街道' })
      .expect(200);
    assert.equal(renamed.body.name, '新镇街道');
    const list = await client.get('/api/towns?q=新镇').expect(200);
    assert.deepEqual(
      list.body.items.map((t: { code: string }) => t.code),
      ['611026200'],
    );
    await client.delete('/api/towns/611026200').expect(204);
    await client.get('/api/towns/611026200').expect(404);
    await client.delete('/api/towns/611026200').expect(404);
  });

  it('creates a village with coordinates and quiet hours, and reads it back', async () => {
    const town = await fx.newTown({ name: '营盘镇' });
    const body = {
      code: `${town.code}201`,
      name: '东沟村',
      townCode: town.code,
      lat: 33.68,
      lon: 109.11,
      quietHours: '22:00-06:00',
    };
    const created = await client.post('/api/villages').send(body).expect(201);
    assert.deepEqual(
      { ...created.body, createdAt: undefined, updatedAt: undefined },
      {
        ...body,
        townName: '营盘镇',
        createdAt: undefined,
        updatedAt: undefined,
      },
    );
    const got = await client.get(`/api/villages/${body.code}`).expect(200);
    assert.equal(got.body.name, '东沟村');
    const townAfter = await client.get(`/api/towns/${town.code}`).expect(200);
    assert.equal(townAfter.body.villageCount, 1);
  });

  it('changes a village, and null clears optional fields', async () => {
    const town = await fx.newTown();
    const other = await fx.newTown();
    const v = await fx.newVillage(town.code, { lat: 33.1, lon: 109.2, quietHours: '12:00-14:00' });
    const patched = await client
      .patch(`/api/villages/${v.code}`)
      .send({ name: '改名村', townCode: other.code, lat: null, lon: null, quietHours: null })
      .expect(200);
    assert.equal(patched.body.name, '改名村');
    assert.equal(patched.body.townCode, other.code);
    assert.equal(patched.body.lat, null);
    assert.equal(patched.body.quietHours, null);
    const onlyLat = await client.patch(`/api/villages/${v.code}`).send({ lat: 33 }).expect(400);
    assert.equal(onlyLat.body.details[0].rule, 'latLonPair');
    const nullName = await client.patch(`/api/villages/${v.code}`).send({ name: null }).expect(400);
    assert.equal(nullName.body.details[0].field, 'name');
  });

  it('lists villages paged and filtered by town and name', async () => {
    const town = await fx.newTown();
    for (let i = 0; i < 5; i++) await fx.newVillage(town.code, { name: `分页村${i}` });
    const page1 = await client.get(`/api/villages?town=${town.code}&limit=2`).expect(200);
    assert.equal(page1.body.total, 5);
    assert.equal(page1.body.items.length, 2);
    assert.equal(page1.body.limit, 2);
    const page3 = await client.get(`/api/villages?town=${town.code}&limit=2&offset=4`).expect(200);
    assert.equal(page3.body.items.length, 1);
    const byName = await client.get(`/api/villages?town=${town.code}&q=分页村3`).expect(200);
    assert.equal(byName.body.total, 1);
    assert.equal(byName.body.items[0].name, '分页村3');
    const percent = await client.get('/api/villages?q=%25').expect(200);
    assert.equal(percent.body.total, 0, 'LIKE wildcards in q are literal');
    await client.get('/api/villages?limit=0').expect(400);
    await client.get('/api/villages?limit=501').expect(400);
    await client.get('/api/villages?offset=-1').expect(400);
    await client.get('/api/villages?town=abc').expect(400);
  });

  it('refuses bad codes, unknown fields, unknown towns and duplicates with the field and rule', async () => {
    const town = await fx.newTown();
    const cases: [Record<string, unknown>, string, string][] = [
      [{ code: '61102610020', name: 'x', townCode: town.code }, 'code', 'isVillageCode'],
      [{ code: '61102610020a', name: 'x', townCode: town.code }, 'code', 'isVillageCode'],
      [{ code: `${town.code}301`, name: '', townCode: town.code }, 'name', 'isDisplayName'],
      [
        { code: `${town.code}301`, name: 'x', townCode: town.code, colour: 'red' },
        'colour',
        'unknownField',
      ],
      [{ code: `${town.code}301`, name: 'x', townCode: '999999999' }, 'townCode', 'exists'],
      [{ code: `${town.code}301`, name: 'x', townCode: town.code, lat: 91, lon: 0 }, 'lat', 'max'],
      [{ code: `${town.code}301`, name: 'x', townCode: town.code, lat: 30 }, 'lat', 'latLonPair'],
      [
        { code: `${town.code}301`, name: 'x', townCode: town.code, quietHours: '25:00-06:00' },
        'quietHours',
        'isQuietHours',
      ],
      [{ code: `${town.code}301`, name: 'a\u0000b', townCode: town.code }, 'name', 'isDisplayName'],
    ];
    for (const [body, field, rule] of cases) {
      const res = await client.post('/api/villages').send(body).expect(400);
      assert.equal(res.body.error, 'VALIDATION_FAILED');
      assert.ok(
        res.body.details.some(
          (d: { field: string; rule: string }) => d.field === field && d.rule === rule,
        ),
        `${JSON.stringify(body)} → ${JSON.stringify(res.body.details)}`,
      );
      assert.match(res.body.message, new RegExp(field));
    }
    await fx.newVillage(town.code, { code: `${town.code}301` });
    const dup = await client
      .post('/api/villages')
      .send({ code: `${town.code}301`, name: 'y', townCode: town.code })
      .expect(409);
    assert.equal(dup.body.error, 'VILLAGE_EXISTS');
  });

  it('answers 404 for an unknown village and 400 for a malformed code in the path', async () => {
    const missing = await client.get('/api/villages/999999999999').expect(404);
    assert.equal(missing.body.error, 'VILLAGE_NOT_FOUND');
    assert.equal(missing.body.message, 'Village 999999999999 does not exist');
    await client.get('/api/villages/12345').expect(400);
    await client.patch('/api/villages/999999999999').send({ name: 'x' }).expect(404);
    await client.delete('/api/villages/999999999999').expect(404);
  });

  it('refuses to delete a village that still has devices (409), and deletes it once they are gone', async () => {
    const town = await fx.newTown();
    const v = await fx.newVillage(town.code);
    const d = await fx.newDevice(v.code);
    const refused = await client.delete(`/api/villages/${v.code}`).expect(409);
    assert.equal(refused.body.error, 'VILLAGE_HAS_DEVICES');
    assert.match(refused.body.message, /still has devices/);
    const townRefused = await client.delete(`/api/towns/${town.code}`).expect(409);
    assert.equal(townRefused.body.error, 'TOWN_HAS_VILLAGES');
    await client.delete(`/api/devices/${d.id}`).expect(204);
    await client.delete(`/api/villages/${v.code}`).expect(204);
    await client.delete(`/api/towns/${town.code}`).expect(204);
  });
});

describe('restart', () => {
  it('keeps the registry and tokens', async () => {
    const first = await startTestServer();
    const fx = fixtures(first.url, first.adminToken);
    const town = await fx.newTown({ name: '重启镇' });
    const village = await fx.newVillage(town.code, { name: '重启村' });
    const device = await fx.newDevice(village.code);
    const viewer = (
      await api(first.url, first.adminToken)
        .post('/api/tokens')
        .send({ name: 'v', role: 'viewer' })
        .expect(201)
    ).body.token;
    await first.close();

    const second = await startTestServer({ dataDir: first.dataDir, adminToken: first.adminToken });
    try {
      const client = api(second.url, viewer);
      assert.equal(
        (await client.get(`/api/villages/${village.code}`).expect(200)).body.name,
        '重启村',
      );
      assert.equal(
        (await client.get(`/api/devices/${device.id}`).expect(200)).body.villageCode,
        village.code,
      );
      assert.equal((await client.get(`/api/towns/${town.code}`).expect(200)).body.name, '重启镇');
    } finally {
      await second.close();
    }
  });
});
