import assert from 'node:assert/strict';
import { describe, it, beforeAll, afterAll } from '@jest/globals';
import { parse } from 'csv-parse/sync';
import { strFromU8, unzipSync } from 'fflate';
import type { MqttClient } from 'mqtt';
import { DeviceAgent } from '../devices/agent.js';
import { createBroadcast, deliveryReached, newClip } from './support/broadcasts.js';
import { fixtures } from './support/fixtures.js';
import { mqttUrl, scriptedDevice, startAgentOnline } from './support/mqtt.js';
import { api, startTestServer, TestServer, tokenFor } from './support/server.js';

describe('resending a broadcast to the villages it did not cover', () => {
  let s: TestServer;
  const agents: DeviceAgent[] = [];
  const raws: MqttClient[] = [];
  const v: Record<string, string> = {};
  const d: Record<string, string> = {};
  const creds: Record<string, { id: string; secret: string }> = {};
  let clipId = '';
  let townCode = '';
  let original = '';
  let operator = '';
  let viewer = '';

  beforeAll(async () => {
    s = await startTestServer();
    operator = await tokenFor(s, 'operator');
    viewer = await tokenFor(s, 'viewer');
    const fx = fixtures(s.url, s.adminToken);
    const town = await fx.newTown({ name: '丙镇' });
    townCode = town.code;
    for (const name of ['played', 'offline', 'failed', 'empty', 'stuck'])
      v[name] = (await fx.newVillage(town.code)).code;
    for (const name of ['played', 'offline', 'failed', 'stuck']) {
      creds[name] = await fx.newDevice(v[name], { type: 'village_loudspeaker' });
      d[name] = creds[name].id;
    }
    const secretOf = async (name: string) => creds[name];
    agents.push(await startAgentOnline(s, mqttUrl(s), await secretOf('played'), { speed: 0 }));
    // Its first download fails (the village ends uncovered), the next one works: the resend's.
    agents.push(
      await startAgentOnline(s, mqttUrl(s), await secretOf('failed'), {
        speed: 0,
        faults: { failDownloads: 1 },
      }),
    );
    raws.push(await scriptedDevice(s, await secretOf('stuck'), ['received']));
    clipId = (await newClip(s, 1)).id;
    const waits = [
      deliveryReached(s, () => original, d.played, 'played'),
      deliveryReached(s, () => original, d.failed, 'failed'),
      deliveryReached(s, () => original, d.stuck, 'received'),
    ];
    original = (
      await createBroadcast(s, {
        title: '山洪预警',
        clipId,
        level: 'II',
        target: { towns: [town.code], deviceTypes: ['village_loudspeaker'] },
        repeat: 2,
        volume: 80,
      })
    ).id;
    await Promise.all(waits);
  });
  afterAll(async () => {
    for (const r of raws) r.end(true);
    await Promise.all(agents.map((a) => a.stop()));
    await s.close();
  });

  it('makes a new broadcast to exactly the failed and offline villages, once per Idempotency-Key', async () => {
    // The API says which villages a resend would reach, so the dashboard keeps no copy of the rule.
    const before = await api(s.url, viewer).get(`/api/broadcasts/${original}/coverage`).expect(200);
    const flagged = (before.body.villages as { code: string; resendable: boolean }[])
      .filter((x) => x.resendable)
      .map((x) => x.code);
    assert.deepEqual(flagged.sort(), [v.offline, v.failed].sort());
    const first = await api(s.url, operator)
      .post(`/api/broadcasts/${original}/resend`)
      .set('Idempotency-Key', 'resend-1')
      .send({})
      .expect(201);
    const b = first.body;
    assert.notEqual(b.id, original);
    assert.equal(b.resendOf, original);
    assert.equal(b.level, 'II');
    assert.equal(b.clipId, clipId);
    assert.deepEqual([b.repeat, b.volume, b.attentionTone], [2, 80, true]);
    assert.match(b.title, /^补发：山洪预警$/);
    // Covered, still being delivered (stuck at received) and device-less villages are left out.
    assert.deepEqual([...b.target.villages].sort(), [v.offline, v.failed].sort());
    assert.deepEqual(b.target.deviceTypes, ['village_loudspeaker']);
    assert.equal(b.villages, 2);
    const originalBody = (await api(s.url, viewer).get(`/api/broadcasts/${original}`).expect(200))
      .body;
    assert.ok(Date.parse(b.expiresAt) > Date.parse(originalBody.expiresAt) - 1000);

    const again = await api(s.url, operator)
      .post(`/api/broadcasts/${original}/resend`)
      .set('Idempotency-Key', 'resend-1')
      .send({})
      .expect(201);
    assert.equal(again.body.id, b.id, 'the same key answers with the resend it made');
    // A second press with another key while that resend is still open is refused, not sent.
    const second = await api(s.url, operator)
      .post(`/api/broadcasts/${original}/resend`)
      .set('Idempotency-Key', 'resend-2')
      .send({})
      .expect(409);
    assert.equal(second.body.error, 'RESEND_OPEN');
    const list = (await api(s.url, viewer).get('/api/broadcasts?limit=100').expect(200)).body;
    assert.equal(
      list.items.filter((x: { resendOf: string | null }) => x.resendOf === original).length,
      1,
    );
  });

  it('is played by the offline village’s device when it comes back', async () => {
    const res = await api(s.url, viewer).get(`/api/broadcasts?limit=100`).expect(200);
    const resend = res.body.items.find((x: { resendOf: string | null }) => x.resendOf === original);
    const played = deliveryReached(s, () => resend.id, d.offline, 'played');
    agents.push(await startAgentOnline(s, mqttUrl(s), creds.offline, { speed: 0 }));
    await played;
    const c = await api(s.url, viewer).get(`/api/broadcasts/${resend.id}/coverage`).expect(200);
    const back = c.body.villages.find((x: { code: string }) => x.code === v.offline);
    assert.equal(back.outcome, 'covered');
  });

  it('names device failures by code in the API, in Chinese with the device’s text in the CSV', async () => {
    const c = await api(s.url, viewer).get(`/api/broadcasts/${original}/coverage`).expect(200);
    const failed = c.body.villages.find((x: { code: string }) => x.code === v.failed);
    assert.deepEqual(failed.failures, [
      { code: 'download_failed', reason: 'download failed: simulated network fault', devices: 1 },
    ]);
    const board = await api(s.url, viewer).get('/api/status/villages?limit=100').expect(200);
    const tile = board.body.items.find((x: { code: string }) => x.code === v.failed);
    assert.equal(tile.latestBroadcast.failures[0].code, 'download_failed');

    const rowOf = async (lang: string) => {
      const res = await api(s.url, viewer)
        .get(`/api/broadcasts/${original}/coverage?format=csv&lang=${lang}`)
        .expect(200);
      const [, table] = res.text.replace(/^\uFEFF/, '').split('\r\n\r\n');
      const [header, ...rows] = parse(table) as string[][];
      const row = rows.find((r) => r.includes(v.failed))!;
      return Object.fromEntries(header.map((h, i) => [h, row[i]]));
    };
    const zh = await rowOf('zh');
    assert.equal(zh['失败原因'], '音频下载失败（download failed: simulated network fault）×1');
    assert.equal(zh['结果'], '未覆盖');
    assert.equal(zh['未覆盖原因'], '播放失败');
    const en = await rowOf('en');
    assert.equal(en.failures, 'download_failed (download failed: simulated network fault) ×1');
    assert.equal(en.reason, 'failed');
  });

  it('writes each broadcast’s status in Chinese in the period CSV, its code with lang=en', async () => {
    const statusOf = async (lang: string, column: string) => {
      const res = await api(s.url, viewer)
        .get(`/api/reports/coverage?format=csv&table=broadcasts&lang=${lang}`)
        .expect(200);
      const [, table] = res.text.replace(/^\uFEFF/, '').split('\r\n\r\n');
      const [header, ...rows] = parse(table) as string[][];
      const row = rows.find((r) => r.includes(original))!;
      return row[header.indexOf(column)];
    };
    assert.equal(await statusOf('zh', '状态'), '进行中');
    assert.equal(await statusOf('en', 'status'), 'active');
  });

  it('refuses viewers, bad input, unknown ids and broadcasts with nothing to resend', async () => {
    await api(s.url, viewer).post(`/api/broadcasts/${original}/resend`).send({}).expect(403);
    const bad = await api(s.url, operator)
      .post(`/api/broadcasts/${original}/resend`)
      .send({ expiresAt: 'tomorrow' })
      .expect(400);
    assert.equal(bad.body.details[0].field, 'expiresAt');
    const past = await api(s.url, operator)
      .post(`/api/broadcasts/${original}/resend`)
      .send({ expiresAt: '2020-01-01T00:00:00Z' })
      .expect(400);
    assert.equal(past.body.details[0].field, 'expiresAt');
    await api(s.url, operator)
      .post(`/api/broadcasts/${original}/resend`)
      .send({ villages: ['x'] })
      .expect(400);
    await api(s.url, operator).post('/api/broadcasts/not-a-uuid/resend').send({}).expect(400);
    await api(s.url, operator)
      .post('/api/broadcasts/00000000-0000-4000-8000-000000000000/resend')
      .send({})
      .expect(404);

    // Every village covered: nothing to resend.
    const played = await new Promise<string>((resolve, reject) => {
      let id = '';
      deliveryReached(s, () => id, d.played, 'played')
        .then(() => resolve(id))
        .catch(reject);
      createBroadcast(s, {
        title: '全部覆盖',
        clipId,
        level: 'IV',
        target: { villages: [v.played] },
      })
        .then((b) => (id = b.id))
        .catch(reject);
    });
    const none = await api(s.url, operator)
      .post(`/api/broadcasts/${played}/resend`)
      .send({})
      .expect(409);
    assert.equal(none.body.error, 'NOTHING_UNCOVERED');

    // Not sent yet: a broadcast starting tomorrow.
    const later = await createBroadcast(s, {
      title: '明日演练',
      clipId,
      level: 'test',
      target: { towns: [townCode] },
      startAt: new Date(Date.now() + 86_400_000).toISOString(),
    });
    const notSent = await api(s.url, operator)
      .post(`/api/broadcasts/${later.id}/resend`)
      .send({})
      .expect(409);
    assert.equal(notSent.body.error, 'BROADCAST_NOT_SENT');

    // Cancelled: a deliberate stop is not undone by a resend.
    const cancelled = await createBroadcast(s, {
      title: '误发通知',
      clipId,
      level: 'IV',
      target: { villages: [v.offline] },
    });
    await api(s.url, operator)
      .post(`/api/broadcasts/${cancelled.id}/cancel`)
      .send({ reason: '测试取消' })
      .expect(200);
    const refused = await api(s.url, operator)
      .post(`/api/broadcasts/${cancelled.id}/resend`)
      .send({})
      .expect(409);
    assert.equal(refused.body.error, 'BROADCAST_CANCELLED');
    const cancelledCoverage = await api(s.url, viewer)
      .get(`/api/broadcasts/${cancelled.id}/coverage`)
      .expect(200);
    assert.deepEqual(
      cancelledCoverage.body.villages.map((x: { resendable: boolean }) => x.resendable),
      [false],
      'nothing of a cancelled broadcast is resendable',
    );

    // A key that made another broadcast is not taken for a resend.
    const reused = await api(s.url, operator)
      .post(`/api/broadcasts/${cancelled.id}/resend`)
      .set('Idempotency-Key', 'resend-1')
      .send({})
      .expect(409);
    assert.equal(reused.body.error, 'IDEMPOTENCY_KEY_REUSED');
  });
});

