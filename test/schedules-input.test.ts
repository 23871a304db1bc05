import assert from 'node:assert/strict';
import { describe, it, beforeAll, afterAll } from '@jest/globals';
import { newClip } from './support/broadcasts.js';
import { fixtures } from './support/fixtures.js';
import { api, startTestServer, TestClock, TestServer } from './support/server.js';

const beijing = (iso: string) => Date.parse(`${iso}+08:00`);

interface Problem {
  field: string;
  rule: string;
  message: string;
}

describe('a schedule must name its level and its target', () => {
  let s: TestServer;
  let template: Record<string, unknown>;
  let quiet: { code: string; name: string };
  let daytime: { code: string };
  let town: string;

  beforeAll(async () => {
    s = await startTestServer({ clock: new TestClock(beijing('2026-11-30T12:00:00')) });
    const fx = fixtures(s.url, s.adminToken);
    town = (await fx.newTown()).code;
    quiet = await fx.newVillage(town, { quietHours: '22:00-06:00' });
    daytime = await fx.newVillage(town, { quietHours: '12:00-13:00' });
    const none = await fx.newVillage(town);
    for (const v of [quiet, daytime, none]) await fx.newDevice(v.code);
    const clip = await newClip(s);
    template = { title: '早间广播', clipId: clip.id, level: 'routine', target: { towns: [town] } };
  });
  afterAll(() => s?.close());

  const refused = async (body: unknown, path = '/api/schedules', method = 'post') => {
    const client = api(s.url, s.adminToken);
    const res = await (method === 'post' ? client.post(path) : client.patch(path))
      .send(body as object)
      .expect(400);
    return res.body.details as Problem[];
  };

  it('refuses, with a 400 naming the field, a schedule without a level or a target, or with an empty or unknown target, and stores nothing', async () => {
    const { level: _level, ...noLevel } = template;
    const { target: _target, ...noTarget } = template;
    const base = { name: '每日', cron: '0 8 * * *' };
    assert.ok(
      (await refused({ ...base, template: noLevel })).some((p) => p.field === 'template.level'),
    );
    assert.ok(
      (await refused({ ...base, template: noTarget })).some((p) => p.field === 'template.target'),
    );
    const empty = await refused({ ...base, template: { ...template, target: {} } });
    assert.deepEqual(
      empty.map((p) => [p.field, p.rule]),
      [['template.target', 'notEmpty']],
    );
    const unknown = await refused({
      ...base,
      template: { ...template, target: { villages: ['610999999999'] } },
    });
    assert.deepEqual(
      unknown.map((p) => [p.field, p.rule]),
      [['template.target.villages', 'exists']],
    );
    const noClip = await refused({
      ...base,
      template: { ...template, clipId: '9b1deb4d-3b7d-4bad-9bdd-2b0d7b3dcb6d' },
    });
    assert.deepEqual(
      noClip.map((p) => [p.field, p.rule]),
      [['template.clipId', 'exists']],
    );
    assert.equal(
      (await api(s.url, s.adminToken).get('/api/schedules').expect(200)).body.total,
      0,
      'nothing was stored',
    );

    const id = (
      await api(s.url, s.adminToken)
        .post('/api/schedules')
        .send({ ...base, template })
        .expect(201)
    ).body.id as string;
    const patched = await refused(
      { template: { ...template, target: {} } },
      `/api/schedules/${id}`,
      'patch',
    );
    assert.equal(patched[0].field, 'template.target');
    const kept = (await api(s.url, s.adminToken).get(`/api/schedules/${id}`).expect(200)).body;
    assert.deepEqual(
      kept.template.target,
      { towns: [town] },
      'the refused change left it as it was',
    );
    await api(s.url, s.adminToken).delete(`/api/schedules/${id}`).expect(204);
  });

  it('names the villages whose quiet hours will hold a routine schedule back, and when each plays', async () => {
    const preview = async (body: Record<string, unknown>) =>
      (
        await api(s.url, s.adminToken)
          .post('/api/schedules/quiet-preview')
          .send({ target: { towns: [town] }, count: 5, ...body })
          .expect(200)
      ).body;
    // 05:30 daily, valid 60 minutes: the night village waits until 06:00, then plays.
    const early = await preview({ cron: '30 5 * * *', level: 'routine', windowMinutes: 60 });
    assert.equal(early.heldByQuietHours, true);
    assert.equal(early.firings, 5);
    assert.equal(early.targetedVillages, 3);
    assert.deepEqual(
      early.villages.map((v: { code: string; held: number; neverPlayed: number }) => [
        v.code,
        v.held,
        v.neverPlayed,
      ]),
      [[quiet.code, 5, 0]],
    );
    assert.equal(early.villages[0].quietHours, '22:00-06:00');
    assert.equal(early.villages[0].name, quiet.name);
    assert.equal(
      early.villages[0].first.fireAt,
      new Date(beijing('2026-12-01T05:30:00')).toISOString(),
    );
    assert.equal(
      early.villages[0].first.playsAt,
      new Date(beijing('2026-12-01T06:00:00')).toISOString(),
    );

    // 22:30 valid 60 minutes: quiet hours outlast the window, so that village never hears it.
    const late = await preview({ cron: '30 22 * * *', level: 'test', windowMinutes: 60 });
    assert.deepEqual(
      late.villages.map((v: { code: string; neverPlayed: number }) => [v.code, v.neverPlayed]),
      [[quiet.code, 5]],
    );
    assert.equal(late.villages[0].first.playsAt, null);

    // Noon: the other village's quiet hours; the default routine window (120 min) outlasts them.
    const noon = await preview({ cron: '15 12 * * *', level: 'routine' });
    assert.deepEqual(
      noon.villages.map((v: { code: string; held: number; neverPlayed: number }) => [
        v.code,
        v.held,
        v.neverPlayed,
      ]),
      [[daytime.code, 5, 0]],
    );

    // Emergencies ignore quiet hours.
    const urgent = await preview({ cron: '30 22 * * *', level: 'II' });
    assert.equal(urgent.heldByQuietHours, false);
    assert.deepEqual(urgent.villages, []);
  });

  it('refuses a quiet-hours preview without a level, a valid cron or a target', async () => {
    const body = { cron: '0 8 * * *', level: 'routine', target: { towns: [town] } };
    const fields = async (b: unknown) =>
      (await refused(b, '/api/schedules/quiet-preview')).map((p) => p.field);
    assert.deepEqual(await fields({ ...body, level: undefined }), ['level']);
    assert.deepEqual(await fields({ ...body, cron: '0 25 * * *' }), ['cron']);
    assert.deepEqual(await fields({ ...body, target: {} }), ['target']);
  });
});
