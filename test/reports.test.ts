import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import { describe, it, beforeAll, afterAll } from '@jest/globals';
import { DOMParser } from '@xmldom/xmldom';
import { DeviceAgent } from '../devices/agent.js';
import { parseCap } from '../src/alerts/cap/cap-parse.js';
import { signCap } from '../src/alerts/cap/cap-signature.js';
import { BroadcastEntity } from '../src/broadcasts/broadcast.entity.js';
import { broadcastRow } from './support/coverage.js';
import { chunks } from '../src/database/batch.js';
import { WriteQueue } from '../src/database/write-queue.js';
import { PresenceService } from '../src/devices/presence.service.js';
import { MAX_LOG_BROADCASTS } from '../src/reports/gyt-reports.js';
import {
  createBroadcast,
  DELIVERY_ENV,
  deliveryReached,
  newClip,
  passDeadline,
  statusReached,
} from './support/broadcasts.js';
import { capXml, testCertificate } from './support/cap.js';
import { fixtures } from './support/fixtures.js';
import { mqttUrl, nextPresence, startAgentOnline } from './support/mqtt.js';
import { api, startTestServer, tempDir, TestServer, tokenFor } from './support/server.js';
import { townOfficial } from './support/staff.js';

const CAP_NS = 'urn:oasis:names:tc:emergency:cap:1.2';

/** Parses XML the way a superior platform would; any parser error or warning fails the test. */
function parseXml(text: string): Element {
  const problems: string[] = [];
  const doc = new DOMParser({
    onError: (level, message) => void problems.push(`${level}: ${message}`),
  }).parseFromString(text, 'text/xml');
  assert.deepEqual(problems, []);
  return doc.documentElement as unknown as Element;
}

/** Child elements by name (any namespace), in order. */
function children(parent: Element, name: string): Element[] {
  const out: Element[] = [];
  for (let n = parent.firstChild; n; n = n.nextSibling)
    if (n.nodeType === 1 && (n as Element).localName === name) out.push(n as Element);
  return out;
}

/** The one child at a path like `MsgBasicInfo/MsgType`; fails when absent or repeated. */
function at(parent: Element, path: string): Element {
  let el = parent;
  for (const name of path.split('/')) {
    const found = children(el, name);
    assert.equal(found.length, 1, `${path}: expected one <${name}>, found ${found.length}`);
    el = found[0];
  }
  return el;
}

const text = (parent: Element, path: string) => at(parent, path).textContent ?? '';

/** The child elements of an element, in order. */
function* allChildren(el: Element): Generator<Element> {
  for (let n = el.firstChild; n; n = n.nextSibling) if (n.nodeType === 1) yield n as Element;
}
const names = (el: Element) => [...allChildren(el)].map((c) => c.localName);

/** Beijing time as the reports write it. */
function beijing(iso: string): string {
  return new Date(Date.parse(iso) + 8 * 3_600_000).toISOString().slice(0, 19).replace('T', ' ');
}

