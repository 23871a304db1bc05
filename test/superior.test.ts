import assert from 'node:assert/strict';
import { describe, it, beforeAll, afterAll } from '@jest/globals';
import type { DeviceAgent } from '../devices/agent.js';
import { generateKeyPair, signBytes } from '../src/contract/signing.js';
import {
  beijingTime,
  buildPackage,
  children,
  EBD_TYPES,
  makeEbdId,
  parsePackage,
  pathText,
  readResponse,
  verifyPackage,
} from '../src/superior/ebd-package.js';
import { ServerKeys } from '../src/signing/server-keys.js';
import { readTar, writeTar } from '../src/superior/tar.js';
import { GytReports } from '../src/reports/gyt-reports.js';
import { DOMParser } from '@xmldom/xmldom';
import { INBOUND_MAX_BYTES } from '../src/superior/superior-inbound.js';
import {
  createBroadcast,
  DELIVERY_ENV,
  deliveryReached,
  newClip,
  passDeadline,
  statusReached,
} from './support/broadcasts.js';
import { DataSource } from 'typeorm';
import { AlertsRepository } from '../src/alerts/alerts.repository.js';
import { AlertsService } from '../src/alerts/alerts.service.js';
import { SuperiorPackageEntity } from '../src/superior/superior-package.entity.js';
import { fixtures } from './support/fixtures.js';
import { eventually, mqttUrl, startAgentOnline } from './support/mqtt.js';
import {
  GIVE_UP_ATTEMPTS,
  KEEP_MS,
  RETRY_MAX_MS,
  SuperiorLink,
} from '../src/superior/superior-link.js';
import { api, ShiftedClock, startTestServer, tempDir, type TestServer } from './support/server.js';
import {
  ebmXml,
  FakeSuperior,
  multipart,
  postPackage,
  STATION_EBR,
  SUPERIOR_EBR,
} from './support/superior.js';

