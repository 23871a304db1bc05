import assert from 'node:assert/strict';
import { describe, it, beforeAll, afterAll } from '@jest/globals';
import { DeviceChange, DeviceEvents } from '../src/devices/device-events.js';
import { DevicesService } from '../src/devices/devices.service.js';
import { PresenceRepository } from '../src/devices/presence.repository.js';
import { fixtures } from './support/fixtures.js';
import { api, startTestServer, TestServer } from './support/server.js';

describe('devices API', () => {
  let s: TestServer;
  let client: ReturnType<typeof api>;
  let fx: ReturnType<typeof fixtures>;
  let villageCode: string;
  let townCode: string;
  const changes: DeviceChange[] = [];
  beforeAll(async () => {
    s = await startTestServer();
    client = api(s.url, s.adminToken);
    fx = fixtures(s.url, s.adminToken);
    townCode = (await fx.newTown()).code;
    villageCode = (await fx.newVillage(townCode)).code;
    s.server.app.get(DeviceEvents).changes.subscribe((c) => changes.push(c));
  });
  afterAll(() => s.close());

  it('registers a device and shows its secret in that response only', async () => {
    const created = await client
      .post('/api/devices')
      .send({
        id: 'vl-test-1',
        villageCode,
        type: 'village_loudspeaker',
        label: '村委会楼顶',
        notes: 'line 1\nline 2',
      })
      .expect(201);
    const secret = created.body.secret as string;
    assert.match(secret, /^[A-Za-z0-9_-]{43}$/);
    assert.equal(created.body.enabled, true);
    assert.equal(created.body.label, '村委会楼顶');

    for (const path of ['/api/devices/vl-test-1', '/api/devices', '/api/devices/export']) {
      const res = await client.get(path).expect(200);
      assert.ok(!res.text.includes(secret), `${path} does not reveal the secret`);
      assert.ok(!/secret_?hash|scrypt\$/i.test(res.text), `${path} does not reveal the hash`);
    }
    assert.ok(!s.rawLogs.join('').includes(secret), 'the secret is not logged');
    assert.equal(await s.server.app.get(DevicesService).verifySecret('vl-test-1', secret), true);
    assert.ok(changes.some((c) => c.kind === 'created' && c.deviceId === 'vl-test-1'));
  });

  it('rotates a secret: the new one works, the old one stops, and listeners hear of it', async () => {
    const device = await fx.newDevice(villageCode);
    const service = s.server.app.get(DevicesService);
    const rotated = await client.post(`/api/devices/${device.id}/rotate-secret`).expect(201);
    assert.notEqual(rotated.body.secret, device.secret);
    assert.equal(await service.verifySecret(device.id, device.secret), false);
    assert.equal(await service.verifySecret(device.id, rotated.body.secret), true);
    assert.ok(
      Date.parse(rotated.body.secretRotatedAt) >=
        Date.parse((await client.get(`/api/devices/${device.id}`)).body.createdAt),
    );
    assert.ok(changes.some((c) => c.kind === 'secret-rotated' && c.deviceId === device.id));
    await client.post('/api/devices/no-such-device/rotate-secret').expect(404);
  });

  it('disables a device: its secret no longer verifies', async () => {
    const device = await fx.newDevice(villageCode);
    const updated = await client
      .patch(`/api/devices/${device.id}`)
      .send({ enabled: false, label: null })
      .expect(200);
    assert.equal(updated.body.enabled, false);
    assert.equal(
      await s.server.app.get(DevicesService).verifySecret(device.id, device.secret),
      false,
    );
    assert.ok(
      changes.some((c) => c.kind === 'updated' && c.deviceId === device.id && c.enabled === false),
    );
    assert.equal(
      await s.server.app.get(DevicesService).verifySecret('unknown-device', device.secret),
      false,
    );
  });

  it('moves a device to another village and changes its type', async () => {
    const device = await fx.newDevice(villageCode);
    const other = await fx.newVillage(townCode);
    const moved = await client
      .patch(`/api/devices/${device.id}`)
      .send({ villageCode: other.code, type: 'flood_pa' })
      .expect(200);
    assert.equal(moved.body.villageCode, other.code);
    assert.equal(moved.body.type, 'flood_pa');
    const bad = await client
      .patch(`/api/devices/${device.id}`)
      .send({ villageCode: '999999999999' })
      .expect(400);
    assert.equal(bad.body.details[0].rule, 'exists');
  });

  it('keeps each terminal’s resource code (EBRID): 18 or 23 digits, one device per code', async () => {
    const code = `61102610000${String(Date.now()).slice(-7)}`;
    const a = await fx.newDevice(villageCode);
    const b = await fx.newDevice(villageCode);
    assert.equal((await client.get(`/api/devices/${a.id}`).expect(200)).body.resourceCode, null);
    const set = await client.patch(`/api/devices/${a.id}`).send({ resourceCode: code }).expect(200);
    assert.equal(set.body.resourceCode, code);
    // Setting it again on the same device is no conflict.
    await client.patch(`/api/devices/${a.id}`).send({ resourceCode: code }).expect(200);
    const taken = await client
      .patch(`/api/devices/${b.id}`)
      .send({ resourceCode: code })
      .expect(409);
    assert.equal(taken.body.error, 'RESOURCE_CODE_TAKEN');
    assert.match(taken.body.message, new RegExp(a.id));
    const created = await client
      .post('/api/devices')
      .send({ id: `rc-${Date.now()}`, villageCode, type: 'flood_pa', resourceCode: code })
      .expect(409);
    assert.equal(created.body.error, 'RESOURCE_CODE_TAKEN');
    for (const bad of ['12345', `${code}0`, 'abcdefghijklmnopqr', 611026100000]) {
      const res = await client
        .patch(`/api/devices/${b.id}`)
        .send({ resourceCode: bad })
        .expect(400);
      assert.equal(res.body.details[0].rule, 'isResourceCode', String(bad));
    }
    await client.patch(`/api/devices/${a.id}`).send({ resourceCode: null }).expect(200);
    const moved = await client
      .patch(`/api/devices/${b.id}`)
      .send({ resourceCode: `${code}00000` })
      .expect(200);
    assert.equal(moved.body.resourceCode, `${code}00000`);
    await client.patch(`/api/devices/${b.id}`).send({ resourceCode: code }).expect(200);
  });

  it('lists devices filtered by town, village, type and enabled, paged', async () => {
    const town = await fx.newTown();
    const v1 = await fx.newVillage(town.code);
    const v2 = await fx.newVillage(town.code);
    await fx.newDevice(v1.code, { type: 'emergency_terminal' });
    await fx.newDevice(v1.code, { type: 'flood_pa', enabled: false });
    await fx.newDevice(v2.code, { type: 'flood_pa' });
    const get = async (q: string) => (await client.get(`/api/devices?${q}`).expect(200)).body;
    assert.equal((await get(`town=${town.code}`)).total, 3);
    assert.equal((await get(`village=${v1.code}`)).total, 2);
    assert.equal((await get(`town=${town.code}&type=flood_pa`)).total, 2);
    assert.equal((await get(`town=${town.code}&enabled=false`)).total, 1);
    assert.equal((await get(`town=${town.code}&enabled=true&type=flood_pa`)).total, 1);
    assert.equal(
      (await get(`town=${town.code}&village=${villageCode}`)).total,
      0,
      'a village outside the town',
    );
    const page = await get(`town=${town.code}&limit=1&offset=1`);
    assert.equal(page.items.length, 1);
    assert.equal(page.total, 3);
    await client.get('/api/devices?type=siren').expect(400);
    await client.get('/api/devices?enabled=perhaps').expect(400);
  });

  it('refuses unsafe ids, unknown types and villages, unknown fields and duplicates', async () => {
    const cases: [Record<string, unknown>, string, string][] = [
      [{ id: 'a/b', villageCode, type: 'flood_pa' }, 'id', 'isDeviceId'],
      [{ id: 'a+b', villageCode, type: 'flood_pa' }, 'id', 'isDeviceId'],
      [{ id: 'a#', villageCode, type: 'flood_pa' }, 'id', 'isDeviceId'],
      [{ id: 'x'.repeat(65), villageCode, type: 'flood_pa' }, 'id', 'isDeviceId'],
      [{ id: 'ok-1', villageCode, type: 'siren' }, 'type', 'isIn'],
      [{ id: 'ok-1', villageCode: '999999999999', type: 'flood_pa' }, 'villageCode', 'exists'],
      [{ id: 'ok-1', villageCode, type: 'flood_pa', secret: 'mine' }, 'secret', 'unknownField'],
      [{ id: 'ok-1', villageCode, type: 'flood_pa', enabled: 'yes' }, 'enabled', 'isBoolean'],
    ];
    for (const [body, field, rule] of cases) {
      const res = await client.post('/api/devices').send(body).expect(400);
      assert.ok(
        res.body.details.some(
          (d: { field: string; rule: string }) => d.field === field && d.rule === rule,
        ),
        `${JSON.stringify(body)} → ${JSON.stringify(res.body.details)}`,
      );
    }
    const device = await fx.newDevice(villageCode);
    const dup = await client
      .post('/api/devices')
      .send({ id: device.id, villageCode, type: 'flood_pa' })
      .expect(409);
    assert.equal(dup.body.error, 'DEVICE_EXISTS');
    await client.get('/api/devices/a%2Fb').expect(400);
    await client.get('/api/devices/nope').expect(404);
  });

  it('deletes a device', async () => {
    const device = await fx.newDevice(villageCode);
    await client.delete(`/api/devices/${device.id}`).expect(204);
    await client.get(`/api/devices/${device.id}`).expect(404);
    assert.ok(changes.some((c) => c.kind === 'deleted' && c.deviceId === device.id));
  });
});

