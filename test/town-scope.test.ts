// Town officials see and change only their own towns. The route walk reads every operation from
// the OpenAPI document, so a route added later, or one that gains @TownScoped() without filtering,
// is walked too: an official of town B calls it with town A's ids and must learn nothing of A.
import assert from 'node:assert/strict';
import { describe, it, beforeAll, afterAll } from '@jest/globals';
import { createBroadcast, newClip } from './support/broadcasts.js';
import { fixtures } from './support/fixtures.js';
import { mqttUrl, startAgentOnline } from './support/mqtt.js';
import { api, startTestServer, TestServer } from './support/server.js';
import { openEvents, SseStream } from './support/sse.js';
import { staffMember, townOfficial } from './support/staff.js';
import { ApiTokensService } from '../src/auth/api-tokens.service.js';

// Codes chosen so that none contains another: a marker found in a body is really A's.
const A = '611077100';
const B = '611077200';
const VA = `${A}201`;
const VB = `${B}201`;
const DA = 'scope-dev-town-a';
const DB = 'scope-dev-town-b';

type Route = { method: string; path: string };
type Res = { status: number; body: unknown; text?: string };

function scheduleBody(clipId: string, target: Record<string, unknown>, level = 'routine') {
  return {
    name: `scope schedule ${level}`,
    cron: '0 8 * * *',
    template: { title: 'scope schedule broadcast', clipId, level, target, windowMinutes: 30 },
  };
}

