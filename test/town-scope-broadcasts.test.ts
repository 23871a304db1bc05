import assert from 'node:assert/strict';
import { describe, it, beforeAll, afterAll } from '@jest/globals';
import { createBroadcast, CreatedBroadcast, DELIVERY_ENV, newClip } from './support/broadcasts.js';
import { fixtures } from './support/fixtures.js';
import { api, startTestServer, TestServer } from './support/server.js';
import { townOfficial } from './support/staff.js';

const sum = (counts: Record<string, number>) => Object.values(counts).reduce((n, c) => n + c, 0);

describe('town officials and broadcasts: their towns only', () => {
  let s: TestServer;
  let clip: { id: string };
  let townA: string;
  let townB: string;
  let a1: string;
  let a2: string;
  let b1: string;
  let deviceB: string;
  let officialA: string;
  let officialB: string;
  let county: CreatedBroadcast;
  let toB: CreatedBroadcast;

  beforeAll(async () => {
    s = await startTestServer({ env: DELIVERY_ENV });
    const fx = fixtures(s.url, s.adminToken);
    townA = (await fx.newTown()).code;
    townB = (await fx.newTown()).code;
    a1 = (await fx.newVillage(townA)).code;
    a2 = (await fx.newVillage(townA)).code;
    b1 = (await fx.newVillage(townB)).code;
    await fx.newDevice(a1);
    await fx.newDevice(a2, { type: 'speaker_cart' });
    deviceB = (await fx.newDevice(b1)).id;
    officialA = (await townOfficial(s, [townA])).token;
    officialB = (await townOfficial(s, [townB])).token;
    clip = await newClip(s, 1);
    // The devices stay offline: every delivery waits, so counts are what was targeted.
    county = await createBroadcast(s, {
      title: '全县山洪预警',
      clipId: clip.id,
      level: 'II',
      target: { all: true },
    });
    toB = await createBroadcast(s, {
      title: '乙镇例行广播',
      clipId: clip.id,
      level: 'routine',
      target: { towns: [townB] },
    });
  });
  afterAll(async () => {
    await s?.close();
  });

  const send = (token: string, body: Record<string, unknown>) =>
    api(s.url, token).post('/api/broadcasts').send(body);
  const routine = (target: Record<string, unknown>) => ({
    title: '甲镇例行广播',
    clipId: clip.id,
    level: 'routine',
    target,
  });

  it('lets a town official send a routine broadcast to their town, and no emergency or other town', async () => {
    const made = await send(officialA, routine({ towns: [townA] })).expect(201);
    assert.equal(made.body.villages, 2);
    assert.equal(sum(made.body.deliveries as Record<string, number>), 2);
    await send(officialA, { ...routine({ villages: [a1] }), level: 'test' }).expect(201);

    const refused = async (body: Record<string, unknown>, why: string) => {
      const res = await send(officialA, body).expect(403);
      assert.equal(res.body.error, 'OUT_OF_SCOPE', why);
    };
    await refused({ ...routine({ towns: [townA] }), level: 'I' }, 'level I is the county’s');
    await refused({ ...routine({ towns: [townA] }), level: 'IV' }, 'level IV is the county’s');
    await refused(routine({ towns: [townB] }), 'another town');
    await refused(routine({ villages: [a1, b1] }), 'a village of another town');
    await refused(routine({ devices: [deviceB] }), 'a device of another town');
    await refused(routine({ all: true }), 'the whole county');
    await refused(routine({ deviceTypes: ['speaker_cart'] }), 'a device type county-wide');

    const preview = (token: string, target: Record<string, unknown>) =>
      api(s.url, token).post('/api/broadcasts/target-preview').send(target);
    assert.equal((await preview(officialA, { towns: [townA] }).expect(200)).body.villages, 2);
    assert.equal((await preview(officialA, { all: true }).expect(403)).body.error, 'OUT_OF_SCOPE');
    assert.equal((await preview(s.adminToken, { all: true }).expect(200)).body.villages, 3);
  });

  it('lists the broadcasts reaching their towns, counted over their villages only', async () => {
    const later = await createBroadcast(s, {
      ...routine({ villages: [a2] }),
      startAt: new Date(Date.now() + 3_600_000).toISOString(),
    });
    assert.equal(later.status, 'scheduled', 'not dispatched: reached by its target');
    const list = async (token: string) =>
      (await api(s.url, token).get('/api/broadcasts?limit=100').expect(200)).body as {
        items: { id: string; villages: number; deliveries: Record<string, number> }[];
        total: number;
      };
    const mine = await list(officialA);
    const ids = mine.items.map((b) => b.id);
    assert.ok(ids.includes(county.id) && ids.includes(later.id));
    assert.ok(!ids.includes(toB.id), 'a broadcast to town B only is not theirs');
    assert.equal(mine.total, mine.items.length);
    const countyAsA = mine.items.find((b) => b.id === county.id)!;
    assert.equal(countyAsA.villages, 2, 'their two villages, not the county’s three');
    assert.equal(sum(countyAsA.deliveries), 2);

    const asB = (await list(officialB)).items.map((b) => b.id);
    assert.ok(asB.includes(county.id) && asB.includes(toB.id));
    assert.ok(!asB.includes(later.id), 'scheduled for a village of A');

    const countyAsAdmin = (await list(s.adminToken)).items.find((b) => b.id === county.id)!;
    assert.equal(countyAsAdmin.villages, 3, 'county staff see the county figures');
    assert.equal(sum(countyAsAdmin.deliveries), 3);

    const one = await api(s.url, officialA).get(`/api/broadcasts/${county.id}`).expect(200);
    assert.equal(one.body.villages, 2);
    await api(s.url, officialA).get(`/api/broadcasts/${toB.id}`).expect(404);
    await api(s.url, officialB).get(`/api/broadcasts/${later.id}`).expect(404);
  });

  it('shows their villages’ deliveries and events only: 404 for one in another town', async () => {
    const all = (
      await api(s.url, s.adminToken)
        .get(`/api/broadcasts/${county.id}/deliveries?limit=100`)
        .expect(200)
    ).body.items as { id: string; villageCode: string }[];
    assert.equal(all.length, 3);
    const mine = (
      await api(s.url, officialA)
        .get(`/api/broadcasts/${county.id}/deliveries?limit=100`)
        .expect(200)
    ).body as { items: { villageCode: string }[]; total: number };
    assert.deepEqual(mine.items.map((d) => d.villageCode).sort(), [a1, a2].sort());
    assert.equal(mine.total, 2);
    const filtered = await api(s.url, officialA)
      .get(`/api/broadcasts/${county.id}/deliveries?village=${b1}`)
      .expect(200);
    assert.equal(filtered.body.total, 0, 'asking for a village of B by name shows nothing');

    const inA = all.find((d) => d.villageCode === a1)!;
    const inB = all.find((d) => d.villageCode === b1)!;
    const events = (id: string) =>
      api(s.url, officialA).get(`/api/broadcasts/${county.id}/deliveries/${id}/events`);
    // Offline devices: no change yet, but a delivery of theirs is there to ask about.
    assert.ok(Array.isArray((await events(inA.id).expect(200)).body));
    assert.equal((await events(inB.id).expect(404)).body.error, 'DELIVERY_NOT_FOUND');
    await api(s.url, officialA).get(`/api/broadcasts/${toB.id}/deliveries`).expect(404);
  });

  it('confirms by hand in their villages only, and sees those confirmations only', async () => {
    const confirm = (token: string, body: Record<string, unknown>) =>
      api(s.url, token).post(`/api/broadcasts/${county.id}/confirmations`).send(body);
    const made = await confirm(officialA, { village: a1, method: 'phone' }).expect(201);
    assert.equal(made.body.villageCode, a1);
    const refused = await confirm(officialA, { village: b1, method: 'phone' }).expect(403);
    assert.equal(refused.body.error, 'OUT_OF_SCOPE');
    const byDevice = await confirm(officialA, { device: deviceB, method: 'phone' }).expect(403);
    assert.equal(byDevice.body.error, 'OUT_OF_SCOPE');
    await confirm(s.adminToken, { village: b1, method: 'door_to_door' }).expect(201);

    const list = async (token: string) =>
      (
        (await api(s.url, token).get(`/api/broadcasts/${county.id}/confirmations`).expect(200))
          .body as { villageCode: string }[]
      ).map((c) => c.villageCode);
    assert.deepEqual(await list(officialA), [a1]);
    assert.deepEqual((await list(s.adminToken)).sort(), [a1, b1].sort());
    // Withdrawing stays an admin's: a town official is no admin.
    await api(s.url, officialA)
      .post(`/api/broadcasts/${county.id}/confirmations/${made.body.id}/withdraw`)
      .send({ reason: '核实未播' })
      .expect(403);
  });

  it('reports coverage over their villages only; certificate and resend stay the county’s', async () => {
    const coverage = async (token: string) =>
      (await api(s.url, token).get(`/api/broadcasts/${county.id}/coverage`).expect(200)).body as {
        summary: { targeted: number; covered: number };
        byTown: { townCode: string }[];
        deliveries: { total: number };
        villages: { code: string }[];
      };
    const mine = await coverage(officialA);
    assert.deepEqual(mine.villages.map((v) => v.code).sort(), [a1, a2].sort());
    assert.deepEqual(
      [mine.summary.targeted, mine.summary.covered, mine.deliveries.total],
      [2, 1, 2],
      'a1 covered by hand; b1’s confirmation is not theirs',
    );
    assert.deepEqual(
      mine.byTown.map((t) => t.townCode),
      [townA],
    );
    const countyWide = await coverage(s.adminToken);
    assert.deepEqual([countyWide.summary.targeted, countyWide.summary.covered], [3, 2]);
    const csv = await api(s.url, officialA)
      .get(`/api/broadcasts/${county.id}/coverage?format=csv&lang=en`)
      .expect(200);
    assert.ok(csv.text.includes(a1) && !csv.text.includes(b1));
    await api(s.url, officialA).get(`/api/broadcasts/${toB.id}/coverage`).expect(404);

    await api(s.url, officialA).get(`/api/villages/${a1}/coverage`).expect(200);
    await api(s.url, officialA).get(`/api/villages/${b1}/coverage`).expect(404);

    const certificate = await api(s.url, officialA)
      .get(`/api/broadcasts/${county.id}/certificate`)
      .expect(403);
    assert.equal(certificate.body.error, 'COUNTY_ONLY');
    await api(s.url, officialA).post(`/api/broadcasts/${county.id}/resend`).send({}).expect(403);
  });

  it('gives a period report over their towns: villages, broadcasts and figures without town B', async () => {
    type Report = {
      broadcasts: { total: number; items: { id: string; targeted: number; covered: number }[] };
      usage: { villages: number };
      villages: { code: string }[];
    };
    const report = async (token: string) =>
      (await api(s.url, token).get('/api/reports/coverage').expect(200)).body as Report;
    const mine = await report(officialA);
    assert.deepEqual(mine.villages.map((v) => v.code).sort(), [a1, a2].sort());
    assert.equal(mine.usage.villages, 2);
    const ids = mine.broadcasts.items.map((b) => b.id);
    assert.ok(ids.includes(county.id) && !ids.includes(toB.id));
    const countyLine = mine.broadcasts.items.find((b) => b.id === county.id)!;
    assert.deepEqual([countyLine.targeted, countyLine.covered], [2, 1]);

    const countyReport = await report(s.adminToken);
    assert.equal(countyReport.villages.length, 3);
    assert.ok(countyReport.broadcasts.items.some((b) => b.id === toB.id));
    const line = countyReport.broadcasts.items.find((b) => b.id === county.id)!;
    assert.deepEqual([line.targeted, line.covered], [3, 2]);

    for (const table of ['villages', 'broadcasts']) {
      const csv = await api(s.url, officialA)
        .get(`/api/reports/coverage?format=csv&lang=en&table=${table}`)
        .expect(200);
      assert.ok(!csv.text.includes(b1) && !csv.text.includes(toB.id), table);
    }
  });

  it('lets a town official cancel only what they could have sent', async () => {
    const own = await send(officialA, routine({ towns: [townA] })).expect(201);
    const cancel = (token: string, id: string) =>
      api(s.url, token).post(`/api/broadcasts/${id}/cancel`).send({ reason: '发错了' });
    assert.equal(
      (await cancel(officialA, own.body.id as string).expect(200)).body.status,
      'cancelled',
    );
    assert.equal((await cancel(officialA, county.id).expect(403)).body.error, 'OUT_OF_SCOPE');
    await cancel(officialA, toB.id).expect(404);
    assert.equal(
      (await api(s.url, s.adminToken).get(`/api/broadcasts/${county.id}`).expect(200)).body.status,
      'active',
      'the county broadcast still runs',
    );
  });
});
