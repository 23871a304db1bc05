import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import { signCap } from '../src/alerts/cap/cap-signature.js';
import { makeAudio } from './support/audio.js';
import { capTime, capXml, CapInfoSpec, CapSpec, testCertificate } from './support/cap.js';
import { eventually } from './support/mqtt.js';
import { AlertsRepository } from '../src/alerts/alerts.repository.js';
import { AlertsService } from '../src/alerts/alerts.service.js';
import { api, startTestServer, tempDir, TestServer } from './support/server.js';
import { staffMember, StaffMember } from './support/staff.js';

const SENDER = 'flood@trust.example';
const RUNNING = ['scheduled', 'dispatching', 'active'];

/**
 * Update and Cancel only end what they replace when a trusted certificate of the sender signed
 * them, and only once the replacement exists. No TTS here: an alert without audio fails.
 */
describe('alerts: who may end a running warning, and when', () => {
  let s: TestServer;
  let files: Server;
  let filesUrl: string;
  let audio: Buffer;
  let person: StaffMember;
  let key: { keyPem: string; certPem: string };

  beforeAll(async () => {
    s = await startTestServer({
      seed: true,
      env: { TTS_ENGINE: 'none', ALERT_FETCH_PRIVATE: 'true' },
    });
    const dir = tempDir('dalaba-alerts-trust-');
    audio = await readFile(await makeAudio(dir, 'warning', { seconds: 2, format: 'mp3' }));
    files = createServer((req, res) => {
      // `slow`: an alert still being acted on when the next message of its sender comes.
      setTimeout(
        () => {
          res.writeHead(200, { 'Content-Type': 'audio/mpeg', 'Content-Length': audio.length });
          res.end(audio);
        },
        req.url?.includes('slow') ? 1500 : 0,
      );
    });
    await new Promise<void>((resolve) => files.listen(0, '127.0.0.1', resolve));
    filesUrl = `http://127.0.0.1:${(files.address() as AddressInfo).port}`;
    key = await testCertificate(dir, 'flood-trust');
    person = await staffMember(s, 'operator');
    await api(s.url, s.adminToken)
      .put(`/api/alert-senders/${SENDER}`)
      .send({
        name: '防汛办',
        // Unsigned messages are accepted, but only signed ones act without a person.
        policy: 'accept_unsigned',
        certificates: [key.certPem],
        autoSeverities: ['Severe'],
      })
      .expect(200);
  }, 120_000);

  afterAll(async () => {
    await new Promise((resolve) => files?.close(resolve));
    await s?.close();
  });

  const post = (xml: string) =>
    api(s.url, s.adminToken)
      .post('/api/alerts')
      .set('Content-Type', 'application/cap+xml')
      .send(xml);

  /** The warning's audio as a CAP resource the files server answers (at `path`). */
  const audioResource = (path = 'a.mp3') => ({
    mimeType: 'audio/mpeg',
    size: audio.length,
    uri: `${filesUrl}/${path}?${Math.random()}`,
    digest: createHash('sha1').update(audio).digest('hex'),
  });

  /** A message of SENDER, with audio unless `silent` (then it cannot be made: no TTS). */
  const message = (spec: CapSpec, silent = false, path = 'a.mp3') =>
    capXml({
      sender: SENDER,
      ...spec,
      infos:
        spec.msgType === 'Cancel'
          ? []
          : [
              {
                resources: silent ? [] : [audioResource(path)],
              },
            ],
    });
  const signed = (m: { xml: string }) => signCap(m.xml, key);
  const ref = (m: { sender: string; identifier: string; sent: string }) =>
    `${m.sender},${m.identifier},${m.sent}`;
  const broadcast = async (id: string) =>
    (await api(s.url, s.adminToken).get(`/api/broadcasts/${id}`).expect(200)).body as {
      status: string;
      endReason: string | null;
    };

  /** A signed Alert, broadcast at once; its broadcast's id. */
  const running = async () => {
    const m = message({});
    const res = await post(signed(m)).expect(201);
    assert.equal(res.body.outcome, 'broadcast', res.body.reason);
    assert.ok(RUNNING.includes((await broadcast(res.body.broadcastId)).status));
    return { m, id: res.body.broadcastId as string };
  };

  it('sends an unsigned alert of an accept_unsigned sender only as a draft', async () => {
    const res = await post(message({}).xml).expect(201);
    assert.equal(res.body.outcome, 'drafted', res.body.reason);
    assert.match(res.body.reason, /not signed by a trusted certificate/);
  });

  it('keeps the old warning playing when the Update’s own broadcast cannot be made', async () => {
    const first = await running();
    const update = message({ msgType: 'Update', references: ref(first.m) }, true);
    const res = await post(signed(update)).expect(201);
    assert.equal(res.body.outcome, 'failed', res.body.reason);
    assert.equal(res.body.replacedBroadcastId, null);
    assert.ok(RUNNING.includes((await broadcast(first.id)).status), 'still playing');
  });

  it('waits for an alert’s effective time, never for its onset, even through a draft', async () => {
    const effective = capTime(Date.now() + 1_800_000);
    const withAudio = (spec: CapInfoSpec) =>
      capXml({ sender: SENDER, infos: [{ ...spec, resources: [audioResource()] }] });
    const later = await post(signed(withAudio({ effective }))).expect(201);
    assert.equal(later.body.outcome, 'broadcast', later.body.reason);
    const b = (
      await api(s.url, s.adminToken).get(`/api/broadcasts/${later.body.broadcastId}`).expect(200)
    ).body as { status: string; startAt: string };
    assert.equal(b.status, 'scheduled');
    assert.equal(Date.parse(b.startAt), Date.parse(effective));

    const onset = capTime(Date.now() + 1_800_000);
    const now = await post(signed(withAudio({ onset }))).expect(201);
    assert.equal(now.body.outcome, 'broadcast', now.body.reason);
    const started = (
      await api(s.url, s.adminToken).get(`/api/broadcasts/${now.body.broadcastId}`).expect(200)
    ).body as { startAt: string };
    assert.ok(Date.parse(started.startAt) < Date.parse(onset) - 1_000_000, started.startAt);

    const drafted = await post(withAudio({ effective }).xml).expect(201);
    assert.equal(drafted.body.outcome, 'drafted', drafted.body.reason);
    const draft = (
      await api(s.url, s.adminToken).get(`/api/drafts/${drafted.body.draftId}`).expect(200)
    ).body as { payload: { startAt?: string } };
    assert.equal(Date.parse(draft.payload.startAt ?? ''), Date.parse(effective));

    // An Update goes now whatever its effective: what it replaces ends now.
    const first = await running();
    const update = capXml({
      sender: SENDER,
      msgType: 'Update',
      references: ref(first.m),
      infos: [{ effective, resources: [audioResource()] }],
    });
    const replaced = await post(signed(update)).expect(201);
    assert.equal(replaced.body.outcome, 'broadcast', replaced.body.reason);
    assert.ok(
      RUNNING.filter((x) => x !== 'scheduled').includes(
        (await broadcast(replaced.body.broadcastId)).status,
      ),
    );
    assert.equal((await broadcast(first.id)).status, 'cancelled');
  });

  it('lets a failed alert be sent again, and acts on it then', async () => {
    const m = message({}, true);
    const first = await post(signed(m)).expect(201);
    assert.equal(first.body.outcome, 'failed', first.body.reason);
    const again = await post(signed(m)).expect(201);
    assert.notEqual(again.body.outcome, 'duplicate');
    assert.notEqual(again.body.id, first.body.id);
  });

  it('ends nothing on an unsigned Cancel: the operator is told which broadcast to cancel', async () => {
    const first = await running();
    const res = await post(message({ msgType: 'Cancel', references: ref(first.m) }).xml).expect(
      201,
    );
    assert.equal(res.body.outcome, 'recorded', res.body.reason);
    assert.match(res.body.reason, new RegExp(`cancel broadcast ${first.id} by hand`));
    assert.ok(RUNNING.includes((await broadcast(first.id)).status), 'still playing');

    const cancel = message({ msgType: 'Cancel', references: ref(first.m) });
    const signedRes = await post(signed(cancel)).expect(201);
    assert.equal(signedRes.body.outcome, 'cancelled', signedRes.body.reason);
    assert.equal((await broadcast(first.id)).endReason, `预警已取消 ${cancel.identifier}`);
  });

  it('drafts an unsigned Update; approving it, and only that, replaces the old broadcast', async () => {
    const first = await running();
    const update = message({ msgType: 'Update', references: ref(first.m) });
    const res = await post(update.xml).expect(201);
    assert.equal(res.body.outcome, 'drafted', res.body.reason);
    assert.ok(RUNNING.includes((await broadcast(first.id)).status), 'still playing meanwhile');
    const approved = await api(s.url, person.token)
      .post(`/api/drafts/${res.body.draftId}/approve`)
      .expect(200);
    assert.ok(RUNNING.includes((await broadcast(approved.body.broadcast.id)).status));
    const old = await broadcast(first.id);
    assert.equal(old.status, 'cancelled');
    assert.equal(old.endReason, `由更新替换 ${update.identifier}`);

    // The Update's own row says what happened, stored (not only worked out when it is read).
    const shown = (await api(s.url, s.adminToken).get(`/api/alerts/${res.body.id}`).expect(200))
      .body;
    assert.equal(shown.outcome, 'drafted');
    assert.equal(shown.broadcastId, approved.body.broadcast.id);
    assert.equal(shown.replacedBroadcastId, first.id);
    const row = await s.server.app.get(AlertsRepository).find(res.body.id);
    assert.equal(row?.broadcastId, approved.body.broadcast.id);
    assert.equal(row?.replacedBroadcastId, first.id);
  });

  it('replaces at once on a signed Update, after its broadcast is made', async () => {
    const first = await running();
    const update = message({ msgType: 'Update', references: ref(first.m) });
    const res = await post(signed(update)).expect(201);
    assert.equal(res.body.outcome, 'broadcast', res.body.reason);
    assert.equal(res.body.replacedBroadcastId, first.id);
    assert.equal((await broadcast(first.id)).status, 'cancelled');

    // A Cancel naming only the first message also ends the Update's broadcast.
    const cancel = message({ msgType: 'Cancel', references: ref(first.m) });
    const c = await post(signed(cancel)).expect(201);
    assert.equal(c.body.outcome, 'cancelled', c.body.reason);
    assert.equal((await broadcast(res.body.broadcastId)).status, 'cancelled');
  });

  it('ends the old warning when a signed Update moves the area out of the county', async () => {
    const first = await running();
    const away = capXml({
      sender: SENDER,
      msgType: 'Update',
      references: ref(first.m),
      // 新城区 of Xi'an: another county.
      infos: [{ areas: [{ geocodes: [{ valueName: 'GB/T 2260', value: '610102' }] }] }],
    });
    const unsigned = await post(away.xml).expect(201);
    assert.equal(unsigned.body.outcome, 'recorded', unsigned.body.reason);
    assert.match(unsigned.body.reason, new RegExp(`cancel broadcast ${first.id} by hand`));
    assert.ok(RUNNING.includes((await broadcast(first.id)).status), 'unsigned: still playing');

    const signedAway = capXml({
      sender: SENDER,
      msgType: 'Update',
      references: ref(first.m),
      infos: [{ areas: [{ geocodes: [{ valueName: 'GB/T 2260', value: '610102' }] }] }],
    });
    const res = await post(signed(signedAway)).expect(201);
    assert.equal(res.body.outcome, 'cancelled', res.body.reason);
    assert.match(res.body.reason, /area left the county/);
    assert.equal(res.body.replacedBroadcastId, first.id);
    assert.equal((await broadcast(first.id)).status, 'cancelled');
  });

  it('plays a drill’s or a test’s own audio as it is without TTS, and says why', async () => {
    const actual = await post(message({}).xml).expect(201);
    assert.ok(actual.body.clipId, actual.body.reason);
    for (const [status, word] of [
      ['Exercise', '演练'],
      ['Test', '测试'],
    ]) {
      const res = await post(message({ status }).xml).expect(201);
      assert.equal(res.body.outcome, 'drafted', res.body.reason);
      assert.equal(res.body.clipId, actual.body.clipId, `${status}: the file as it is`);
      assert.match(
        res.body.reason,
        new RegExp(`spoken ${word} marker could not be added.*TTS_ENGINE=none`),
      );
    }
    assert.doesNotMatch(actual.body.reason, /marker/);
  });

  it('acts on an Update only after the Alert it refers to, even when they come together', async () => {
    const first = message({}, false, 'slow.mp3');
    const alertAnswer = post(signed(first)).then((r) => r);
    // The Alert is on record, its audio still coming: the Update arrives now.
    await eventually(
      async () =>
        (
          (await api(s.url, s.adminToken).get('/api/alerts?outcome=recorded&limit=100').expect(200))
            .body.items as { identifier: string }[]
        ).some((a) => a.identifier === first.identifier),
      10_000,
      'the Alert being acted on',
    );
    const update = message({ msgType: 'Update', references: ref(first) });
    const u = await post(signed(update)).expect(201);
    const a = await alertAnswer;
    assert.equal(a.body.outcome, 'broadcast', a.body.reason);
    assert.equal(u.body.outcome, 'broadcast', u.body.reason);
    assert.equal(u.body.replacedBroadcastId, a.body.broadcastId);
    assert.equal((await broadcast(a.body.broadcastId)).status, 'cancelled');
  });
});