describe('town officials (route walk and scoped reads)', () => {
  let s: TestServer;
  let routes: Route[];
  let clipId: string;
  let broadcastA: string;
  let scheduleA: string;
  let officialA: string;
  let officialB: string;
  let deviceA: { id: string; secret: string };
  /** Every id, code, name and title of town A's things: none may reach an official of B. */
  let markers: string[];

  beforeAll(async () => {
    s = await startTestServer();
    const doc = (await api(s.url).get('/api/docs-json').expect(200)).body as {
      paths: Record<string, Record<string, unknown>>;
    };
    routes = Object.entries(doc.paths)
      .filter(([path]) => path.startsWith('/api/'))
      .flatMap(([path, ops]) => Object.keys(ops).map((method) => ({ method, path })));

    const f = fixtures(s.url, s.adminToken);
    await f.newTown({ code: A, name: '甲范围镇' });
    await f.newTown({ code: B, name: '乙范围镇' });
    await f.newVillage(A, { code: VA, name: '甲范围村' });
    await f.newVillage(B, { code: VB, name: '乙范围村' });
    deviceA = await f.newDevice(VA, { id: DA, label: '甲范围喇叭' });
    await f.newDevice(VB, { id: DB, label: '乙范围喇叭' });
    clipId = (await newClip(s, 1)).id;
    broadcastA = (
      await createBroadcast(s, {
        title: '甲范围通知',
        clipId,
        level: 'routine',
        target: { villages: [VA] },
      })
    ).id;
    const schedule = await api(s.url, s.adminToken)
      .post('/api/schedules')
      .send({ ...scheduleBody(clipId, { villages: [VA] }), name: '甲范围日程' })
      .expect(201);
    scheduleA = schedule.body.id as string;
    officialA = (await townOfficial(s, [A])).token;
    officialB = (await townOfficial(s, [B])).token;
    markers = [A, '甲范围镇', VA, '甲范围村', DA, '甲范围喇叭', broadcastA, '甲范围通知'];
    markers.push(scheduleA, '甲范围日程');
  }, 120_000);
  afterAll(() => s.close());

  /** A's id for each path parameter, by the collection it names. */
  function fill(path: string): string {
    return path.replace(/\{(\w+)\}/g, (_, name: string) => {
      if (name === 'code') return path.startsWith('/api/towns/') ? A : VA;
      if (name === 'tone') return 'routine';
      if (name !== 'id') return '00000000-0000-4000-8000-000000000000';
      if (path.startsWith('/api/devices/')) return DA;
      if (path.startsWith('/api/broadcasts/')) return broadcastA;
      if (path.startsWith('/api/schedules/')) return scheduleA;
      if (path.startsWith('/api/clips/')) return clipId;
      return '00000000-0000-4000-8000-000000000000';
    });
  }

  /** A body the route would accept from county staff, aimed at town A. */
  function bodyFor(route: Route): Record<string, unknown> {
    const { method, path } = route;
    if (path === '/api/towns') return { code: '611077300', name: '新镇' };
    if (path === '/api/towns/{code}') return { name: '改名镇' };
    if (path === '/api/villages') return { code: `${A}299`, name: '新村', townCode: A };
    if (path === '/api/villages/{code}') return { name: '改名村' };
    if (path === '/api/devices') return { id: 'scope-new', villageCode: VA, type: 'flood_pa' };
    if (path === '/api/devices/{id}') return { label: '改名' };
    if (path.endsWith('/volume')) return { volume: 50 };
    if (path === '/api/broadcasts')
      return { title: '乙的通知', clipId, level: 'routine', target: { villages: [VA] } };
    if (path === '/api/broadcasts/target-preview') return { villages: [VA] };
    if (path.endsWith('/cancel') || path.endsWith('/withdraw')) return { reason: 'scope test' };
    if (path.endsWith('/confirmations')) return { village: VA, method: 'phone' };
    if (path === '/api/schedules') return scheduleBody(clipId, { villages: [VA] });
    if (path === '/api/schedules/{id}') return { name: '改名日程' };
    if (path === '/api/schedules/quiet-preview')
      return { cron: '0 8 * * *', level: 'routine', target: { villages: [VA] } };
    if (path === '/api/clips/{id}') return { title: '改名录音' };
    if (path === '/api/tokens') return { name: 'scope', role: 'viewer' };
    if (method === 'post' && path.includes('/broadcasts/')) return {};
    return {};
  }

  const QUERIES: Record<string, string> = {
    '/api/schedules/preview': '?cron=0%208%20*%20*%20*',
  };

  async function call(token: string, route: Route): Promise<Res> {
    const url = fill(route.path) + (route.method === 'get' ? (QUERIES[route.path] ?? '') : '');
    const client = api(s.url, token) as unknown as Record<
      string,
      (p: string) => ReturnType<ReturnType<typeof api>['get']>
    >;
    const req = client[route.method](url);
    const res = route.method === 'get' ? await req : await req.send(bodyFor(route));
    return res as Res;
  }

  const text = (res: Res): string =>
    typeof res.text === 'string' && res.text.length
      ? res.text
      : Buffer.isBuffer(res.body)
        ? res.body.toString('latin1')
        : JSON.stringify(res.body ?? '');

  it('knows the routes and the things of town A it looks for', () => {
    assert.ok(routes.length >= 40, `found ${routes.length}`);
    assert.ok(routes.some((r) => r.path === '/api/villages/{code}'));
  });

  it('tells an official of B nothing about A on any route', async () => {
    const scoped: string[] = [];
    for (const route of routes) {
      const where = `${route.method.toUpperCase()} ${route.path}`;
      // The live stream never ends: its narrowing is checked on its own below.
      if (route.path === '/api/events') continue;
      const res = await call(officialB, route);
      // A sign-in's own routes (cookie sessions) may not know a bearer token; none shows data.
      if (!route.path.startsWith('/api/session')) assert.notEqual(res.status, 401, where);
      assert.ok(res.status < 500, `${where} gave ${res.status}: ${text(res)}`);
      if (res.status >= 200 && res.status < 300) {
        // Only reads may succeed: a write aimed at A by B is always refused.
        assert.equal(route.method, 'get', `${where} let B change something of A (${res.status})`);
        for (const m of markers)
          assert.ok(!text(res).includes(m), `${where} showed B "${m}" of town A: ${text(res)}`);
        scoped.push(where);
      } else {
        // 400/415: the request never reached A's data (an upload without its file).
        // A refusal may echo what was asked (the id in the path), never more of A.
        assert.ok([400, 401, 403, 404, 415].includes(res.status), `${where} gave ${res.status}`);
        const asked = fill(route.path) + JSON.stringify(bodyFor(route));
        for (const m of markers.filter((m) => !asked.includes(m)))
          assert.ok(!text(res).includes(m), `${where} refused B but showed "${m}": ${text(res)}`);
      }
    }
    // The walk really reached scoped handlers: these answer B, without A in them.
    for (const read of ['GET /api/towns', 'GET /api/villages', 'GET /api/devices', 'GET /api/me'])
      assert.ok(scoped.includes(read), `${read} answered B`);
  });

  it('refuses county-only routes to a town official with COUNTY_ONLY', async () => {
    // Admin-only reads: the role check answers first.
    for (const path of ['/api/audit', '/api/tokens'])
      assert.equal((await api(s.url, officialB).get(path)).status, 403, path);
    // Reads any viewer may make, kept from town officials: device keys and certificates.
    for (const path of [
      `/api/devices/${DB}/device-key`,
      `/api/broadcasts/${broadcastA}/certificate`,
    ]) {
      const res = await api(s.url, officialB).get(path);
      assert.equal(res.status, 403, path);
      assert.equal(res.body.error, 'COUNTY_ONLY', path);
    }
  });

  it('shows B only B on the board, with figures over B alone', async () => {
    const board = await api(s.url, officialB).get('/api/status/villages').expect(200);
    assert.deepEqual(
      board.body.items.map((v: { code: string }) => v.code),
      [VB],
    );
    assert.equal(board.body.summary.villages, 1);
    assert.equal(board.body.summary.devicesTotal, 1);
    const county = await api(s.url, s.adminToken).get('/api/status/villages').expect(200);
    assert.ok(county.body.summary.villages >= 2, 'the county sees both towns');
  });

  it("limits a person's viewer token to their towns once they become a town official", async () => {
    const person = await staffMember(s, 'operator');
    const viewer = await s.server.app.get(ApiTokensService).create({
      name: 'wall screen',
      role: 'viewer',
      createdBy: 'test',
      ownerUserId: person.userId,
    });
    const screen = api(s.url, viewer.token);
    assert.equal((await screen.get('/api/me').expect(200)).body.towns, null);
    await api(s.url, s.adminToken)
      .patch(`/api/users/${person.userId}`)
      .send({ role: 'town_official', towns: [B] })
      .expect(200);
    const me = (await screen.get('/api/me').expect(200)).body;
    assert.deepEqual([me.role, me.towns], ['viewer', [B]]);
    const villages = (await screen.get('/api/villages').expect(200)).body.items;
    assert.deepEqual(
      villages.map((v: { code: string }) => v.code),
      [VB],
    );
    await screen.get(`/api/villages/${VA}`).expect(404);
  });

  it("shows an official of A A's towns, villages, devices and schedules, and not B's", async () => {
    const a = api(s.url, officialA);
    const codes = (res: { body: { items: { code: string }[] } }) =>
      res.body.items.map((i) => i.code);
    assert.deepEqual(codes(await a.get('/api/towns').expect(200)), [A]);
    assert.equal((await a.get(`/api/towns/${A}`).expect(200)).body.name, '甲范围镇');
    await a.get(`/api/towns/${B}`).expect(404);
    assert.deepEqual(codes(await a.get('/api/villages').expect(200)), [VA]);
    assert.equal((await a.get(`/api/villages/${VA}`).expect(200)).body.townCode, A);
    await a.get(`/api/villages/${VB}`).expect(404);
    const csv = (await a.get('/api/villages/export').expect(200)).text;
    assert.ok(csv.includes(VA) && !csv.includes(VB), csv);

    const devices = await a.get('/api/devices').expect(200);
    assert.deepEqual(
      devices.body.items.map((d: { id: string }) => d.id),
      [DA],
    );
    const deviceCsv = (await a.get('/api/devices/export').expect(200)).text;
    assert.ok(deviceCsv.includes(DA) && !deviceCsv.includes(DB), deviceCsv);
    await a.get(`/api/devices/${DA}`).expect(200);
    await a.get(`/api/devices/${DA}/presence`).expect(200);
    await a.get(`/api/devices/${DA}/security-events`).expect(200);
    for (const path of ['', '/presence', '/security-events'])
      await a.get(`/api/devices/${DB}${path}`).expect(404);

    assert.deepEqual(codes(await a.get('/api/status/villages').expect(200)), [VA]);
    const schedules = await a.get('/api/schedules').expect(200);
    assert.deepEqual(
      schedules.body.items.map((x: { id: string }) => x.id),
      [scheduleA],
    );
    await a.get(`/api/schedules/${scheduleA}`).expect(200);
    await a.get(`/api/schedules/${scheduleA}/preview`).expect(200);
    await a.get(`/api/schedules/${scheduleA}/firings`).expect(200);
    await a.get(`/api/clips/${clipId}`).expect(200);
  });

  it("carries on B's live stream only B's broadcasts and villages", async () => {
    let streamA: SseStream | undefined;
    let streamB: SseStream | undefined;
    try {
      streamA = await openEvents(s.url, officialA);
      streamB = await openEvents(s.url, officialB);
      assert.equal(streamB.status, 200);
      await streamA.next((f) => f.event === 'hello', 10_000, 'hello A');
      await streamB.next((f) => f.event === 'hello', 10_000, 'hello B');
      const inA = await createBroadcast(s, {
        title: '甲范围直播',
        clipId,
        level: 'routine',
        target: { villages: [VA] },
      });
      const about = (id: string) => (f: { event: string; data: unknown }) =>
        f.event === 'update' &&
        (f.data as { broadcasts: { id: string }[] }).broadcasts.some((b) => b.id === id);
      await streamA.next(about(inA.id), 10_000, "A's broadcast on A's stream");
      const inB = await createBroadcast(s, {
        title: '乙范围直播',
        clipId,
        level: 'routine',
        target: { villages: [VB] },
      });
      // Updates go out in order: once B's own arrives, any about A would have come before it.
      await streamB.next(about(inB.id), 10_000, "B's broadcast on B's stream");
      const seen = JSON.stringify(streamB.frames);
      for (const m of [inA.id, '甲范围直播', VA, broadcastA])
        assert.ok(!seen.includes(m), `B's stream carried "${m}"`);
      assert.ok(!JSON.stringify(streamA.frames).includes(inB.id), "A's stream carried B's");
    } finally {
      streamA?.close();
      streamB?.close();
    }
  });

  it("counts on a town official's stream only their devices online", async () => {
    const agent = await startAgentOnline(s, mqttUrl(s), deviceA, { speed: 0 });
    const streams: SseStream[] = [];
    try {
      const helloOf = async (token: string) => {
        const st = await openEvents(s.url, token);
        streams.push(st);
        const hello = await st.next((f) => f.event === 'hello', 10_000, 'hello');
        return (hello.data as { devicesOnline: number }).devicesOnline;
      };
      assert.equal(await helloOf(officialA), 1);
      assert.equal(await helloOf(officialB), 0);
      assert.equal(await helloOf(s.adminToken), 1);
    } finally {
      for (const st of streams) st.close();
      await agent.stop();
    }
  });

  describe('schedules a town official writes', () => {
    it('creates routine and test schedules wholly in their towns', async () => {
      const a = api(s.url, officialA);
      for (const [target, level] of [
        [{ villages: [VA] }, 'routine'],
        [{ towns: [A] }, 'test'],
        [{ devices: [DA] }, 'routine'],
      ] as const) {
        const res = await a.post('/api/schedules').send(scheduleBody(clipId, target, level));
        assert.equal(res.status, 201, `${JSON.stringify(target)} ${level}: ${res.text}`);
        await a.delete(`/api/schedules/${res.body.id}`).expect(204);
      }
    });

    it('refuses other towns, the whole county and emergency levels with OUT_OF_SCOPE', async () => {
      const a = api(s.url, officialA);
      for (const [target, level] of [
        [{ villages: [VA, VB] }, 'routine'],
        [{ towns: [B] }, 'routine'],
        [{ all: true }, 'test'],
        [{ deviceTypes: ['village_loudspeaker'] }, 'routine'],
        [{ villages: [VA] }, 'I'],
        [{ villages: [VA] }, 'IV'],
      ] as const) {
        const res = await a.post('/api/schedules').send(scheduleBody(clipId, target, level));
        assert.equal(res.status, 403, `${JSON.stringify(target)} ${level}: ${res.text}`);
        assert.equal(res.body.error, 'OUT_OF_SCOPE');
      }
      const quiet = await a
        .post('/api/schedules/quiet-preview')
        .send({ cron: '0 8 * * *', level: 'routine', target: { villages: [VB] } });
      assert.equal(quiet.body.error, 'OUT_OF_SCOPE');
      await a
        .post('/api/schedules/quiet-preview')
        .send({ cron: '0 8 * * *', level: 'routine', target: { villages: [VA] } })
        .expect(200);
    });

    it('changes their own schedule, but not into another town or level', async () => {
      const a = api(s.url, officialA);
      const own = await a
        .post('/api/schedules')
        .send(scheduleBody(clipId, { villages: [VA] }))
        .expect(201);
      const id = own.body.id as string;
      await a
        .patch(`/api/schedules/${id}`)
        .send({ name: '甲自己的日程', enabled: false })
        .expect(200);
      for (const template of [
        scheduleBody(clipId, { villages: [VB] }).template,
        scheduleBody(clipId, { villages: [VA] }, 'II').template,
      ]) {
        const res = await a.patch(`/api/schedules/${id}`).send({ template });
        assert.equal(res.status, 403, res.text);
        assert.equal(res.body.error, 'OUT_OF_SCOPE');
      }
      // B cannot even see it.
      await api(s.url, officialB).patch(`/api/schedules/${id}`).send({ name: 'x' }).expect(404);
      await api(s.url, officialB).delete(`/api/schedules/${id}`).expect(404);
      await a.delete(`/api/schedules/${id}`).expect(204);
    });

    it("sees the county's schedules reaching their town but may not change them", async () => {
      const county = await api(s.url, s.adminToken)
        .post('/api/schedules')
        .send(scheduleBody(clipId, { towns: [A, B] }, 'test'))
        .expect(201);
      const id = county.body.id as string;
      const a = api(s.url, officialA);
      await a.get(`/api/schedules/${id}`).expect(200);
      const patch = await a.patch(`/api/schedules/${id}`).send({ name: 'x' });
      assert.equal(patch.status, 403);
      assert.equal(patch.body.error, 'OUT_OF_SCOPE');
      assert.equal((await a.delete(`/api/schedules/${id}`)).status, 403);
      await api(s.url, s.adminToken).delete(`/api/schedules/${id}`).expect(204);
    });
  });
});