describe('report files', () => {
  let s: TestServer;
  let viewer = '';

  beforeAll(async () => {
    s = await startTestServer();
    viewer = await tokenFor(s, 'viewer');
  });
  afterAll(async () => {
    await s.close();
  });

  /** The workbook's sheet and styles, read back with an unzip that is not ours. */
  const workbook = async (path: string) => {
    const res = await fetch(`${s.url}${path}`, { headers: { Authorization: `Bearer ${viewer}` } });
    assert.equal(res.status, 200);
    assert.equal(
      res.headers.get('content-type'),
      'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
    );
    const files = unzipSync(new Uint8Array(await res.arrayBuffer()));
    const text = (name: string) => strFromU8(files[name]);
    const cells = [
      ...text('xl/worksheets/sheet1.xml').matchAll(/<c r="([A-Z]+\d+)"([^>]*)>(.*?)<\/c>/g),
    ].map(([, ref, attrs, inner]) => ({
      ref,
      type: /t="(\w+)"/.exec(attrs)?.[1] ?? 'n',
      style: Number(/s="(\d+)"/.exec(attrs)?.[1] ?? 0),
      text: /<t[^>]*>(.*?)<\/t>/.exec(inner)?.[1] ?? /<v>(.*?)<\/v>/.exec(inner)?.[1] ?? '',
      formula: /<f[ >]/.test(inner),
    }));
    const xfs = [
      ...text('xl/styles.xml')
        .split('<cellXfs')[1]
        .matchAll(/<xf [^>]*>/g),
    ].map(([x]) => x);
    return {
      headers: res.headers,
      cells,
      cell: (value: string) => cells.find((c) => c.text === value),
      quoted: (c: { style: number }) => /quotePrefix="1"/.test(xfs[c.style] ?? ''),
      files,
    };
  };

  it('exports reports as Excel workbooks: village codes stay text, formulas are text', async () => {
    const fx = fixtures(s.url, s.adminToken);
    const town = await fx.newTown({ name: '丁镇' });
    const village = await fx.newVillage(town.code, { name: '@SUM(A1)' });
    const clip = await newClip(s, 1);
    const title = '=HYPERLINK("http://evil.example","点我")';
    const b = await createBroadcast(s, {
      title,
      clipId: clip.id,
      level: 'IV',
      target: { villages: [village.code] },
    });
    const book = await workbook(`/api/broadcasts/${b.id}/coverage?format=xlsx`);
    assert.match(
      book.headers.get('content-disposition') ?? '',
      new RegExp(`filename="coverage-${b.id}\\.xlsx"`),
    );
    const code = book.cell(village.code)!;
    assert.ok(code, 'the village code is in the sheet, whole');
    assert.equal(code.type, 'inlineStr', 'a text cell, not a number (6.10126E+11)');
    assert.ok(book.quoted(code), 'and it stays text when edited');
    for (const text of [title, '@SUM(A1)']) {
      const c = book.cell(text.replace(/"/g, '&quot;'))!;
      assert.ok(c, text);
      assert.equal(c.type, 'inlineStr');
      assert.ok(book.quoted(c), `${text} is marked as text`);
    }
    assert.equal(book.cells.filter((c) => c.formula).length, 0, 'no formula anywhere');
    assert.equal(book.cell('未覆盖')?.type, 'inlineStr', 'values in Chinese, as in the CSV');

    const period = await workbook(
      `/api/reports/coverage?from=2026-11-01&to=2026-11-30&format=xlsx&table=villages`,
    );
    assert.match(
      period.headers.get('content-disposition') ?? '',
      /filename="coverage-villages-2026-11-01-2026-11-30\.xlsx"/,
    );
    const inPeriod = period.cell(village.code)!;
    assert.equal(inPeriod.type, 'inlineStr');
    assert.ok(period.quoted(inPeriod));
  });

  it('names a period report by its days in the county’s time zone, not in UTC', async () => {
    for (const [table, name] of [
      ['villages', 'coverage-villages-2026-11-01-2026-11-30.csv'],
      ['broadcasts', 'coverage-broadcasts-2026-11-01-2026-11-30.csv'],
    ]) {
      const res = await api(s.url, viewer)
        .get(`/api/reports/coverage?from=2026-11-01&to=2026-11-30&format=csv&table=${table}`)
        .expect(200);
      assert.equal(res.headers['content-disposition'], `attachment; filename="${name}"`);
    }
  });
});