describe('superior platform link', () => {
  const superior = new FakeSuperior();
  const dataDir = tempDir();
  // One clock for the server and its restart: the outbox's times stay meaningful across it.
  const clock = new ShiftedClock();
  let s: TestServer;
  let agent: DeviceAgent | undefined;
  let village = '';
  let device = { id: '', secret: '' };
  let broadcastId = '';

  const env = () => ({ ...DELIVERY_ENV, ...superior.env(), SUPERIOR_HEARTBEAT_S: '60' });
  /** A level II EBM for the test village from the superior, sent by 611000. */
  const ebmPackage = (ebmId: string) =>
    superior.pack(EBD_TYPES.ebm, ebmXml(ebmId, village, clock.now().getTime()));
  const packages = async (query = '') =>
    (await api(s.url, s.adminToken).get(`/api/superior/packages?limit=500${query}`).expect(200))
      .body.items as Record<string, unknown>[];
  /** The terminal-state packages waiting to go up. */
  const waiting = async () =>
    (await packages('&direction=out&status=pending')).filter((p) => p.type === 'EBRDTState');
  /** Ticks the link until the waiting terminal-state packages are as `done` wants them. */
  const until = (done: (rows: Record<string, unknown>[]) => boolean) =>
    eventually(async () => {
      await s.tick();
      return done(await waiting());
    }, 20_000);

  beforeAll(async () => {
    await superior.start();
    s = await startTestServer({ dataDir, clock, env: env() });
    const status = (await api(s.url, s.adminToken).get('/api/superior/status').expect(200)).body;
    assert.equal(status.enabled, true);
    assert.equal(status.signature, 'sm2');
    superior.stationKey = status.publicKey as string;
    const fx = fixtures(s.url, s.adminToken);
    const town = await fx.newTown({ code: '611026100', name: '营盘镇' });
    village = (await fx.newVillage(town.code)).code;
    device = await fx.newDevice(village);
  }, 60_000);

  afterAll(async () => {
    await agent?.stop();
    await s.close();
    await superior.stop();
  });

  it('sends a signed heartbeat the superior verifies and answers', async () => {
    await s.tick();
    const beats = superior.accepted(EBD_TYPES.heartbeat);
    assert.equal(beats.length, 1);
    assert.equal(beats[0].verified, null);
    assert.equal(beats[0].body.header.srcEbrId, STATION_EBR);
    assert.equal(beats[0].body.header.destEbrId, SUPERIOR_EBR);
    assert.match(beats[0].ebdId, new RegExp(`^01${STATION_EBR}\\d{16}$`));
    assert.ok(pathText(beats[0].body.body!, 'RptTime'));
    const status = (await api(s.url, s.adminToken).get('/api/superior/status').expect(200)).body;
    assert.equal(status.up, true);
    assert.equal(status.lastHeartbeatOk, true);
    // Not due again before SUPERIOR_HEARTBEAT_S.
    await s.advance(10_000);
    assert.equal(superior.accepted(EBD_TYPES.heartbeat).length, 1);
  });

  it('keeps state reports while the superior is down and delivers each once when it is back', async () => {
    superior.down = true;
    agent = await startAgentOnline(s, mqttUrl(s), device, { speed: 0 });
    const clip = await newClip(s, 1);
    const played = deliveryReached(s, () => broadcastId, device.id, 'played');
    const broadcast = await createBroadcast(s, {
      title: '山洪预警',
      clipId: clip.id,
      level: 'II',
      target: { villages: [village] },
      expiresAt: new Date(s.clock.now().getTime() + 30_000).toISOString(),
    });
    broadcastId = broadcast.id;
    await played;
    const completed = statusReached(s, () => broadcastId, 'completed');
    await passDeadline(s, broadcast);
    await completed;
    await s.tick();

    // The terminal state (the device came online) and the broadcast's state wait in the outbox.
    const waiting = await packages('&direction=out');
    const state = waiting.find((p) => p.type === 'EBMStateResponse');
    const terminal = waiting.find((p) => p.type === 'EBRDTState');
    assert.ok(state && terminal, JSON.stringify(waiting));
    assert.equal(state.subject, broadcastId);
    assert.equal(state.status, 'pending');
    assert.ok((state.attempts as number) + (terminal.attempts as number) >= 1);
    assert.match(String(state.lastError ?? terminal.lastError), /HTTP 503/);
    // Heartbeats are not packages of the outbox: only these count.
    const turnedAway = () =>
      superior.received.filter((r) => !r.accepted && r.type !== EBD_TYPES.heartbeat);
    const first = turnedAway();
    assert.ok(first.length >= 1);
    const tried = (await packages('&direction=out')).find((p) => p.ebdId === first[0].ebdId)!;
    assert.equal(tried.attempts, 1);
    // Its own wait, in the table: the first back-off step, jittered down to half.
    const wait = (tried.nextAttemptAt as number) - s.clock.now().getTime();
    assert.ok(wait > 0 && wait <= 1000, `next attempt in ${wait} ms`);

    // Backing off: the same package tried again once its wait has passed.
    await s.advance(RETRY_MAX_MS);
    await s.advance(RETRY_MAX_MS);
    assert.ok(turnedAway().filter((r) => r.ebdId === first[0].ebdId).length >= 2);
    const again = (await packages('&direction=out')).find((p) => p.ebdId === first[0].ebdId)!;
    assert.ok((again.attempts as number) >= 2, JSON.stringify(again));
    assert.ok((again.nextAttemptAt as number) > s.clock.now().getTime());
    const status = (await api(s.url, s.adminToken).get('/api/superior/status').expect(200)).body;
    assert.equal(status.up, false);
    assert.ok(status.pending >= 2);
    const ready = await api(s.url).get('/health/ready');
    assert.equal(ready.body.checks.superior.ok, false);

    superior.down = false;
    await s.advance(11 * 60_000);
    await s.tick();

    const sent = await packages('&direction=out');
    for (const p of sent) {
      assert.equal(p.status, 'sent', JSON.stringify(p));
      assert.equal(p.resultCode, '1');
      assert.match(String(p.receipt), /<EBDResponse><ResultCode>1<\/ResultCode>/);
    }
    const delivered = superior.accepted().filter((r) => r.type !== EBD_TYPES.heartbeat);
    const ids = delivered.map((r) => r.ebdId);
    assert.deepEqual([...new Set(ids)].sort(), sent.map((p) => p.ebdId as string).sort());
    assert.equal(ids.length, new Set(ids).size, 'each package accepted exactly once');
    for (const r of delivered) assert.equal(r.verified, null);

    const report = delivered.find((r) => r.type === 'EBMStateResponse')!;
    assert.equal(report.body.body!.localName, 'EBMStateResponse');
    assert.ok(pathText(report.body.body!, 'BrdStateCode'));
    const terminalReport = delivered.find((r) => r.type === 'EBRDTState')!;
    assert.ok(terminalReport.body.ebdb.toString().includes(device.id));
    // The reports name the station by the resource code it was given, not the placeholder.
    const ebm = await api(s.url, s.adminToken)
      .get(`/api/broadcasts/${broadcastId}/ebm`)
      .expect(200);
    assert.match(ebm.text, new RegExp(`<SenderCode>${STATION_EBR}</SenderCode>`));
  }, 120_000);

  it('loses nothing across a restart: the table is the outbox', async () => {
    superior.down = true;
    await agent?.stop();
    // The device came back (the silence sweep had marked it offline): its state waits, unsent.
    agent = await startAgentOnline(s, mqttUrl(s), device, { speed: 0 });
    await eventually(async () => {
      await s.tick();
      return (await packages('&direction=out&status=pending')).length > 0;
    }, 20_000);
    await agent.stop();
    agent = undefined;
    const pending = await packages('&direction=out&status=pending');
    await s.close();

    superior.down = false;
    s = await startTestServer({ dataDir, clock, env: env() });
    // Each package's own wait, written before the restart, still holds; once it has passed, the
    // packages go, each once.
    await s.tick();
    await s.advance(RETRY_MAX_MS);
    const after = await packages('&direction=out');
    for (const p of pending) {
      const row = after.find((a) => a.ebdId === p.ebdId)!;
      assert.equal(row.status, 'sent', JSON.stringify(row));
      assert.equal(superior.accepted().filter((r) => r.ebdId === p.ebdId).length, 1);
    }
  }, 60_000);

  it('keeps a package the superior refuses as failed, with its receipt, and does not retry it', async () => {
    superior.answer = 'failed';
    try {
      agent = await startAgentOnline(s, mqttUrl(s), device, { speed: 0 });
      const before = superior.accepted().length;
      await s.tick();
      const refused = await packages('&direction=out&status=failed');
      assert.equal(refused.length, 1, JSON.stringify(refused));
      assert.equal(refused[0].resultCode, '2');
      assert.equal(refused[0].attempts, 1);
      assert.match(String(refused[0].lastError), /result 2 接收失败/);
      assert.match(String(refused[0].receipt), /<ResultCode>2<\/ResultCode>/);
      // The status counts it, so the dashboard says something failed without listing it all.
      const status = (await api(s.url, s.adminToken).get('/api/superior/status').expect(200)).body;
      assert.equal(status.failed, 1);
      const received = superior.accepted().length;
      assert.ok(received > before);
      await s.advance(RETRY_MAX_MS);
      assert.equal(
        superior.accepted().filter((r) => r.ebdId === refused[0].ebdId).length,
        1,
        'not sent again',
      );
    } finally {
      superior.answer = 'ok';
      await agent?.stop();
      agent = undefined;
    }
  });

  it('reports a device deleted after its change as offline rather than failing the package', async () => {
    const fx = fixtures(s.url, s.adminToken);
    const doomed = await fx.newDevice(village);
    await api(s.url, s.adminToken).delete(`/api/devices/${doomed.id}`).expect(204);
    const reports = s.server.app.get(GytReports);
    // The route's contract stays: an unknown device is a 404.
    await assert.rejects(reports.terminalStates([doomed.id]), /does not exist/);
    // The link's call (superior-link.ts, queueTerminalStates) reports it as offline.
    const xml = await reports.terminalStates([doomed.id, device.id], { goneAsOffline: true });
    const doc = new DOMParser().parseFromString(xml, 'text/xml')
      .documentElement as unknown as Element;
    const rows = children(doc, 'EBRDT');
    assert.equal(rows.length, 2);
    const row = rows.find((e) => pathText(e, 'EBRID') === doomed.id)!;
    assert.equal(pathText(row, 'StateCode'), '2');
  });

  it('folds terminal states into the one package still waiting, not one per round', async () => {
    const fx = fixtures(s.url, s.adminToken);
    const devices = [await fx.newDevice(village), await fx.newDevice(village)];
    superior.down = true;
    try {
      const a = await startAgentOnline(s, mqttUrl(s), devices[0], { speed: 0 });
      await until((rows) => rows.some((r) => (r.attempts as number) >= 1));
      await a.stop();
      const b = await startAgentOnline(s, mqttUrl(s), devices[1], { speed: 0 });
      await b.stop();
      // The first was tried (and is backing off); every later change went into the second.
      await until((rows) => rows.some((r) => r.attempts === 0));
      await s.tick();
      await s.tick();
      const rows = await waiting();
      assert.equal(rows.length, 2, JSON.stringify(rows));
      assert.equal(rows.filter((r) => r.attempts === 0).length, 1);
    } finally {
      superior.down = false;
    }
    await s.advance(RETRY_MAX_MS);
    await s.advance(RETRY_MAX_MS);
    const last = superior.accepted(EBD_TYPES.terminalState).at(-1)!;
    for (const d of devices) assert.ok(last.body.ebdb.toString().includes(d.id));
    assert.equal((await packages('&direction=out&status=pending')).length, 0);
  }, 60_000);

  it('folds a terminal named by its resource code in under that code, as it is now', async () => {
    const fx = fixtures(s.url, s.adminToken);
    const plain = await fx.newDevice(village);
    const coded = await fx.newDevice(village);
    const code = `${village}000301`;
    await api(s.url, s.adminToken)
      .patch(`/api/devices/${coded.id}`)
      .send({ resourceCode: code })
      .expect(200);
    superior.down = true;
    const agents: DeviceAgent[] = [];
    try {
      const p = await startAgentOnline(s, mqttUrl(s), plain, { speed: 0 });
      agents.push(p);
      await until((rows) => rows.some((r) => (r.attempts as number) >= 1));
      // Queued behind the one backing off, never attempted: the next change is folded into it.
      agents.push(await startAgentOnline(s, mqttUrl(s), coded, { speed: 0 }));
      await until((rows) => rows.some((r) => r.attempts === 0));
      await p.stop();
      await s.tick();
      await s.tick();
      superior.down = false;
      await s.advance(RETRY_MAX_MS);
      await s.advance(RETRY_MAX_MS);
      // The folded package: both terminals (moving the clock on later sweeps them offline).
      const folded = superior
        .accepted(EBD_TYPES.terminalState)
        .find((r) => r.body.ebdb.toString().includes(plain.id) && r.body.ebdb.includes(code))!;
      const state = (ebrId: string) =>
        children(folded.body.body!, 'EBRDT')
          .filter((e) => pathText(e, 'EBRID') === ebrId)
          .map((e) => pathText(e, 'StateCode'));
      assert.deepEqual(state(code), ['1'], folded.body.ebdb.toString());
      assert.deepEqual(state(plain.id), ['2']);
      assert.ok(!folded.body.ebdb.toString().includes(coded.id), 'named by its code, not its id');
    } finally {
      superior.down = false;
      await Promise.all(agents.map((a) => a.stop()));
    }
  }, 60_000);

  it('backs off a package the superior chokes on by itself, sends the others, then gives up', async () => {
    const fx = fixtures(s.url, s.adminToken);
    const d = await fx.newDevice(village);
    superior.poisonType = EBD_TYPES.terminalState;
    try {
      let a = await startAgentOnline(s, mqttUrl(s), d, { speed: 0 });
      await eventually(async () => {
        await s.tick();
        return superior.poisoned.size > 0;
      }, 20_000);
      const [bad] = superior.poisoned;
      assert.ok(bad);
      // A heartbeat answered does not send it again at once: it has its own wait.
      const heartbeatsBefore = superior.accepted(EBD_TYPES.heartbeat).length;
      await s.advance(61_000);
      assert.ok(superior.accepted(EBD_TYPES.heartbeat).length > heartbeatsBefore);
      await a.stop();
      await s.tick();
      // Another package goes while the bad one waits.
      const others = () =>
        superior.accepted(EBD_TYPES.terminalState).filter((r) => r.body.ebdb.includes(d.id));
      await eventually(async () => {
        await s.advance(RETRY_MAX_MS);
        return others().length >= 1;
      }, 20_000);
      a = await startAgentOnline(s, mqttUrl(s), d, { speed: 0 });
      await a.stop();
      for (let i = 0; i < 12; i++) await s.advance(RETRY_MAX_MS);
      const row = (await packages('&direction=out')).find((p) => p.ebdId === bad)!;
      assert.equal(row.status, 'failed', JSON.stringify(row));
      assert.equal(row.attempts, GIVE_UP_ATTEMPTS);
      assert.equal(row.nextAttemptAt, null);
      assert.match(String(row.lastError), /gave up after \d+ attempts: HTTP 500/);
      assert.equal(
        superior.received.filter((r) => r.ebdId === bad).length,
        GIVE_UP_ATTEMPTS,
        'not tried after giving up',
      );
      assert.equal((await packages('&direction=out&status=pending')).length, 0);
    } finally {
      superior.poisonType = null;
    }
  }, 60_000);

  it('answers a signed EBM with a signed receipt, once per EBDID, and the alert is made', async () => {
    const ebm = ebmPackage('61100000000000000001');
    const upload = multipart(ebm.tar, ebm.ebdId);
    const res = await postPackage(s.url, upload.body, upload.type);
    const receipt = parsePackage(res.body);
    assert.equal(verifyPackage(receipt, 'sm2', superior.stationKey), null);
    assert.equal(receipt.header.relatedEbdId, ebm.ebdId);
    assert.equal(receipt.header.destEbrId, SUPERIOR_EBR);
    assert.equal(readResponse(receipt).code, '1', readResponse(receipt).desc ?? '');

    // The same package again: the same receipt, byte for byte, and no second alert.
    const again = await postPackage(s.url, ebm.tar);
    assert.deepEqual(again.body, res.body);

    const alerts = (await api(s.url, s.adminToken).get('/api/alerts?source=superior').expect(200))
      .body.items as Record<string, unknown>[];
    assert.equal(alerts.length, 1);
    assert.equal(alerts[0].identifier, '61100000000000000001');
    assert.equal(alerts[0].level, 'II');
    assert.ok(
      ['drafted', 'broadcast'].includes(alerts[0].outcome as string),
      alerts[0].reason as string,
    );
    const inbound = await packages('&direction=in');
    const row = inbound.find((p) => p.ebdId === ebm.ebdId)!;
    assert.equal(row.status, 'received');
    assert.equal(row.resultCode, '1');
    assert.equal(row.subject, alerts[0].id);
  }, 120_000);

  it('broadcasts an EBM at once when the station trusts its sender for that severity', async () => {
    await api(s.url, s.adminToken)
      .put('/api/alert-senders/611000')
      .send({
        name: '市应急广播平台',
        policy: 'accept_unsigned',
        certificates: [],
        autoSeverities: ['Severe'],
      })
      .expect(200);
    const ebm = ebmPackage('61100000000000000002');
    const receipt = parsePackage((await postPackage(s.url, ebm.tar)).body);
    assert.equal(readResponse(receipt).code, '1');
    const alerts = (await api(s.url, s.adminToken).get('/api/alerts?source=superior').expect(200))
      .body.items as Record<string, unknown>[];
    const alert = alerts.find((a) => a.identifier === '61100000000000000002')!;
    assert.equal(alert.outcome, 'broadcast', alert.reason as string);
    const b = (
      await api(s.url, s.adminToken)
        .get(`/api/broadcasts/${alert.broadcastId as string}`)
        .expect(200)
    ).body;
    assert.equal(b.level, 'II');
    assert.equal(b.createdBy, 'alert:611000');
  }, 60_000);

  it('acts on an EBM a stop cut off as its first copy when the superior sends it again: one broadcast', async () => {
    const ebm = ebmPackage('61100000000000000003');
    assert.equal(readResponse(parsePackage((await postPackage(s.url, ebm.tar)).body)).code, '1');
    const alertsOf = async (identifier: string) =>
      (
        (await api(s.url, s.adminToken).get('/api/alerts?source=superior').expect(200)).body
          .items as Record<string, unknown>[]
      ).filter((a) => a.identifier === identifier);
    const alertOf = () => alertsOf('61100000000000000003');
    /**
     * As a stop after the broadcast was made leaves it: the alert not yet decided, no receipt
     * kept (the superior got no answer, so it sends the package again).
     */
    const cutOff = async (alertId: string, ebdId: string) => {
      await s.server.app.get(AlertsRepository).update(alertId, {
        outcome: 'recorded',
        reason: 'being processed',
        broadcastId: null,
      });
      await s.server.app
        .get(DataSource)
        .getRepository(SuperiorPackageEntity)
        .delete({ direction: 'in', ebdId });
    };
    const [first] = await alertOf();
    assert.equal(first.outcome, 'broadcast', first.reason as string);
    await cutOff(first.id as string, ebm.ebdId);
    await s.close();
    s = await startTestServer({ dataDir, clock, env: env() });
    await s.server.app.get(AlertsService).resumed();
    const [interrupted] = await alertOf();
    assert.equal(interrupted.outcome, 'failed');

    const again = parsePackage((await postPackage(s.url, ebm.tar)).body);
    assert.equal(readResponse(again).code, '1', readResponse(again).desc ?? '');
    const alerts = await alertOf();
    assert.equal(alerts.length, 1);
    assert.equal(alerts[0].outcome, 'broadcast', alerts[0].reason as string);
    assert.equal(alerts[0].broadcastId, first.broadcastId);
    const made = (
      (await api(s.url, s.adminToken).get('/api/broadcasts?limit=500').expect(200)).body
        .items as Record<string, unknown>[]
    ).filter((b) => b.createdBy === 'alert:611000' && b.createdAt! >= first.receivedAt!);
    assert.deepEqual(
      made.map((b) => b.id),
      [first.broadcastId],
    );

    // The resend may come before the restart sweep has reached the row: still being processed,
    // and no one here acting on it (the sender's messages are handled one at a time).
    const next = ebmPackage('61100000000000000004');
    assert.equal(readResponse(parsePackage((await postPackage(s.url, next.tar)).body)).code, '1');
    const [second] = await alertsOf('61100000000000000004');
    assert.equal(second.outcome, 'broadcast', second.reason as string);
    await cutOff(second.id as string, next.ebdId);
    assert.equal(readResponse(parsePackage((await postPackage(s.url, next.tar)).body)).code, '1');
    const after = (await api(s.url, s.adminToken).get(`/api/alerts/${second.id}`).expect(200)).body;
    assert.equal(after.outcome, 'broadcast', after.reason);
    assert.equal(after.broadcastId, second.broadcastId, 'its broadcast, not a second one');
  }, 120_000);

  it('answers the superior’s queries through the outbox: an EBM’s state, terminals, the log', async () => {
    const ask = async (type: string, body: string) => {
      const q = superior.pack(type, body);
      const receipt = parsePackage((await postPackage(s.url, q.tar)).body);
      return { ebdId: q.ebdId, code: readResponse(receipt).code, desc: readResponse(receipt).desc };
    };
    /** The package the station sent up in answer to `request` (RelatedEBD), once it has. */
    const answerTo = async (request: string) => {
      await eventually(async () => {
        await s.tick();
        return superior.accepted().some((r) => r.body.header.relatedEbdId === request);
      }, 20_000);
      const sent = superior.accepted().filter((r) => r.body.header.relatedEbdId === request);
      assert.equal(sent.length, 1);
      assert.equal(sent[0].verified, null, 'signed by the station');
      return sent[0].body;
    };
    const alerts = (await api(s.url, s.adminToken).get('/api/alerts?source=superior').expect(200))
      .body.items as Record<string, unknown>[];
    const fromAbove = alerts.find((a) => a.identifier === '61100000000000000002')!;

    // The superior's own EBM, which became a broadcast here: its state under its EBMID.
    const theirs = await ask(
      'EBMStateRequest',
      '<EBMStateRequest><EBM><EBMID>61100000000000000002</EBMID></EBM></EBMStateRequest>',
    );
    assert.equal(theirs.code, '1', theirs.desc ?? '');
    const state = await answerTo(theirs.ebdId);
    assert.equal(state.header.type, 'EBMStateResponse');
    assert.equal(pathText(state.body!, 'EBM/EBMID'), '61100000000000000002');
    assert.match(pathText(state.body!, 'BrdStateCode') ?? '', /^[0-9]$/);

    // One of the station's own EBMIDs, as its EBM of that broadcast says it.
    const ours = await s.server.app.get(GytReports).ebmId(fromAbove.broadcastId as string);
    const own = await ask(
      'EBMStateRequest',
      `<EBMStateRequest><EBM><EBMID>${ours}</EBMID></EBM></EBMStateRequest>`,
    );
    assert.equal(own.code, '1', own.desc ?? '');
    assert.equal(pathText((await answerTo(own.ebdId)).body!, 'EBM/EBMID'), ours);

    const unknown = await ask(
      'EBMStateRequest',
      '<EBMStateRequest><EBM><EBMID>61100000000000009999</EBMID></EBM></EBMStateRequest>',
    );
    assert.equal(unknown.code, '2');
    assert.match(unknown.desc ?? '', /no broadcast of EBM 61100000000000009999/);

    const terminals = await ask(
      'OMDRequest',
      '<OMDRequest><OMDType>EBRDTState</OMDType><Params/></OMDRequest>',
    );
    assert.equal(terminals.code, '1', terminals.desc ?? '');
    const states = await answerTo(terminals.ebdId);
    assert.equal(states.header.type, 'EBRDTState');
    assert.ok(states.ebdb.toString('utf8').includes(device.id), 'the test device is reported');

    const from = beijingTime(clock.now().getTime() - 3_600_000);
    const to = beijingTime(clock.now().getTime() + 60_000);
    const log = await ask(
      'OMDRequest',
      `<OMDRequest><OMDType>EBMBrdLog</OMDType><Params><RptStartTime>${from}</RptStartTime>` +
        `<RptEndTime>${to}</RptEndTime></Params></OMDRequest>`,
    );
    assert.equal(log.code, '1', log.desc ?? '');
    const brdLog = await answerTo(log.ebdId);
    assert.equal(brdLog.header.type, 'EBMBrdLog');
    assert.ok(brdLog.ebdb.toString('utf8').includes(ours), 'the broadcast is in the log');

    const other = await ask(
      'OMDRequest',
      '<OMDRequest><OMDType>EBRSTInfo</OMDType><Params/></OMDRequest>',
    );
    assert.equal(other.code, '3');
    const backwards = await ask(
      'OMDRequest',
      `<OMDRequest><OMDType>EBMBrdLog</OMDType><Params><RptStartTime>${to}</RptStartTime>` +
        `<RptEndTime>${from}</RptEndTime></Params></OMDRequest>`,
    );
    assert.equal(backwards.code, '2');
    const unreadable = await ask(
      'OMDRequest',
      '<OMDRequest><OMDType>EBMBrdLog</OMDType><Params><RptStartTime>2026/12/01 00:00:00' +
        '</RptStartTime></Params></OMDRequest>',
    );
    assert.equal(unreadable.code, '2');
    assert.match(unreadable.desc ?? '', /YYYY-MM-DD HH:mm:ss/);
  }, 120_000);

  it('refuses a package signed by another key: logged, counted, answered with code 4', async () => {
    const forger = generateKeyPair('sm2');
    const header = {
      ebdId: makeEbdId(SUPERIOR_EBR, 999n),
      type: EBD_TYPES.heartbeat,
      srcEbrId: SUPERIOR_EBR,
      destEbrId: STATION_EBR,
      time: beijingTime(Date.now()),
      relatedEbdId: null,
    };
    const { tar } = buildPackage(
      header,
      '<ConnectionCheck><RptTime>2026-12-02 08:00:00</RptTime></ConnectionCheck>',
      { alg: 'sm2', kid: 'forger', sign: (d) => signBytes('sm2', forger.privateKey, d) },
      Date.now(),
    );
    const res = await postPackage(s.url, tar);
    assert.equal(res.headers['x-ebd-result-code'], '4');
    const files = readTar(res.body);
    assert.ok(files[0].data.toString().includes('<ResultCode>4</ResultCode>'));

    // Unsigned: a forgery never costs the station a signature.
    assert.equal(files.length, 1);
    assert.match(files[0].data.toString(), new RegExp(`<RelatedEBD><EBDID>${header.ebdId}<`));

    const status = (await api(s.url, s.adminToken).get('/api/superior/status').expect(200)).body;
    assert.equal(status.refusedInbound, 1);
    // Counted and logged, never stored: anyone can post one.
    assert.equal((await packages('&direction=in&status=refused')).length, 0);
    assert.ok(
      s
        .logs()
        .some(
          (l) =>
            /inbound package refused: ebd="\d+" reason="the signature does not verify"/.test(
              String(l.msg),
            ) && l.level >= 40,
        ),
      'logged as a warning',
    );

    await api(s.url)
      .post('/superior/ebd')
      .set('Content-Type', 'application/x-tar')
      .send(Buffer.from('not a tar at all'))
      .expect(400);
  });

  it('refuses a package signed by the superior’s key but from another EBRID, storing nothing', async () => {
    const before = (await packages('&direction=in')).length;
    const foreign = superior.pack(
      EBD_TYPES.heartbeat,
      '<ConnectionCheck><RptTime>2026-12-02 08:00:00</RptTime></ConnectionCheck>',
      null,
      { srcEbrId: '019999999999999999' },
    );
    const res = await postPackage(s.url, foreign.tar);
    assert.equal(res.headers['x-ebd-result-code'], '2');
    assert.match(readTar(res.body)[0].data.toString(), /not the superior/);
    assert.equal((await packages('&direction=in')).length, before);
  });

  it('refuses a package whose EBDTime is more than a day off: a replay of a swept one', async () => {
    const ebm = ebmPackage('61100000000000000009');
    const stale = superior.pack(
      EBD_TYPES.ebm,
      parsePackage(ebm.tar)
        .ebdb.toString()
        .replace(/^[\s\S]*?(<EBM>[\s\S]*<\/EBM>)[\s\S]*$/, '$1'),
      null,
      { timeMs: clock.now().getTime() - 25 * 3_600_000 },
    );
    const res = await postPackage(s.url, stale.tar);
    assert.equal(res.headers['x-ebd-result-code'], '2');
    assert.match(readTar(res.body)[0].data.toString(), /EBDTime/);
    const alerts = (await api(s.url, s.adminToken).get('/api/alerts?source=superior').expect(200))
      .body.items as Record<string, unknown>[];
    assert.ok(!alerts.some((a) => a.identifier === '61100000000000000009'));
  });

  it('answers a signed heartbeat from the superior without storing it', async () => {
    const beat = superior.pack(
      EBD_TYPES.heartbeat,
      '<ConnectionCheck><RptTime>2026-12-02 08:00:00</RptTime></ConnectionCheck>',
    );
    const receipt = parsePackage((await postPackage(s.url, beat.tar)).body);
    assert.equal(verifyPackage(receipt, 'sm2', superior.stationKey), null);
    assert.equal(readResponse(receipt).code, '1');
    assert.equal((await packages('&direction=in&type=ConnectionCheck')).length, 0);
  });

  it('refuses a tar with a ../ entry and a body over the limit', async () => {
    const beat = superior.pack(
      EBD_TYPES.heartbeat,
      '<ConnectionCheck><RptTime>2026-12-02 08:00:00</RptTime></ConnectionCheck>',
    );
    const extra = writeTar([{ name: 'aaaa', data: Buffer.from('x') }], Date.now());
    // The same entry renamed ../x, its checksum made right again.
    extra.write('../x', 0, 'ascii');
    extra.write('        ', 148, 'ascii');
    const sum = extra.subarray(0, 512).reduce((a, b) => a + b, 0);
    extra.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'ascii');
    const evil = Buffer.concat([extra.subarray(0, 1024), beat.tar]);
    const bad = await api(s.url)
      .post('/superior/ebd')
      .set('Content-Type', 'application/x-tar')
      .send(evil)
      .expect(400);
    assert.match(bad.body.message as string, /not allowed: \.\.\/x/);

    const huge = Buffer.alloc(INBOUND_MAX_BYTES + 128 * 1024, 1);
    const tooLarge = await api(s.url)
      .post('/superior/ebd')
      .set('Content-Type', 'application/x-tar')
      .send(huge)
      .ok(() => true);
    assert.equal(tooLarge.status, 413);
  });

  it('sweeps finished packages 90 days after their last change', async () => {
    assert.ok((await packages('&status=sent')).length > 0);
    assert.ok((await packages('&status=received')).length > 0);
    const before = s.clock.now().getTime();
    // Only the link's round, at the later time (the clock itself stays: the other jobs keep theirs).
    await s.server.app.get(SuperiorLink).tick(new Date(before + KEEP_MS + 2 * 3_600_000));
    const left = await packages();
    assert.deepEqual(
      left.filter((p) => (p.updatedAt as number) < before),
      [],
    );
  });

  it('keeps the link off without SUPERIOR_URL', async () => {
    const plain = await startTestServer();
    try {
      const status = (
        await api(plain.url, plain.adminToken).get('/api/superior/status').expect(200)
      ).body;
      assert.equal(status.enabled, false);
      await api(plain.url).post('/superior/ebd').send(Buffer.from('x')).expect(404);
      const ready = await api(plain.url).get('/health/ready');
      assert.equal(ready.body.checks.superior, undefined);
    } finally {
      await plain.close();
    }
  });
});

