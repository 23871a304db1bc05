import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { DevicesService } from '../src/devices/devices.service.js';
import { freshPostgresSchema, TEST_DATABASE_URL } from './support/postgres.js';
import { api, startTestServer, TestServer } from './support/server.js';

describe('the server on PostgreSQL (DATABASE_URL)', () => {
  let s: TestServer;
  let drop: () => Promise<void>;
  before(async () => {
    const fresh = await freshPostgresSchema();
    drop = fresh.drop;
    s = await startTestServer({
      seed: true,
      env: { DATABASE_URL: TEST_DATABASE_URL, DATABASE_SCHEMA: fresh.schema },
    });
  });
  after(async () => {
    await s?.close();
    await drop?.();
  });

  it('migrates, seeds the sample county and answers the registry API', async () => {
    const client = api(s.url, s.adminToken);
    assert.equal((await client.get('/api/villages?limit=100').expect(200)).body.total, 81);
    assert.equal((await client.get('/api/towns').expect(200)).body.items[0].villageCount, 12);
    const ready = await api(s.url).get('/health/ready').expect(200);
    assert.equal(ready.body.checks.database.ok, true);
    const carts = (await client.get('/api/devices?type=speaker_cart').expect(200)).body;
    assert.equal(carts.total, 2);
    assert.equal(typeof carts.items[0].createdAt, 'string');
    assert.ok(
      Date.parse(carts.items[0].createdAt) > Date.parse('2026-01-01'),
      'BIGINT times come back as numbers',
    );
  });

  it('searches case-insensitively with literal wildcards, and enforces keys', async () => {
    const client = api(s.url, s.adminToken);
    const dev = (await client.get('/api/devices?q=ET-610126100201').expect(200)).body;
    assert.equal(dev.total, 1);
    assert.equal((await client.get('/api/villages?q=_').expect(200)).body.total, 0);
    const busy = await client.delete('/api/villages/610126100201').expect(409);
    assert.equal(busy.body.error, 'VILLAGE_HAS_DEVICES');
    await client.post('/api/towns').send({ code: '610126100', name: 'dup' }).expect(409);
  });

  it('imports devices in one transaction and verifies their secrets', async () => {
    const client = api(s.url, s.adminToken);
    const csv =
      'id,village_code,type,enabled\npg-1,610126100201,flood_pa,true\npg-2,610126100202,flood_pa,false\n';
    const res = await client
      .post('/api/devices/import')
      .set('Content-Type', 'text/csv')
      .send(csv)
      .expect(200);
    assert.equal(res.body.created, 2);
    const devices = s.server.app.get(DevicesService);
    const [one, two] = res.body.secrets as { id: string; secret: string }[];
    assert.equal(await devices.verifySecret(one.id, one.secret), true);
    assert.equal(await devices.verifySecret(two.id, two.secret), false, 'disabled');
    assert.equal((await client.get('/api/devices?enabled=false').expect(200)).body.total, 1);
  });
});