describe('reports up: GY/T XML and CAP of a finished broadcast', () => {
  let s: TestServer;
  let viewer = '';
  const agents: DeviceAgent[] = [];
  const v: Record<string, string> = {};
  const d: Record<string, { id: string; secret: string }> = {};
  let county = '';
  let clip = { id: '', durationMs: 0 };
  let broadcast: Record<string, unknown> = {};
  let broadcastId = '';

  beforeAll(async () => {
    s = await startTestServer({ env: DELIVERY_ENV });
    viewer = await tokenFor(s, 'viewer');
    const fx = fixtures(s.url, s.adminToken);
    const town = await fx.newTown({ name: '报告镇' });
    const other = await fx.newTown({ name: '别镇' });
    county = town.code.slice(0, 6);
    for (const name of ['a', 'b', 'c']) v[name] = (await fx.newVillage(town.code)).code;
    v.x = (await fx.newVillage(other.code)).code;
    d.a = await fx.newDevice(v.a);
    d.b = await fx.newDevice(v.b);
    d.c = await fx.newDevice(v.c); // never comes online
    d.x = await fx.newDevice(v.x); // reports another type than registered: a fault
    agents.push(await startAgentOnline(s, mqttUrl(s), d.a, { speed: 0 }));
    agents.push(await startAgentOnline(s, mqttUrl(s), d.b, { speed: 0 }));
    agents.push(await startAgentOnline(s, mqttUrl(s), d.x, { speed: 0, deviceType: 'flood_pa' }));

    clip = await newClip(s, 1);
    const played = [
      deliveryReached(s, () => broadcastId, d.a.id, 'played'),
      deliveryReached(s, () => broadcastId, d.b.id, 'played'),
    ];
    broadcast = await createBroadcast(s, {
      title: '山洪预警：请立即转移',
      clipId: clip.id,
      level: 'II',
      target: { towns: [town.code] },
      expiresAt: new Date(Date.now() + 30_000).toISOString(),
    });
    broadcastId = broadcast.id as string;
    await Promise.all(played);
    const completed = statusReached(s, () => broadcastId, 'completed');
    await passDeadline(s, broadcast);
    await completed;
    broadcast = (await api(s.url, viewer).get(`/api/broadcasts/${broadcastId}`).expect(200)).body;
  }, 120_000);

  afterAll(async () => {
    await Promise.all(agents.map((a) => a.stop()));
    await s.close();
  });

  const get = (path: string, token = viewer) => api(s.url, token).get(path);
  const platformEbrId = () => `${county}000000010101`;

  it('writes the EBM field by field', async () => {
    const res = await get(`/api/broadcasts/${broadcastId}/ebm`).expect(200);
    assert.match(res.headers['content-type'], /^application\/xml/);
    assert.ok(res.text.startsWith('<?xml version="1.0" encoding="UTF-8"?>'));
    const ebm = parseXml(res.text);
    assert.equal(ebm.localName, 'EBM');
    assert.deepEqual(names(ebm), ['EBMVersion', 'EBMID', 'MsgBasicInfo', 'MsgContent']);
    assert.equal(text(ebm, 'EBMVersion'), '1');
    const created = Date.parse(broadcast.createdAt as string);
    assert.equal(
      text(ebm, 'EBMID'),
      `${platformEbrId()}${beijing(broadcast.createdAt as string).replace(/\D/g, '')}${String(created % 1000).padStart(3, '0')}`,
    );
    assert.equal(text(ebm, 'EBMID').length, 35);
    assert.equal(text(ebm, 'MsgBasicInfo/MsgType'), '1');
    assert.equal(text(ebm, 'MsgBasicInfo/SenderName'), `dalaba@${county}`);
    assert.equal(text(ebm, 'MsgBasicInfo/SenderCode'), platformEbrId());
    assert.equal(text(ebm, 'MsgBasicInfo/SendTime'), beijing(broadcast.createdAt as string));
    assert.equal(text(ebm, 'MsgBasicInfo/EventType'), '00000');
    assert.equal(text(ebm, 'MsgBasicInfo/Severity'), '2');
    assert.equal(text(ebm, 'MsgBasicInfo/StartTime'), beijing(broadcast.startAt as string));
    assert.equal(text(ebm, 'MsgBasicInfo/EndTime'), beijing(broadcast.expiresAt as string));
    assert.match(text(ebm, 'MsgBasicInfo/StartTime'), /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/);
    assert.equal(text(ebm, 'MsgContent/LanguageCode'), 'zho');
    assert.equal(text(ebm, 'MsgContent/MsgTitle'), '山洪预警：请立即转移');
    assert.equal(text(ebm, 'MsgContent/MsgDesc'), '重大突发事件');
    assert.equal(text(ebm, 'MsgContent/AreaCode'), [v.a, v.b, v.c].sort().join(','));
    const clipDto = (await get(`/api/clips/${clip.id}`).expect(200)).body;
    assert.equal(text(ebm, 'MsgContent/Auxiliary/AuxiliaryType'), '2');
    assert.equal(text(ebm, 'MsgContent/Auxiliary/AuxiliaryDesc'), `${clipDto.sha256}.mp3`);
    assert.equal(text(ebm, 'MsgContent/Auxiliary/Size'), String(clipDto.bytes));
    assert.equal(text(ebm, 'MsgContent/Auxiliary/Digest'), clipDto.sha256);
  });

  it('writes its EBMStateResponse from the coverage figures and each device’s times', async () => {
    const res = await get(`/api/broadcasts/${broadcastId}/ebm-state`).expect(200);
    const r = parseXml(res.text);
    assert.equal(r.localName, 'EBMStateResponse');
    assert.match(text(r, 'RptTime'), /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/);
    const ebm = parseXml((await get(`/api/broadcasts/${broadcastId}/ebm`).expect(200)).text);
    assert.equal(text(r, 'EBM/EBMID'), text(ebm, 'EBMID'));
    // Two of three villages covered: partially completed, which the standard counts as failed.
    assert.equal(broadcast.outcome, 'partially_completed');
    assert.equal(text(r, 'BrdStateCode'), '4');
    assert.equal(text(r, 'BrdStateDesc'), '播发失败');
    const coverage = (await get(`/api/broadcasts/${broadcastId}/coverage`).expect(200)).body;
    assert.equal(text(r, 'Coverage/CoverageRate'), coverage.summary.rate.toFixed(4));
    assert.equal(text(r, 'Coverage/CoverageRate'), '0.6667');
    assert.equal(text(r, 'Coverage/AreaCode'), [v.a, v.b].sort().join(','));
    assert.equal(text(r, 'Coverage/ResBrdStat'), '3,2,1');

    const deliveries = (
      await get(`/api/broadcasts/${broadcastId}/deliveries?limit=500`, s.adminToken).expect(200)
    ).body.items as {
      deviceId: string;
      state: string;
      startedAt: string | null;
      playedAt: string | null;
      updatedAt: string;
    }[];
    const items = children(at(r, 'ResBrdInfo'), 'ResBrdItem');
    assert.equal(items.length, 3);
    const byDevice = new Map(items.map((i) => [text(i, 'EBRDT/EBRID'), i]));
    for (const id of [d.a.id, d.b.id]) {
      const item = byDevice.get(id)!;
      const delivery = deliveries.find((x) => x.deviceId === id)!;
      assert.equal(delivery.state, 'played');
      assert.equal(text(item, 'EBRPS/EBRID'), platformEbrId());
      assert.equal(text(item, 'EBRDT/StartTime'), beijing(delivery.startedAt!));
      assert.equal(text(item, 'EBRDT/EndTime'), beijing(delivery.playedAt!));
      assert.equal(text(item, 'EBRDT/BrdStateCode'), '3');
      assert.equal(text(item, 'EBRDT/BrdStateDesc'), '播发成功');
    }
    const offline = byDevice.get(d.c.id)!;
    const missed = deliveries.find((x) => x.deviceId === d.c.id)!;
    assert.equal(missed.state, 'expired');
    assert.equal(children(at(offline, 'EBRDT'), 'StartTime').length, 0);
    assert.equal(text(offline, 'EBRDT/EndTime'), beijing(missed.updatedAt));
    assert.equal(text(offline, 'EBRDT/BrdStateCode'), '4');
    assert.match(text(offline, 'EBRDT/BrdStateDesc'), /^播发失败/);
  });

  it('lists it in the broadcast log of its day, and nothing outside the period', async () => {
    const from = new Date(Date.parse(broadcast.startAt as string) - 60_000).toISOString();
    const to = new Date(s.clock.now().getTime() + 60_000).toISOString();
    const res = await get(
      `/api/reports/ebm-brd-log?from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}`,
    ).expect(200);
    const log = parseXml(res.text);
    assert.equal(log.localName, 'EBMBrdLog');
    assert.equal(text(log, 'Params/RptStartTime'), beijing(from));
    assert.equal(text(log, 'Params/RptEndTime'), beijing(to));
    const items = children(log, 'EBMBrdItem');
    assert.equal(items.length, 1);
    const item = items[0];
    const ebm = parseXml((await get(`/api/broadcasts/${broadcastId}/ebm`).expect(200)).text);
    assert.equal(text(item, 'EBM/EBMID'), text(ebm, 'EBMID'));
    assert.equal(text(item, 'EBM/MsgBasicInfo/Severity'), '2');
    assert.equal(children(at(item, 'EBM/MsgContent'), 'Auxiliary').length, 0);
    assert.equal(text(item, 'UnitInfo/Unit/EBRPS/EBRID'), platformEbrId());
    assert.equal(text(item, 'UnitInfo/Unit/PersonName'), broadcast.createdBy);
    assert.equal(text(item, 'BrdStateCode'), '4');
    assert.equal(text(item, 'Coverage/CoverageRate'), '0.6667');

    const before = new Date(Date.parse(from) - 86_400_000).toISOString();
    const empty = parseXml(
      (
        await get(
          `/api/reports/ebm-brd-log?from=${encodeURIComponent(before)}&to=${encodeURIComponent(from)}`,
        ).expect(200)
      ).text,
    );
    assert.equal(children(empty, 'EBMBrdItem').length, 0);
  });

  it('refuses a log period it cannot read, an unknown broadcast, no token and a town official', async () => {
    const bad = await get('/api/reports/ebm-brd-log?from=yesterday').expect(400);
    assert.equal(bad.body.error, 'VALIDATION_FAILED');
    await get('/api/reports/ebm-brd-log?from=2026-11-02&to=2026-11-01').expect(400);
    await get('/api/reports/ebm-brd-log?from=2024-01-01&to=2026-01-01').expect(400);
    await get(`/api/broadcasts/00000000-0000-4000-8000-000000000000/ebm`).expect(404);
    await get(`/api/broadcasts/not-a-uuid/cap`).expect(400);
    await api(s.url, '').get('/api/reports/terminal-states').expect(401);
    // The county's reports: a town official sees none of them, not even their own town's.
    const official = (await townOfficial(s, [v.a.slice(0, 9)])).token;
    for (const path of [
      `/api/broadcasts/${broadcastId}/cap`,
      `/api/broadcasts/${broadcastId}/ebm`,
      `/api/broadcasts/${broadcastId}/ebm-state`,
      '/api/reports/ebm-brd-log',
      '/api/reports/terminal-states',
      '/api/feeds/alerts.atom',
    ])
      await get(path, official).expect(403);
  });

  it('reports terminal states: online, fault, offline, and offline once a device goes away', async () => {
    const states = async (query = '') => {
      const doc = parseXml((await get(`/api/reports/terminal-states${query}`).expect(200)).text);
      assert.equal(doc.localName, 'EBRDTState');
      return new Map(
        children(doc, 'EBRDT').map((e) => [
          text(e, 'EBRID'),
          { code: text(e, 'StateCode'), desc: text(e, 'StateDesc'), at: text(e, 'RptTime') },
        ]),
      );
    };
    const all = await states();
    assert.equal(all.size, 4);
    assert.deepEqual(all.get(d.a.id)!.code, '1');
    assert.equal(all.get(d.a.id)!.desc, '开机/运行正常');
    assert.equal(all.get(d.c.id)!.code, '2');
    assert.equal(all.get(d.c.id)!.desc, '关机/停止运行');
    assert.equal(all.get(d.x.id)!.code, '3');
    assert.equal(all.get(d.x.id)!.desc, '故障');
    assert.equal(all.get(d.a.id)!.at, beijing(s.clock.now().toISOString()));

    const gone = nextPresence(s, (c) => c.deviceId === d.b.id && !c.online);
    await agents[1].stop();
    await gone;
    const some = await states(`?devices=${d.a.id},${d.b.id}`);
    assert.deepEqual([...some.keys()], [d.a.id, d.b.id]);
    assert.equal(some.get(d.a.id)!.code, '1');
    assert.equal(some.get(d.b.id)!.code, '2');
    await get('/api/reports/terminal-states?devices=no-such-device').expect(404);
  });

  it('publishes the broadcast as CAP 1.2 whose resource is the audio the API serves', async () => {
    const res = await get(`/api/broadcasts/${broadcastId}/cap`).expect(200);
    assert.match(res.headers['content-type'], /^application\/cap\+xml/);
    const alert = parseXml(res.text);
    assert.equal(alert.namespaceURI, CAP_NS);
    assert.deepEqual(names(alert), [
      'identifier',
      'sender',
      'sent',
      'status',
      'msgType',
      'source',
      'scope',
      'info',
    ]);
    const created = Date.parse(broadcast.createdAt as string);
    const digits = beijing(broadcast.createdAt as string).replace(/\D/g, '');
    // GB/T 35965.1: N the tenth of its second, the first identifier tried (none took it before).
    assert.equal(
      text(alert, 'identifier'),
      `${county}00000000_${digits}_${Math.floor((created % 1000) / 100)}`,
    );
    assert.equal(text(alert, 'sender'), `dalaba@${county}`);
    assert.equal(
      text(alert, 'sent'),
      `${beijing(broadcast.createdAt as string).replace(' ', 'T')}+08:00`,
    );
    assert.equal(text(alert, 'status'), 'Actual');
    assert.equal(text(alert, 'msgType'), 'Alert');
    assert.equal(text(alert, 'scope'), 'Public');
    const info = at(alert, 'info');
    assert.equal(text(info, 'language'), 'zh-CN');
    assert.equal(text(info, 'urgency'), 'Immediate');
    assert.equal(text(info, 'severity'), 'Severe');
    assert.equal(text(info, 'certainty'), 'Observed');
    assert.equal(text(info, 'headline'), '山洪预警：请立即转移');
    assert.equal(
      text(info, 'effective'),
      `${beijing(broadcast.startAt as string).replace(' ', 'T')}+08:00`,
    );
    assert.equal(
      text(info, 'expires'),
      `${beijing(broadcast.expiresAt as string).replace(' ', 'T')}+08:00`,
    );
    const area = at(info, 'area');
    const villageNames = (await get(`/api/villages?limit=500`).expect(200)).body.items as {
      code: string;
      name: string;
    }[];
    const nameOf = (code: string) => villageNames.find((x) => x.code === code)!.name;
    assert.equal(text(area, 'areaDesc'), [v.a, v.b, v.c].sort().map(nameOf).join('、'));
    assert.deepEqual(
      children(area, 'geocode').map((g) => [text(g, 'valueName'), text(g, 'value')]),
      [v.a, v.b, v.c].sort().map((c) => ['行政区划代码', c]),
    );

    const resource = at(info, 'resource');
    assert.equal(text(resource, 'mimeType'), 'audio/mpeg');
    const uri = new URL(text(resource, 'uri'));
    assert.equal(uri.pathname, `/api/clips/${clip.id}/audio`);
    const audio = await get(uri.pathname)
      .buffer(true)
      .parse((r, done) => {
        const chunks: Buffer[] = [];
        r.on('data', (c: Buffer) => chunks.push(c));
        r.on('end', () => done(null, Buffer.concat(chunks)));
      })
      .expect(200);
    const bytes = audio.body as Buffer;
    assert.equal(text(resource, 'size'), String(bytes.length));
    assert.equal(text(resource, 'digest'), createHash('sha1').update(bytes).digest('hex'));

    // Our own reader takes it: CAP 1.2 schema and rules, read while the broadcast was valid.
    const { alert: read } = parseCap(res.text, {
      maxBytes: 262_144,
      now: Date.parse(broadcast.startAt as string),
    });
    assert.equal(read.identifier, text(alert, 'identifier'));
    assert.equal(read.sent.ms, Math.floor(created / 1000) * 1000);
    assert.equal(read.infos[0].severity, 'Severe');
    assert.deepEqual(
      read.infos[0].areas[0].geocodes.map((g) => g.value),
      [v.a, v.b, v.c].sort(),
    );
    assert.equal(read.infos[0].resources[0].digest, text(resource, 'digest'));
  });

  it('publishes a cancelled test broadcast as a Cancel referencing its Alert, state 5', async () => {
    const scheduled = await createBroadcast(s, {
      title: '系统测试',
      clipId: clip.id,
      level: 'test',
      target: { villages: [v.a] },
      startAt: new Date(s.clock.now().getTime() + 3_600_000).toISOString(),
    });
    const before = parseXml((await get(`/api/broadcasts/${scheduled.id}/cap`).expect(200)).text);
    assert.equal(text(before, 'status'), 'Test');
    assert.equal(text(before, 'msgType'), 'Alert');
    assert.equal(text(at(before, 'info'), 'severity'), 'Unknown');
    const waiting = parseXml(
      (await get(`/api/broadcasts/${scheduled.id}/ebm-state`).expect(200)).text,
    );
    assert.equal(text(waiting, 'BrdStateCode'), '1');
    // Not dispatched yet: the area is its target as given.
    const ebmBefore = parseXml((await get(`/api/broadcasts/${scheduled.id}/ebm`).expect(200)).text);
    assert.equal(text(ebmBefore, 'MsgContent/AreaCode'), v.a);
    assert.equal(text(ebmBefore, 'MsgBasicInfo/MsgType'), '3');
    assert.equal(text(ebmBefore, 'MsgBasicInfo/Severity'), '0');

    await api(s.url, s.adminToken)
      .post(`/api/broadcasts/${scheduled.id}/cancel`)
      .send({ reason: '测试取消' })
      .expect(200);
    const cancel = parseXml((await get(`/api/broadcasts/${scheduled.id}/cap`).expect(200)).text);
    assert.equal(text(cancel, 'msgType'), 'Cancel');
    assert.equal(text(cancel, 'status'), 'Test');
    assert.equal(
      text(cancel, 'references'),
      `${text(before, 'sender')},${text(before, 'identifier')},${text(before, 'sent')}`,
    );
    assert.notEqual(text(cancel, 'identifier'), text(before, 'identifier'));
    assert.equal(text(at(cancel, 'info'), 'instruction'), '已取消：测试取消');
    const readBack = parseCap((await get(`/api/broadcasts/${scheduled.id}/cap`).expect(200)).text, {
      maxBytes: 262_144,
      now: s.clock.now().getTime(),
    }).alert;
    assert.equal(readBack.msgType, 'Cancel');
    assert.equal(readBack.status, 'Test');
    assert.deepEqual(readBack.references, [
      {
        sender: text(before, 'sender'),
        identifier: text(before, 'identifier'),
        sent: text(before, 'sent'),
      },
    ]);

    const ebm = parseXml((await get(`/api/broadcasts/${scheduled.id}/ebm`).expect(200)).text);
    assert.equal(text(ebm, 'MsgBasicInfo/MsgType'), '2');
    // A Cancel of its own, naming the EBM the superior holds.
    assert.equal(text(ebm, 'RelatedEBM/EBMID'), text(ebmBefore, 'EBMID'));
    assert.notEqual(text(ebm, 'EBMID'), text(ebmBefore, 'EBMID'));
    const state = parseXml(
      (await get(`/api/broadcasts/${scheduled.id}/ebm-state`).expect(200)).text,
    );
    assert.equal(text(state, 'BrdStateCode'), '5');
    assert.equal(text(state, 'BrdStateDesc'), '播发取消：测试取消');

    const feed = parseXml((await get('/api/feeds/alerts.atom').expect(200)).text);
    assert.equal(feed.namespaceURI, 'http://www.w3.org/2005/Atom');
    const entries = children(feed, 'entry');
    assert.equal(entries.length, 2);
    // Newest first; each entry carries its CAP inline.
    const inline = (e: Element) => children(at(e, 'content'), 'alert')[0];
    assert.equal(text(inline(entries[0]), 'identifier'), text(cancel, 'identifier'));
    assert.equal(inline(entries[0]).namespaceURI, CAP_NS);
    assert.equal(
      text(inline(entries[1]), 'identifier'),
      text(parseXml((await get(`/api/broadcasts/${broadcastId}/cap`)).text), 'identifier'),
    );
    assert.equal(at(entries[1], 'content').getAttribute('type'), 'application/cap+xml');
    // The links are absolute (PUBLIC_URL) and answer the same CAP.
    const link = children(entries[0], 'link')[0];
    assert.equal(link.getAttribute('type'), 'application/cap+xml');
    assert.equal(link.getAttribute('href'), `${s.url}/api/broadcasts/${scheduled.id}/cap`);
    const self = children(feed, 'link').find((l) => l.getAttribute('rel') === 'self')!;
    assert.equal(self.getAttribute('href'), `${s.url}/api/feeds/alerts.atom`);
  });

  it('publishes a broadcast made from an alert with the alert’s words, and a drill as a drill', async () => {
    // Only a signed alert goes out without a person.
    const key = await testCertificate(tempDir('dalaba-reports-cap-'), 'met-reports');
    await api(s.url, s.adminToken)
      .put(`/api/alert-senders/${encodeURIComponent('met@reports.example')}`)
      .send({
        name: '气象局',
        policy: 'accept_unsigned',
        certificates: [key.certPem],
        autoSeverities: ['Extreme', 'Severe'],
      })
      .expect(200);
    const send = async (status: string, severity: string) => {
      const cap = capXml({
        sender: 'met@reports.example',
        status,
        infos: [
          {
            severity,
            headline: '气象台发布暴雨橙色预警',
            areas: [{ geocodes: [{ valueName: '行政区划代码', value: v.a }] }],
          },
        ],
      });
      const res = await api(s.url, s.adminToken)
        .post('/api/alerts')
        .set('Content-Type', 'application/cap+xml')
        .send(signCap(cap.xml, key))
        .expect(201);
      assert.equal(res.body.outcome, 'broadcast', res.body.reason);
      return { id: res.body.broadcastId as string, identifier: cap.identifier };
    };

    const actual = await send('Actual', 'Severe');
    const cap = parseXml((await get(`/api/broadcasts/${actual.id}/cap`).expect(200)).text);
    assert.equal(text(cap, 'status'), 'Actual');
    assert.equal(text(cap, 'incidents'), actual.identifier);
    assert.equal(text(at(cap, 'info'), 'event'), '暴雨');
    assert.equal(text(at(cap, 'info'), 'severity'), 'Severe');
    assert.equal(text(at(cap, 'info'), 'description'), '气象台发布暴雨橙色预警');
    const ebm = parseXml((await get(`/api/broadcasts/${actual.id}/ebm`).expect(200)).text);
    assert.equal(text(ebm, 'MsgBasicInfo/MsgType'), '1');
    assert.equal(text(ebm, 'MsgBasicInfo/Severity'), '2');
    assert.equal(text(ebm, 'MsgContent/MsgDesc'), '气象台发布暴雨橙色预警');
    assert.equal(text(ebm, 'MsgContent/AreaCode'), v.a);

    // An Exercise becomes a routine drill: a drill in both formats, with the alert's severity.
    const drill = await send('Exercise', 'Extreme');
    const drillCap = parseXml((await get(`/api/broadcasts/${drill.id}/cap`).expect(200)).text);
    assert.equal(text(drillCap, 'status'), 'Exercise');
    assert.equal(text(at(drillCap, 'info'), 'severity'), 'Extreme');
    const drillEbm = parseXml((await get(`/api/broadcasts/${drill.id}/ebm`).expect(200)).text);
    assert.equal(text(drillEbm, 'MsgBasicInfo/MsgType'), '3');
    assert.equal(text(drillEbm, 'MsgBasicInfo/Severity'), '1');
  });

  it('names a terminal by the resource code the province assigned it, once it has one', async () => {
    const code = `${county}000000030101`;
    const admin = api(s.url, s.adminToken);
    await admin.patch(`/api/devices/${d.a.id}`).send({ resourceCode: code }).expect(200);
    try {
      const states = parseXml((await get(`/api/reports/terminal-states`).expect(200)).text);
      const ids = children(states, 'EBRDT').map((e) => text(e, 'EBRID'));
      assert.ok(ids.includes(code) && !ids.includes(d.a.id), ids.join());
      assert.ok(ids.includes(d.c.id), 'one without a code keeps its id');
      const r = parseXml((await get(`/api/broadcasts/${broadcastId}/ebm-state`).expect(200)).text);
      const terminals = children(at(r, 'ResBrdInfo'), 'ResBrdItem').map((i) =>
        text(i, 'EBRDT/EBRID'),
      );
      assert.ok(terminals.includes(code) && terminals.includes(d.b.id), terminals.join());
    } finally {
      await admin.patch(`/api/devices/${d.a.id}`).send({ resourceCode: null }).expect(200);
    }
  });

  // Last: it moves the server's clock past every device's silence, and they all go offline.
  it('reports a device back within the hour after it went silent as recovered (4)', async () => {
    const stateOf = async (id: string) => {
      const doc = parseXml(
        (await get(`/api/reports/terminal-states?devices=${id}`).expect(200)).text,
      );
      const row = children(doc, 'EBRDT')[0];
      return { code: text(row, 'StateCode'), desc: text(row, 'StateDesc') };
    };
    assert.equal((await stateOf(d.a.id)).code, '1');
    const silent = nextPresence(s, (c) => c.deviceId === d.a.id && !c.online);
    await s.advance(s.server.app.get(PresenceService).silenceLimitMs + 1000);
    await silent;
    assert.equal((await stateOf(d.a.id)).code, '2');
    await agents[0].stop();
    agents[0] = await startAgentOnline(s, mqttUrl(s), d.a, { speed: 0 });
    assert.deepEqual(await stateOf(d.a.id), { code: '4', desc: '故障恢复' });
  });
});