describe('alerts: a stop while an alert is being acted on', () => {
  it('finds a drill’s joined clip again at the next start instead of joining it twice', async () => {
    const dataDir = tempDir('dalaba-alerts-resume-drill-');
    const audio = await readFile(await makeAudio(dataDir, 'drill', { seconds: 2, format: 'mp3' }));
    const m = capXml({
      sender: 'drill@resume.example',
      status: 'Exercise',
      infos: [{ resources: [{ mimeType: 'audio/mpeg', derefUri: audio.toString('base64') }] }],
    });
    const clips = async (t: TestServer) =>
      (await api(t.url, t.adminToken).get('/api/clips').expect(200)).body.total as number;
    let id: string;
    let clipId: string;
    let before: number;
    const first = await startTestServer({ seed: true, dataDir });
    try {
      const res = await api(first.url, first.adminToken)
        .post('/api/alerts')
        .set('Content-Type', 'application/cap+xml')
        .send(m.xml)
        .expect(201);
      assert.equal(res.body.outcome, 'drafted', res.body.reason);
      ({ id, clipId } = res.body as { id: string; clipId: string });
      const clip = (await api(first.url, first.adminToken).get(`/api/clips/${clipId}`).expect(200))
        .body;
      assert.notEqual(clip.originalName, 'alert-resource', 'the drill, not the resource alone');
      assert.ok(clip.durationMs > 4000, `${clip.durationMs} ms: the 2 s resource and the marks`);
      before = await clips(first);
      // As a stop before its outcome was stored leaves it.
      await first.server.app.get(AlertsRepository).update(id, {
        outcome: 'recorded',
        reason: 'being processed',
        clipId: null,
        draftId: null,
      });
    } finally {
      await first.close();
    }
    const s = await startTestServer({ seed: true, dataDir });
    try {
      await s.server.app.get(AlertsService).resumed();
      const a = (await api(s.url, s.adminToken).get(`/api/alerts/${id}`).expect(200)).body;
      assert.equal(a.outcome, 'drafted', a.reason);
      assert.equal(a.clipId, clipId, 'the clip joined before the stop');
      assert.equal(await clips(s), before, 'no clip made twice');
    } finally {
      await s.close();
    }
  }, 180_000);

  it('acts on it at the next start, finding what it already made instead of making it twice', async () => {
    const dataDir = tempDir('dalaba-alerts-resume-');
    const first = await startTestServer({ seed: true, dataDir });
    const m = capXml({ sender: 'nobody@resume.example', infos: [{}] });
    let draftId: string;
    let id: string;
    try {
      const res = await api(first.url, first.adminToken)
        .post('/api/alerts')
        .set('Content-Type', 'application/cap+xml')
        .send(m.xml)
        .expect(201);
      assert.equal(res.body.outcome, 'drafted', res.body.reason);
      ({ id, draftId } = res.body as { id: string; draftId: string });
      // As a stop after its draft was made, before its outcome was stored, leaves it.
      await first.server.app
        .get(AlertsRepository)
        .update(id, { outcome: 'recorded', reason: 'being processed', draftId: null });
    } finally {
      await first.close();
    }
    const s = await startTestServer({ seed: true, dataDir });
    try {
      await s.server.app.get(AlertsService).resumed();
      const a = (await api(s.url, s.adminToken).get(`/api/alerts/${id}`).expect(200)).body;
      assert.equal(a.outcome, 'drafted', a.reason);
      assert.equal(a.draftId, draftId, 'the draft made before the stop, not a second one');
      const again = await api(s.url, s.adminToken)
        .post('/api/alerts')
        .set('Content-Type', 'application/cap+xml')
        .send(m.xml)
        .expect(200);
      assert.equal(again.body.outcome, 'duplicate');
    } finally {
      await s.close();
    }
  }, 120_000);
});