describe('superior platform link: a station that cannot sign', () => {
  const superior = new FakeSuperior();
  const dataDir = tempDir();
  let s: TestServer | undefined;

  beforeAll(async () => {
    await superior.start();
    // Its first start, without a superior: the key made then is Ed25519 (the default).
    await (await startTestServer({ dataDir })).close();
    // Now told to speak SM2 to a superior, before anyone ran `keys rotate`.
    s = await startTestServer({
      dataDir,
      env: superior.env(),
    });
  }, 60_000);

  afterAll(async () => {
    await s?.close();
    await superior.stop();
  });

  it('answers 503 SIGNING_KEY_MISMATCH and acts on nothing until the key is rotated', async () => {
    const server = s!;
    const status = (
      await api(server.url, server.adminToken).get('/api/superior/status').expect(200)
    ).body;
    assert.match(status.keyProblem, /is ed25519, the superior expects sm2/);
    const ebm = superior.pack(
      EBD_TYPES.ebm,
      ebmXml('61100000000000000503', '611026100001', Date.now(), { endless: true }),
    );
    const refused = await postPackage(server.url, ebm.tar, 'application/x-tar', 503);
    const error = JSON.parse(refused.body.toString('utf8')) as { error: string; message: string };
    assert.equal(error.error, 'SIGNING_KEY_MISMATCH');
    assert.match(error.message, /keys rotate/);
    // Nothing that could not be answered was acted on: no alert, no package kept.
    const alerts = (
      await api(server.url, server.adminToken).get('/api/alerts?source=superior').expect(200)
    ).body;
    assert.equal(alerts.total, 0);
    const kept = (
      await api(server.url, server.adminToken)
        .get('/api/superior/packages?direction=in')
        .expect(200)
    ).body;
    assert.equal(kept.total, 0);

    // Once rotated to SM2, the same route answers with a signed receipt.
    await server.server.app.get(ServerKeys).rotate();
    const after = (await api(server.url, server.adminToken).get('/api/superior/status').expect(200))
      .body;
    assert.equal(after.keyProblem, null);
    const beat = superior.pack(
      EBD_TYPES.heartbeat,
      '<ConnectionCheck><RptTime>2026-12-02 08:00:00</RptTime></ConnectionCheck>',
    );
    const receipt = parsePackage((await postPackage(server.url, beat.tar)).body);
    assert.equal(verifyPackage(receipt, 'sm2', after.publicKey as string), null);
    assert.equal(readResponse(receipt).code, '1');
  }, 60_000);
});
