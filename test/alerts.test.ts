import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import { AlertsService } from '../src/alerts/alerts.service.js';
import { signCap } from '../src/alerts/cap/cap-signature.js';
import { makeAudio } from './support/audio.js';
import { capTime, capXml, CapSpec, testCertificate } from './support/cap.js';
import { api, startTestServer, tempDir, TestServer, tokenFor } from './support/server.js';
import { openEvents } from './support/sse.js';
import { staffMember, StaffMember } from './support/staff.js';

/** Villages of 营盘镇 (611026100) in the sample county. */
const YINGPAN_VILLAGES = 10;

describe('POST /api/alerts: CAP 1.2 in', () => {
  let s: TestServer;
  let operator: string;
  let viewer: string;
  let person: StaffMember;
  let files: Server;
  let filesUrl: string;
  let audio: Buffer;
  let audioSha1: string;
  const served: string[] = [];
  let trusted: { keyPem: string; certPem: string };
  let stranger: { keyPem: string; certPem: string };
  let ecdsa: { keyPem: string; certPem: string };

  beforeAll(async () => {
    // The resources are served from 127.0.0.1, which only ALERT_FETCH_PRIVATE lets it fetch.
    s = await startTestServer({
      seed: true,
      env: { ALERT_MAX_BYTES: '64kb', ALERT_FETCH_PRIVATE: 'true' },
    });
    operator = await tokenFor(s, 'operator');
    viewer = await tokenFor(s, 'viewer');
    person = await staffMember(s, 'operator');
    const dir = tempDir('dalaba-alerts-');
    audio = await readFile(await makeAudio(dir, 'alert-audio', { seconds: 2, format: 'mp3' }));
    audioSha1 = createHash('sha1').update(audio).digest('hex');
    // A real HTTP server for the alerts' audio resources.
    files = createServer((req, res) => {
      served.push(req.url ?? '');
      if (req.url?.startsWith('/audio.mp3')) {
        res.writeHead(200, { 'Content-Type': 'audio/mpeg', 'Content-Length': audio.length });
        res.end(audio);
      } else {
        res.writeHead(404).end();
      }
    });
    await new Promise<void>((resolve) => files.listen(0, '127.0.0.1', resolve));
    filesUrl = `http://127.0.0.1:${(files.address() as AddressInfo).port}`;
    [trusted, stranger, ecdsa] = await Promise.all([
      testCertificate(dir, 'zhashui-weather'),
      testCertificate(dir, 'somebody-else'),
      testCertificate(dir, 'zhashui-ecdsa', ['ec', '-pkeyopt', 'ec_paramgen_curve:P-256']),
    ]);
  }, 120_000);

  afterAll(async () => {
    await new Promise((resolve) => files?.close(resolve));
    await s?.close();
  });

  const post = (xml: string, token = operator, type = 'application/cap+xml') =>
    api(s.url, token).post('/api/alerts').set('Content-Type', type).send(xml);

  /** An alert whose audio is the test server's file, size and digest right. */
  const withAudio = (spec: CapSpec = {}, info: CapSpec['infos'] = [{}]): string =>
    capXml({
      ...spec,
      infos: info.map((i) => ({
        resources: [
          {
            mimeType: 'audio/mpeg',
            size: audio.length,
            uri: `${filesUrl}/audio.mp3?${Math.random()}`,
            digest: audioSha1,
          },
        ],
        ...i,
      })),
    }).xml;

  const putSender = (sender: string, body: Record<string, unknown>) =>
    api(s.url, s.adminToken)
      .put(`/api/alert-senders/${encodeURIComponent(sender)}`)
      .send(body);

  it('drafts an Actual Alert of an unknown sender, which any operator approves alone', async () => {
    const res = await post(withAudio({ sender: 'stranger@example.cn' })).expect(201);
    assert.equal(res.body.outcome, 'drafted', res.body.reason);
    assert.equal(res.body.level, 'II');
    assert.equal(res.body.villages, YINGPAN_VILLAGES);
    assert.equal(res.body.signature, 'unsigned');
    assert.equal(res.body.sourceRef, 'test operator');
    assert.ok(
      served.some((u) => u.startsWith('/audio.mp3')),
      'the resource was fetched',
    );

    const draft = (
      await api(s.url, person.token).get(`/api/drafts/${res.body.draftId}`).expect(200)
    ).body;
    assert.equal(draft.draftedBy, 'alert:stranger@example.cn');
    assert.equal(draft.title, '柞水县气象台发布暴雨橙色预警');
    assert.deepEqual(draft.payload.target, { towns: ['611026100'] });
    assert.equal(draft.mayApprove, true, draft.whyNot);
    // A machine token is no second person, even for a machine's draft.
    await api(s.url, operator).post(`/api/drafts/${draft.id}/approve`).expect(403);
    const approved = await api(s.url, person.token)
      .post(`/api/drafts/${draft.id}/approve`)
      .expect(200);
    const b = approved.body.broadcast;
    assert.equal(b.level, 'II');
    assert.equal(b.createdBy, 'alert:stranger@example.cn');
    assert.deepEqual(b.target, { towns: ['611026100'] });

    const detail = (await api(s.url, viewer).get(`/api/alerts/${res.body.id}`).expect(200)).body;
    assert.equal(detail.broadcastId, b.id, 'the inbox links the broadcast its draft became');
    assert.match(detail.xml, /<identifier>TEST-/);
    assert.equal(detail.villageCodes.length, YINGPAN_VILLAGES);
  });

  it('tells a county viewer’s dashboard of each alert as it is acted on', async () => {
    const events = await openEvents(s.url, viewer);
    try {
      assert.equal(events.status, 200);
      const res = await post(withAudio({ sender: 'stranger@example.cn' })).expect(201);
      const frame = await events.next(
        (f) =>
          f.event === 'alerts' && (f.data as { changed: string[] }).changed.includes(res.body.id),
        10_000,
        'the alerts event',
      );
      assert.equal((frame.data as { outcome: string }).outcome, res.body.outcome);
    } finally {
      events.close();
    }
  });

  it('sends a trusted sender’s alert at once when severity, urgency and certainty allow it', async () => {
    await putSender('trusted@zhashui.example', {
      name: '柞水县气象局',
      policy: 'accept_unsigned',
      certificates: [trusted.certPem],
      autoSeverities: ['Severe'],
    }).expect(200);
    // Only what a trusted certificate of the sender signed goes out without a person.
    const unsigned = await post(withAudio({ sender: 'trusted@zhashui.example' })).expect(201);
    assert.equal(unsigned.body.outcome, 'drafted', unsigned.body.reason);
    const res = await post(
      signCap(withAudio({ sender: 'trusted@zhashui.example' }), trusted),
    ).expect(201);
    assert.equal(res.body.outcome, 'broadcast', res.body.reason);
    const b = (await api(s.url, viewer).get(`/api/broadcasts/${res.body.broadcastId}`).expect(200))
      .body;
    assert.equal(b.level, 'II');
    assert.equal(b.attentionTone, true);
    assert.equal(b.createdBy, 'alert:trusted@zhashui.example');
    assert.equal(b.approval.by, 'trusted sender 柞水县气象局');

    // Urgency and certainty decide, not the level: a Possible one waits for a person.
    const possible = await post(
      signCap(
        withAudio({ sender: 'trusted@zhashui.example' }, [{ certainty: 'Possible' }]),
        trusted,
      ),
    ).expect(201);
    assert.equal(possible.body.outcome, 'drafted');
    const extreme = await post(
      signCap(withAudio({ sender: 'trusted@zhashui.example' }, [{ severity: 'Extreme' }]), trusted),
    ).expect(201);
    assert.equal(extreme.body.outcome, 'drafted', 'not trusted for Extreme');
    assert.equal(extreme.body.level, 'I');
  });

  it('lets only the sender of an alert, with the same status, update or cancel it', async () => {
    const original = capXml({ sender: 'trusted@zhashui.example' });
    const sent = await post(
      signCap(
        withAudio({
          sender: 'trusted@zhashui.example',
          identifier: original.identifier,
          sent: original.sent,
        }),
        trusted,
      ),
    ).expect(201);
    assert.equal(sent.body.outcome, 'broadcast');
    const reference = `${original.sender},${original.identifier},${original.sent}`;
    const foreign = capXml({
      sender: 'prankster@example.cn',
      msgType: 'Cancel',
      references: reference,
      infos: [],
    });
    const res = await post(foreign.xml).expect(201);
    assert.equal(res.body.outcome, 'recorded');
    const test = capXml({
      sender: 'trusted@zhashui.example',
      status: 'Test',
      msgType: 'Cancel',
      references: reference,
      infos: [],
    });
    assert.equal(
      (await post(signCap(test.xml, trusted)).expect(201)).body.outcome,
      'recorded',
      'a Test calls off nothing real',
    );
    const b = (await api(s.url, viewer).get(`/api/broadcasts/${sent.body.broadcastId}`).expect(200))
      .body;
    assert.notEqual(b.status, 'cancelled');
  });

  it('changes nothing for the same sender, identifier and sent twice', async () => {
    const xml = withAudio({ sender: 'dup@example.cn' });
    const first = await post(xml).expect(201);
    const before = (await api(s.url, viewer).get('/api/drafts?status=all').expect(200)).body.total;
    const again = await post(xml).expect(200);
    assert.equal(again.body.outcome, 'duplicate');
    assert.equal(again.body.id, first.body.id);
    const after = (await api(s.url, viewer).get('/api/drafts?status=all').expect(200)).body.total;
    assert.equal(after, before, 'no second draft');
  });

  it('makes an Exercise a drill and a Test a test: never an emergency level or its tone', async () => {
    await putSender('drills@zhashui.example', {
      name: '应急管理局',
      policy: 'accept_unsigned',
      certificates: [trusted.certPem],
      autoSeverities: ['Extreme', 'Severe'],
    }).expect(200);
    const drill = await post(
      signCap(
        withAudio({ sender: 'drills@zhashui.example', status: 'Exercise' }, [
          { severity: 'Extreme' },
        ]),
        trusted,
      ),
    ).expect(201);
    assert.equal(drill.body.outcome, 'broadcast', drill.body.reason);
    const d = (
      await api(s.url, viewer).get(`/api/broadcasts/${drill.body.broadcastId}`).expect(200)
    ).body;
    assert.deepEqual([d.level, d.attentionTone], ['routine', false]);
    assert.equal(d.title, '【演练】柞水县气象台发布暴雨橙色预警');

    const test = await post(
      signCap(withAudio({ sender: 'drills@zhashui.example', status: 'Test' }), trusted),
    ).expect(201);
    const t = (await api(s.url, viewer).get(`/api/broadcasts/${test.body.broadcastId}`).expect(200))
      .body;
    assert.deepEqual([t.level, t.attentionTone], ['test', false]);
    assert.match(t.title, /^【测试】/);
  });

  it('speaks an Exercise and a Test as such: their clip is not the real warning’s', async () => {
    const spoken = async (status: string) => {
      const res = await post(capXml({ sender: 'spoken@example.cn', status }).xml).expect(201);
      assert.ok(res.body.clipId, res.body.reason);
      return (await api(s.url, viewer).get(`/api/clips/${res.body.clipId}`).expect(200)).body;
    };
    const actual = await spoken('Actual');
    const drill = await spoken('Exercise');
    const test = await spoken('Test');
    assert.equal(new Set([actual.id, drill.id, test.id]).size, 3, 'three different recordings');
    // "演练，演练。" before and "（本次为演练）" after take their time.
    assert.ok(drill.durationMs > actual.durationMs + 1000, `${drill.durationMs} ms`);
    assert.ok(test.durationMs > actual.durationMs + 1000, `${test.durationMs} ms`);
  });

  it('plays an Exercise’s and a Test’s own audio between spoken marks, an Actual’s as it is', async () => {
    const clipOf = async (status: string) => {
      const res = await post(withAudio({ sender: 'own-audio@example.cn', status })).expect(201);
      assert.ok(res.body.clipId, res.body.reason);
      const clip = (await api(s.url, viewer).get(`/api/clips/${res.body.clipId}`).expect(200)).body;
      return { reason: res.body.reason as string, clip };
    };
    // An Actual alert's own audio is its resource's clip, as it was sent (2 s).
    const actual = await clipOf('Actual');
    assert.equal(actual.clip.originalName, 'alert-resource');
    assert.ok(Math.abs(actual.clip.durationMs - 2000) < 200, `${actual.clip.durationMs} ms`);
    const marks: [string, string[]][] = [
      ['Exercise', ['演练，演练。以下是演练内容。', '本次为演练。']],
      ['Test', ['测试，测试。以下是测试内容。', '本次为测试。']],
    ];
    const made: Record<string, string> = {};
    for (const [status, words] of marks) {
      const { reason, clip } = await clipOf(status);
      assert.equal(clip.status, 'ready', clip.failureReason);
      assert.notEqual(clip.id, actual.clip.id, `${status}: not the resource alone`);
      assert.doesNotMatch(reason ?? '', /marker could not be added/);
      // Exactly these words were spoken for it: the same request again is the clip made then.
      let spokenMs = 0;
      for (const text of words) {
        const tts = await api(s.url, operator).post('/api/clips/tts').send({ text }).expect(201);
        assert.equal(tts.body.duplicate, true, `${status}: ${text} was spoken for it`);
        assert.ok(tts.body.durationMs > 500, `${text}: ${tts.body.durationMs} ms`);
        spokenMs += tts.body.durationMs;
      }
      // The marks, then the resource, then the closing mark: one clip as long as the three.
      const expected = actual.clip.durationMs + spokenMs;
      assert.ok(
        Math.abs(clip.durationMs - expected) < 300,
        `${status}: ${clip.durationMs} ms, expected ~${expected} ms`,
      );
      made[status] = clip.id;
    }
    assert.notEqual(made.Exercise, made.Test);
    // The same drill audio again (as when an interrupted alert is acted on again): the clip joined
    // before, found by its parts, not a second one.
    const again = await clipOf('Exercise');
    assert.equal(again.clip.id, made.Exercise);
  });

  it('records System and Draft messages, and Acks, without broadcasting them', async () => {
    for (const status of ['System', 'Draft']) {
      const res = await post(withAudio({ sender: 'drills@zhashui.example', status })).expect(201);
      assert.equal(res.body.outcome, 'recorded', status);
      assert.equal(res.body.broadcastId, null);
      assert.equal(res.body.draftId, null);
    }
    const original = capXml({ sender: 'drills@zhashui.example', status: 'System' });
    const ack = capXml({
      sender: 'drills@zhashui.example',
      msgType: 'Ack',
      references: `${original.sender},${original.identifier},${original.sent}`,
    });
    const res = await post(ack.xml).expect(201);
    assert.equal(res.body.outcome, 'recorded');
  });

  it('refuses an XXE attempt with 400, names the rule, and keeps it in the inbox and the audit log', async () => {
    const xxe = await readFile('test/fixtures/cap/xxe.xml', 'utf8');
    const res = await post(xxe).expect(400);
    assert.equal(res.body.error, 'ALERT_REFUSED');
    assert.equal(res.body.details.rule, 'xml.doctype');
    const refused = (await api(s.url, viewer).get('/api/alerts?outcome=refused').expect(200)).body;
    const row = refused.items.find((a: { id: string }) => a.id === res.body.details.alertId);
    assert.equal(row.rule, 'xml.doctype');
    assert.doesNotMatch(
      (await api(s.url, viewer).get(`/api/alerts/${row.id}`).expect(200)).body.xml,
      /root:x:0:0/,
      'no entity was ever expanded',
    );
    const audit = (await api(s.url, s.adminToken).get('/api/audit?action=alert.refuse').expect(200))
      .body;
    assert.ok(audit.items.some((e: { subject: string }) => e.subject === row.id));

    const schema = await post(capXml().xml.replace('<scope>Public</scope>', '')).expect(400);
    assert.equal(schema.body.details.rule, 'cap.schema');
  });

  it('takes only XML, within ALERT_MAX_BYTES, from operators', async () => {
    await api(s.url, operator).post('/api/alerts').send({ alert: 1 }).expect(415);
    await post(capXml().xml, viewer).expect(403);
    const big = withAudio({}, [{ description: '很'.repeat(30_000) }]);
    const res = await post(big).expect(413);
    assert.equal(res.body.error, 'BODY_TOO_LARGE');
    const asText = await post(withAudio({ sender: 'xml@example.cn' }), operator, 'text/xml').expect(
      201,
    );
    assert.equal(asText.body.outcome, 'drafted');
  });

  describe('signatures against the sender’s policy', () => {
    const SENDER = 'signed@zhashui.example';
    beforeAll(async () => {
      await putSender(SENDER, {
        name: '柞水县气象局（签名）',
        policy: 'require_signature',
        certificates: [trusted.certPem],
        autoSeverities: [],
      }).expect(200);
    });

    it('accepts a message signed by a trusted certificate', async () => {
      const res = await post(signCap(withAudio({ sender: SENDER }), trusted)).expect(201);
      assert.equal(res.body.signature, 'valid');
      assert.match(res.body.signer, /zhashui-weather/);
      assert.equal(res.body.outcome, 'drafted');
    });

    it('accepts a message signed with ECDSA P-256 by a trusted certificate', async () => {
      await putSender('ecdsa@zhashui.example', {
        name: '柞水县气象局（ECDSA）',
        policy: 'require_signature',
        certificates: [ecdsa.certPem],
        autoSeverities: [],
      }).expect(200);
      const signed = signCap(withAudio({ sender: 'ecdsa@zhashui.example' }), ecdsa);
      assert.match(signed, /xmldsig-more#ecdsa-sha256/);
      const res = await post(signed).expect(201);
      assert.equal(res.body.signature, 'valid');
      assert.match(res.body.signer, /zhashui-ecdsa/);
      assert.equal(res.body.outcome, 'drafted', res.body.reason);
      const changed = await post(signed.replace('暴雨橙色预警', '暴雨红色预警')).expect(400);
      assert.equal(changed.body.details.rule, 'signature.invalid');
    });

    it('refuses it unsigned, signed by a stranger, or changed after signing', async () => {
      const unsigned = await post(withAudio({ sender: SENDER })).expect(400);
      assert.equal(unsigned.body.details.rule, 'signature.required');
      const untrusted = await post(signCap(withAudio({ sender: SENDER }), stranger)).expect(400);
      assert.equal(untrusted.body.details.rule, 'signature.untrusted');
      const signed = signCap(withAudio({ sender: SENDER }), trusted);
      const changed = await post(signed.replace('暴雨橙色预警', '暴雨红色预警')).expect(400);
      assert.equal(changed.body.details.rule, 'signature.invalid');
    });

    it('refuses a bad signature even where unsigned messages are accepted, and a refused sender', async () => {
      const signed = signCap(withAudio({ sender: 'loose@example.cn' }), stranger);
      const res = await post(signed.replace('暴雨橙色预警', '暴雨红色预警')).expect(400);
      assert.equal(res.body.details.rule, 'signature.invalid');
      await putSender('banned@example.cn', {
        name: '不受信任',
        policy: 'refuse',
        certificates: [],
        autoSeverities: [],
      }).expect(200);
      const banned = await post(withAudio({ sender: 'banned@example.cn' })).expect(400);
      assert.equal(banned.body.details.rule, 'sender.refused');
    });
  });

  describe('areas', () => {
    it('matches a polygon and a circle against the villages’ coordinates', async () => {
      const villages = (await api(s.url, viewer).get('/api/villages?limit=500').expect(200)).body
        .items as {
        code: string;
        lat: number;
        lon: number;
      }[];
      const v = villages[0];
      const d = 0.001;
      const polygon = `${v.lat - d},${v.lon - d} ${v.lat - d},${v.lon + d} ${v.lat + d},${v.lon + d} ${v.lat + d},${v.lon - d} ${v.lat - d},${v.lon - d}`;
      const byPolygon = await post(
        withAudio({ sender: 'area@example.cn' }, [{ areas: [{ polygons: [polygon] }] }]),
      ).expect(201);
      assert.equal(byPolygon.body.villages, 1);
      const detail = (await api(s.url, viewer).get(`/api/alerts/${byPolygon.body.id}`).expect(200))
        .body;
      assert.deepEqual(detail.villageCodes, [v.code]);

      const byCircle = await post(
        withAudio({ sender: 'area@example.cn' }, [
          { areas: [{ circles: [`${v.lat},${v.lon} 0.5`] }] },
        ]),
      ).expect(201);
      assert.ok(byCircle.body.villages >= 1);
    });

    it('takes county, village, city and province geocodes in 6 and 12 digits', async () => {
      const all = (await api(s.url, viewer).get('/api/villages?limit=500').expect(200)).body;
      const village = all.items[0].code as string;
      const geo = (value: string) =>
        post(
          withAudio({ sender: 'area@example.cn' }, [
            { areas: [{ geocodes: [{ valueName: 'GB/T 2260', value }] }] },
          ]),
        );
      for (const whole of ['611026', '611026000000', '611000', '610000', '610000000000']) {
        const res = await geo(whole).expect(201);
        assert.equal(res.body.villages, all.total, whole);
      }
      const one = await geo(village).expect(201);
      assert.equal(one.body.villages, 1);
      const detail = (await api(s.url, viewer).get(`/api/alerts/${one.body.id}`).expect(200)).body;
      assert.deepEqual(detail.villageCodes, [village]);
      for (const other of ['620000', '610100', '610100000000']) {
        const res = await geo(other).expect(422);
        assert.equal(res.body.details.rule, 'area.outside-county', other);
      }
    });

    it('refuses an area outside the county, and one touching none of its villages, with 422', async () => {
      const far = await post(
        withAudio({ sender: 'area@example.cn' }, [{ areas: [{ circles: ['39.9,116.4 5'] }] }]),
      ).expect(422);
      assert.equal(far.body.error, 'ALERT_OUT_OF_AREA');
      assert.equal(far.body.details.rule, 'area.outside-county');
      const otherCounty = await post(
        withAudio({ sender: 'area@example.cn' }, [
          { areas: [{ geocodes: [{ valueName: '行政区划代码', value: '610102' }] }] },
        ]),
      ).expect(422);
      assert.equal(otherCounty.body.details.rule, 'area.outside-county');
      const noVillage = await post(
        withAudio({ sender: 'area@example.cn' }, [
          { areas: [{ geocodes: [{ valueName: 'GB/T 2260', value: '611026999' }] }] },
        ]),
      ).expect(422);
      assert.equal(noVillage.body.details.rule, 'area.no-village');
      const row = (
        await api(s.url, viewer).get(`/api/alerts/${noVillage.body.details.alertId}`).expect(200)
      ).body;
      assert.equal(row.outcome, 'refused');
    });
  });

  it('speaks the zh-CN block of a bilingual message', async () => {
    const res = await post(
      capXml({
        sender: 'bilingual@example.cn',
        infos: [
          { language: 'en-US', headline: 'Rainstorm orange warning', severity: 'Extreme' },
          { language: 'zh-CN' },
        ],
      }).xml,
    ).expect(201);
    assert.equal(res.body.language, 'zh-CN');
    assert.equal(res.body.headline, '柞水县气象台发布暴雨橙色预警');
    assert.equal(res.body.level, 'II');
  });

  it('acts on the block of its language that covers this county, the most severe of them', async () => {
    const elsewhere = { areas: [{ geocodes: [{ valueName: 'GB/T 2260', value: '610102' }] }] };
    const res = await post(
      withAudio({ sender: 'two-areas@example.cn' }, [
        { ...elsewhere, severity: 'Extreme', headline: '西安市新城区暴雨红色预警' },
        { severity: 'Minor', headline: '柞水县暴雨蓝色预警' },
        { severity: 'Severe' },
      ]),
    ).expect(201);
    assert.equal(res.body.outcome, 'drafted', res.body.reason);
    assert.equal(res.body.level, 'II');
    assert.equal(res.body.headline, '柞水县气象台发布暴雨橙色预警');
    assert.equal(res.body.villages, YINGPAN_VILLAGES);
  });

  it('leaves the level of an Unknown severity to an operator', async () => {
    const res = await post(
      withAudio({ sender: 'unknown@example.cn' }, [{ severity: 'Unknown' }]),
    ).expect(201);
    assert.equal(res.body.outcome, 'needs_level');
    assert.equal(res.body.level, null);
    assert.ok(res.body.clipId, 'the audio is ready before anyone picks the level');
    const picked = await api(s.url, operator)
      .post(`/api/alerts/${res.body.id}/broadcast`)
      .send({ level: 'III' })
      .expect(200);
    assert.equal(picked.body.outcome, 'broadcast');
    assert.equal(picked.body.level, 'III');
    const b = (
      await api(s.url, viewer).get(`/api/broadcasts/${picked.body.broadcastId}`).expect(200)
    ).body;
    assert.equal(b.level, 'III');
    assert.equal(b.villages, YINGPAN_VILLAGES);
    assert.ok(b.expiresAt, 'the alert’s expires is the broadcast’s');
    const xml = (await api(s.url, viewer).get(`/api/alerts/${res.body.id}`).expect(200)).body.xml;
    const expires = /<expires>([^<]+)<\/expires>/.exec(xml)![1];
    assert.equal(Date.parse(b.expiresAt), Date.parse(expires));
    const again = await api(s.url, operator)
      .post(`/api/alerts/${res.body.id}/broadcast`)
      .send({ level: 'II' })
      .expect(409);
    assert.equal(again.body.error, 'ALERT_LEVEL_NOT_NEEDED');
  });

  it('speaks a plain alert with espeak-ng when it brings no audio', async () => {
    const res = await post(capXml({ sender: 'plain@example.cn' }).xml).expect(201);
    assert.equal(res.body.outcome, 'drafted', res.body.reason);
    const clip = (await api(s.url, viewer).get(`/api/clips/${res.body.clipId}`).expect(200)).body;
    assert.equal(clip.status, 'ready');
    assert.match(clip.originalName, /^tts\./);
    assert.ok(clip.durationMs > 1000, `${clip.durationMs} ms of speech`);
  });

  it('refuses an audio resource whose digest or size is wrong, and speaks the text instead', async () => {
    const before = served.length;
    const xml = capXml({
      sender: 'digest@example.cn',
      infos: [
        {
          resources: [
            {
              mimeType: 'audio/mpeg',
              size: audio.length,
              uri: `${filesUrl}/audio.mp3?bad`,
              digest: '0'.repeat(40),
            },
          ],
        },
      ],
    }).xml;
    const res = await post(xml).expect(201);
    assert.equal(served.length, before + 1, 'the resource was fetched');
    assert.equal(res.body.outcome, 'drafted');
    assert.match(res.body.reason, /audio resource refused: SHA-1 digest is [0-9a-f]{40}/);
    const clip = (await api(s.url, viewer).get(`/api/clips/${res.body.clipId}`).expect(200)).body;
    assert.match(clip.originalName, /^tts\./, 'the refused audio is never played');

    const wrongSize = capXml({
      sender: 'digest@example.cn',
      infos: [
        {
          resources: [
            { mimeType: 'audio/mpeg', size: audio.length + 1, uri: `${filesUrl}/audio.mp3?size` },
          ],
        },
      ],
    }).xml;
    const sized = await post(wrongSize).expect(201);
    assert.match(sized.body.reason, /size is \d+ bytes, the alert says/);
  });

  it('manages senders: a bad certificate is refused, a forgotten sender is unknown again', async () => {
    const bad = await putSender('pem@example.cn', {
      name: '坏证书',
      policy: 'require_signature',
      certificates: ['-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----'],
      autoSeverities: [],
    }).expect(400);
    assert.equal(bad.body.details[0].field, 'certificates.0');
    await putSender('pem@example.cn', {
      name: '好证书',
      policy: 'require_signature',
      certificates: [trusted.certPem],
      autoSeverities: ['Severe'],
    }).expect(200);
    const got = (
      await api(s.url, s.adminToken).get('/api/alert-senders/pem@example.cn').expect(200)
    ).body;
    assert.match(got.certificates[0].subject, /CN=zhashui-weather/);
    assert.deepEqual(got.autoSeverities, ['Severe']);
    await api(s.url, operator).get('/api/alert-senders').expect(403);
    await api(s.url, s.adminToken).delete('/api/alert-senders/pem@example.cn').expect(204);
    await api(s.url, s.adminToken).get('/api/alert-senders/pem@example.cn').expect(404);
  });

  it('refuses a level for an alert its sender has updated or cancelled since', async () => {
    for (const msgType of ['Update', 'Cancel']) {
      const first = capXml({ sender: 'superseded@example.cn', infos: [{ severity: 'Unknown' }] });
      const waiting = await post(first.xml).expect(201);
      assert.equal(waiting.body.outcome, 'needs_level');
      const later = capXml({
        sender: 'superseded@example.cn',
        msgType,
        references: `${first.sender},${first.identifier},${first.sent}`,
        infos: msgType === 'Cancel' ? [] : [{ severity: 'Unknown' }],
      });
      await post(later.xml).expect(201);
      const res = await api(s.url, operator)
        .post(`/api/alerts/${waiting.body.id}/broadcast`)
        .send({ level: 'III' })
        .expect(409);
      assert.equal(res.body.error, 'ALERT_SUPERSEDED', msgType);
      // Settled: the inbox no longer asks for a level no one can give.
      const row = (await api(s.url, viewer).get(`/api/alerts/${waiting.body.id}`).expect(200)).body;
      assert.equal(row.broadcastId, null);
      assert.equal(row.outcome, 'recorded', msgType);
      assert.match(row.reason, new RegExp(`superseded by ${msgType} ${later.identifier}`));
      const again = await api(s.url, operator)
        .post(`/api/alerts/${waiting.body.id}/broadcast`)
        .send({ level: 'III' })
        .expect(409);
      assert.equal(again.body.error, 'ALERT_LEVEL_NOT_NEEDED');
    }
  });

  it('refuses a level for an alert that has expired', async () => {
    const res = await post(
      capXml({ sender: 'expired@example.cn', infos: [{ severity: 'Unknown' }] }).xml,
    ).expect(201);
    assert.equal(res.body.outcome, 'needs_level');
    // Two hours on (past the alert's `expires`), then back, so no other test sees it.
    s.clock.advance(2 * 3_600_000);
    try {
      const late = await api(s.url, operator)
        .post(`/api/alerts/${res.body.id}/broadcast`)
        .send({ level: 'III' })
        .expect(409);
      assert.equal(late.body.error, 'ALERT_EXPIRED');
      const row = (await api(s.url, viewer).get(`/api/alerts/${res.body.id}`).expect(200)).body;
      assert.equal(row.outcome, 'recorded');
      assert.match(row.reason, /expired at .*: it is no longer broadcast/);
    } finally {
      s.clock.advance(-2 * 3_600_000);
    }
  });

  it('settles needs_level alerts that expired or were superseded without anyone clicking', async () => {
    const needing = async (sender: string) => {
      const a = capXml({ sender, infos: [{ severity: 'Unknown' }] });
      const res = await post(a.xml).expect(201);
      assert.equal(res.body.outcome, 'needs_level');
      return { ...a, id: res.body.id as string };
    };
    const outcome = async (id: string) =>
      (await api(s.url, viewer).get(`/api/alerts/${id}`).expect(200)).body;
    const expiring = await needing('sweep-expired@example.cn');
    const superseded = await needing('sweep-superseded@example.cn');
    const waiting = await needing('sweep-waiting@example.cn');
    await post(
      capXml({
        sender: superseded.sender,
        msgType: 'Cancel',
        references: `${superseded.sender},${superseded.identifier},${superseded.sent}`,
        infos: [],
      }).xml,
    ).expect(201);
    await s.server.app.get(AlertsService).sweepLapsed();
    assert.equal((await outcome(expiring.id)).outcome, 'needs_level', 'not expired yet');
    assert.equal((await outcome(waiting.id)).outcome, 'needs_level');
    const gone = await outcome(superseded.id);
    assert.equal(gone.outcome, 'recorded');
    assert.match(gone.reason, /superseded by Cancel/);

    // Two hours on, past their `expires` (then back, so no other test sees it).
    s.clock.advance(2 * 3_600_000);
    try {
      await s.server.app.get(AlertsService).sweepLapsed();
    } finally {
      s.clock.advance(-2 * 3_600_000);
    }
    for (const id of [expiring.id, waiting.id]) {
      const a = await outcome(id);
      assert.equal(a.outcome, 'recorded');
      assert.match(a.reason, /expired at/);
    }
    const inbox = (await api(s.url, viewer).get('/api/alerts?outcome=needs_level').expect(200))
      .body;
    assert.ok(!inbox.items.some((a: { id: string }) => [expiring.id, waiting.id].includes(a.id)));
  });

  it('lists the inbox by outcome and source', async () => {
    const page = (
      await api(s.url, viewer).get('/api/alerts?outcome=broadcast&source=api').expect(200)
    ).body;
    assert.ok(page.total >= 3);
    assert.ok(
      page.items.every(
        (a: { outcome: string; source: string }) => a.outcome === 'broadcast' && a.source === 'api',
      ),
    );
    assert.equal(page.items[0].xml, undefined, 'lists leave the XML out');
    assert.match(capTime(Date.UTC(2026, 11, 2, 0, 0, 0)), /^2026-12-02T08:00:00\+08:00$/);
  });
});

describe('POST /api/alerts: audio resources on private addresses', () => {
  let s: TestServer;
  let viewer: string;
  let files: Server;
  let filesUrl: string;
  const served: string[] = [];

  beforeAll(async () => {
    // ALERT_FETCH_PRIVATE left at its default: public addresses only.
    s = await startTestServer({ seed: true });
    viewer = await tokenFor(s, 'viewer');
    // What only this machine can reach. (A public link redirecting here is refused the same way:
    // every hop is checked, src/common/bounded-fetch.spec.ts.)
    files = createServer((req, res) => {
      served.push(req.url ?? '');
      res.writeHead(200, { 'Content-Type': 'audio/mpeg' }).end('internal answer');
    });
    await new Promise<void>((resolve) => files.listen(0, '127.0.0.1', resolve));
    filesUrl = `http://127.0.0.1:${(files.address() as AddressInfo).port}`;
  }, 120_000);

  afterAll(async () => {
    await new Promise((resolve) => files?.close(resolve));
    await s?.close();
  });

  it('does not fetch an unknown sender’s resource on 127.0.0.1, and the inbox tells nothing of it', async () => {
    for (const uri of [`${filesUrl}/secret`, `http://localhost:${new URL(filesUrl).port}/x`]) {
      const xml = capXml({
        sender: 'prober@example.cn',
        infos: [
          {
            resources: [
              {
                mimeType: 'audio/mpeg',
                size: 1,
                uri,
                digest: '0'.repeat(40),
              },
            ],
          },
        ],
      }).xml;
      const res = await api(s.url, s.adminToken)
        .post('/api/alerts')
        .set('Content-Type', 'application/cap+xml')
        .send(xml)
        .expect(201);
      const seen = (await api(s.url, viewer).get(`/api/alerts/${res.body.id}`).expect(200)).body;
      assert.match(seen.reason, /audio resource refused: \S+: refused: private address/);
      assert.doesNotMatch(seen.reason, /answered|bytes|SHA-1|size/, seen.reason);
    }
    assert.deepEqual(served, [], 'nothing on 127.0.0.1 was requested');
  });
});