describe('reports up: broadcasts written straight to the table', () => {
  let s: TestServer;

  beforeAll(async () => {
    s = await startTestServer();
  }, 60_000);

  afterAll(async () => {
    await s?.close();
  });

  it(`refuses a period of more than ${MAX_LOG_BROADCASTS} broadcasts, and says how many it had`, async () => {
    assert.equal(MAX_LOG_BROADCASTS, 2000, 'the limit docs/reports.md states');
    const clip = await newClip(s);
    // Broadcasts of one Beijing day, a second apart, written straight to the table: 2,001 through
    // the API would take minutes (the log only reads them).
    const day = Date.parse('2025-03-01T00:00:00+08:00');
    const ids: string[] = [];
    const rows: BroadcastEntity[] = Array.from({ length: MAX_LOG_BROADCASTS + 1 }, (_, i) => {
      const startAt = day + 3_600_000 + i * 1000;
      const id = randomUUID();
      ids.push(id);
      return broadcastRow({
        id,
        title: `日志上限 ${i}`,
        clipId: clip.id,
        level: 'routine',
        target: JSON.stringify({ villages: [] }),
        startAt,
        expiresAt: startAt + 60_000,
        attentionTone: false,
        status: 'completed',
        updatedAt: startAt + 60_000,
        endedAt: startAt + 60_000,
      });
    });
    await s.server.app.get(WriteQueue).run(async (m) => {
      for (const chunk of chunks(rows, 200)) await m.insert(BroadcastEntity, chunk);
    });
    const log = () =>
      api(s.url, s.adminToken).get('/api/reports/ebm-brd-log?from=2025-03-01&to=2025-03-01');

    const over = await log().expect(400);
    assert.equal(over.body.error, 'VALIDATION_FAILED');
    assert.deepEqual(
      over.body.details.map((d: { field: string; rule: string }) => [d.field, d.rule]),
      [['from', 'maxBroadcasts']],
    );
    assert.match(
      over.body.details[0].message,
      /^2001 broadcasts started in this period; a log holds at most 2000: ask for a shorter one$/,
    );

    // One fewer, exactly the limit: the whole log.
    await s.server.app
      .get(WriteQueue)
      .run((m) => m.delete(BroadcastEntity, { id: ids[ids.length - 1] }));
    const full = parseXml((await log().expect(200)).text);
    const items = children(full, 'EBMBrdItem');
    assert.equal(items.length, MAX_LOG_BROADCASTS);
  }, 120_000);

  it('gives every message of one instant its own identifier, the same on every read', async () => {
    const clip = await newClip(s);
    // Three broadcasts made in the same millisecond (written straight to the table: the API
    // cannot be made to), the third cancelled 50 ms later: four messages in one tenth of a second.
    const at = Date.parse('2026-12-01T08:00:00.250+08:00');
    const rows = ['甲', '乙', '丙'].map((x) =>
      broadcastRow({
        id: randomUUID(),
        title: `同一时刻 ${x}`,
        clipId: clip.id,
        startAt: at,
        expiresAt: at + 60_000,
        status: 'completed',
        endedAt: at + 60_000,
      }),
    );
    rows[2] = { ...rows[2], status: 'cancelled', endedAt: at + 50, endReason: '误发' };
    await s.server.app.get(WriteQueue).run(async (m) => {
      await m.insert(BroadcastEntity, rows);
    });
    const read = async () =>
      Promise.all(
        rows.map(async (r) => {
          const doc = parseXml(
            (await api(s.url, s.adminToken).get(`/api/broadcasts/${r.id}/cap`).expect(200)).text,
          );
          const refs = children(doc, 'references');
          return [text(doc, 'identifier'), refs.length ? text(doc, 'references') : ''];
        }),
      );
    // Read at once: their identifiers are given out concurrently.
    const first = await read();
    const cancelled = first[2];
    const identifiers = [first[0][0], first[1][0], cancelled[0], cancelled[1].split(',')[1]];
    assert.equal(new Set(identifiers).size, 4, identifiers.join(' '));
    const county = identifiers[0].slice(0, 6);
    for (const id of identifiers)
      assert.match(id, new RegExp(`^${county}00000000_20261201080000_\\d$`));
    assert.ok(
      identifiers.some((id) => id.endsWith('_2')),
      'the tenth of the second, first',
    );
    assert.deepEqual(await read(), first, 'published once, the same for good');
    const feed = (await api(s.url, s.adminToken).get('/api/feeds/alerts.atom').expect(200)).text;
    for (const id of identifiers.slice(0, 3)) assert.ok(feed.includes(`<identifier>${id}<`), id);
  });
});