describe('the device directory (in memory, for the board and broadcast targets)', () => {
  it('is never staler than the database, also with a second server process writing to it', async () => {
    const a = await startTestServer();
    // A second server on the same SQLite file, as when several processes share one database.
    const b = await startTestServer({ dataDir: a.dataDir, adminToken: a.adminToken });
    try {
      const fa = fixtures(a.url, a.adminToken);
      const fb = fixtures(b.url, b.adminToken);
      const town = (await fa.newTown()).code;
      const village = (await fa.newVillage(town)).code;
      const board = async () =>
        (await api(a.url, a.adminToken).get(`/api/status/villages?town=${town}`).expect(200)).body
          .items[0] as { devicesTotal: number; devicesEnabled: number };
      const targets = async () =>
        (
          await api(a.url, a.adminToken)
            .post('/api/broadcasts/target-preview')
            .send({ villages: [village] })
            .expect(200)
        ).body as { devices: number };

      await fa.newDevice(village);
      assert.equal((await board()).devicesTotal, 1);
      const other = await fb.newDevice(village); // written by the other process
      const seen = await board();
      assert.equal(seen.devicesTotal, 2, 'a device another process created');
      assert.equal(seen.devicesEnabled, 2);
      assert.equal((await targets()).devices, 2);
      await api(b.url, b.adminToken)
        .patch(`/api/devices/${other.id}`)
        .send({ enabled: false })
        .expect(200);
      assert.equal((await board()).devicesEnabled, 1);
      assert.equal((await targets()).devices, 1);
      await api(b.url, b.adminToken).delete(`/api/devices/${other.id}`).expect(204);
      assert.equal((await board()).devicesTotal, 1);
    } finally {
      await b.close();
      await a.close();
    }
  });
});

describe('presence history written in batches', () => {
  it('applies opens and closes in order, closing many devices with one statement each', async () => {
    const s = await startTestServer();
    try {
      const fx = fixtures(s.url, s.adminToken);
      const village = (await fx.newVillage((await fx.newTown()).code)).code;
      const [a, b, c] = [
        (await fx.newDevice(village)).id,
        (await fx.newDevice(village)).id,
        (await fx.newDevice(village)).id,
      ];
      const repo = s.server.app.get(PresenceRepository);
      await repo.saveBatch(
        [],
        [
          { kind: 'open', deviceId: a, at: 1000 },
          { kind: 'open', deviceId: b, at: 1000 },
          { kind: 'open', deviceId: c, at: 1500 },
          { kind: 'close', deviceId: a, at: 2000, reason: 'offline' },
          { kind: 'close', deviceId: b, at: 2000, reason: 'offline' },
          { kind: 'close', deviceId: a, at: 2500, reason: 'timeout' }, // nothing open: no-op
          { kind: 'open', deviceId: a, at: 3000 },
          { kind: 'close', deviceId: a, at: 4000, reason: 'server_stop' },
          { kind: 'close', deviceId: c, at: 4000, reason: 'server_stop' },
        ],
      );
      const history = async (id: string) =>
        (await repo.history(id, 10))
          .map((i) => [i.startedAt, i.endedAt, i.endReason])
          .sort((x, y) => Number(x[0]) - Number(y[0]));
      assert.deepEqual(await history(a), [
        [1000, 2000, 'offline'],
        [3000, 4000, 'server_stop'],
      ]);
      assert.deepEqual(await history(b), [[1000, 2000, 'offline']]);
      assert.deepEqual(await history(c), [[1500, 4000, 'server_stop']]);
    } finally {
      await s.close();
    }
  });
});
