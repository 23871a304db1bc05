import assert from 'node:assert/strict';
import { ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import { signCap } from '../src/alerts/cap/cap-signature.js';
import { BroadcastEvents } from '../src/broadcasts/broadcast-events.js';
import { credentialsPath } from '../src/seed/credentials-file.js';
import { makeAudio } from './support/audio.js';
import { deliveriesOf, statusReached } from './support/broadcasts.js';
import { capXml, CapSpec, testCertificate } from './support/cap.js';
import { ROOT } from './support/cli.js';
import { eventually, mqttUrl, next } from './support/mqtt.js';
import { api, startTestServer, tempDir, TestServer } from './support/server.js';

/** 下梁镇 of the sample county: the area every alert here names. */
const TOWN = '611026101';
const SENDER = 'flood@zhashui.example';

describe('Update and Cancel against running broadcasts, the county fleet online', () => {
  let s: TestServer;
  let fleet: ChildProcess;
  let files: Server;
  let filesUrl: string;
  const audio = new Map<string, Buffer>();
  let key: { keyPem: string; certPem: string };

  beforeAll(async () => {
    // The resources are served from 127.0.0.1, which only ALERT_FETCH_PRIVATE lets it fetch.
    s = await startTestServer({ seed: true, env: { ALERT_FETCH_PRIVATE: 'true' } });
    const dir = tempDir('dalaba-alerts-update-');
    key = await testCertificate(dir, 'zhashui-flood');
    // Long enough to be still playing when the Update comes.
    audio.set(
      '/long.mp3',
      await readFile(await makeAudio(dir, 'long', { seconds: 30, format: 'mp3' })),
    );
    files = createServer((req, res) => {
      const body = audio.get(req.url ?? '');
      if (!body) return void res.writeHead(404).end();
      res.writeHead(200, { 'Content-Type': 'audio/mpeg', 'Content-Length': body.length }).end(body);
    });
    await new Promise<void>((resolve) => files.listen(0, '127.0.0.1', resolve));
    filesUrl = `http://127.0.0.1:${(files.address() as AddressInfo).port}`;

    // The sample county's 95 devices, playing in real time.
    fleet = spawn(
      process.execPath,
      [
        'dist/devices/main.js',
        'fleet',
        '--county',
        '--credentials',
        credentialsPath(s.dataDir),
        '--url',
        mqttUrl(s),
        '--quiet',
      ],
      { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] },
    );
    await eventually(
      async () =>
        (await api(s.url, s.adminToken).get('/api/status/villages?limit=1').expect(200)).body
          .summary.devicesOnline === 95,
      60_000,
      'the county fleet online',
    );
    await api(s.url, s.adminToken)
      .put(`/api/alert-senders/${SENDER}`)
      .send({
        name: '柞水县防汛办',
        policy: 'accept_unsigned',
        // Only what this certificate signed is sent, replaced or cancelled without a person.
        certificates: [key.certPem],
        autoSeverities: ['Extreme', 'Severe'],
      })
      .expect(200);
  }, 180_000);

  afterAll(async () => {
    fleet?.kill('SIGKILL');
    await new Promise((resolve) => files?.close(resolve));
    await s?.close();
  });

  /** Posts the message signed by the sender's certificate (`unsigned`: as it is). */
  const post = (xml: string, unsigned = false) =>
    api(s.url, s.adminToken)
      .post('/api/alerts')
      .set('Content-Type', 'application/cap+xml')
      .send(unsigned ? xml : signCap(xml, key));

  const longAudio = () => {
    const body = audio.get('/long.mp3')!;
    return {
      mimeType: 'audio/mpeg',
      size: body.length,
      uri: `${filesUrl}/long.mp3`,
      digest: createHash('sha1').update(body).digest('hex'),
    };
  };

  const alert = (spec: CapSpec, info: NonNullable<CapSpec['infos']>[number] = {}) =>
    capXml({
      sender: SENDER,
      ...spec,
      infos: [{ areas: [{ geocodes: [{ valueName: 'GB/T 2260', value: TOWN }] }], ...info }],
    });

  /** Resolves when the first device of the broadcast starts playing it. */
  const playing = (id: () => string) =>
    next(
      s.server.app.get(BroadcastEvents).changes,
      (c) => c.kind === 'delivery' && c.broadcastId === id() && c.state === 'playing',
      60_000,
    );

  /** Devices of the town: each gets one delivery of a broadcast to it. */
  const townDevices = async () =>
    (await api(s.url, s.adminToken).get(`/api/devices?town=${TOWN}&limit=500`).expect(200)).body
      .total as number;

  it('replaces the running broadcast on Update: devices stop the old one and play the new, spoken by TTS', async () => {
    let firstId = '';
    const started = playing(() => firstId);
    const first = alert({}, { resources: [longAudio()] });
    const a = await post(first.xml).expect(201);
    assert.equal(a.body.outcome, 'broadcast', a.body.reason);
    firstId = a.body.broadcastId;
    await started;

    let secondId = '';
    const secondDone = statusReached(s, () => secondId, 'completed', 120_000);
    // No audio this time: the text is spoken by espeak-ng.
    const update = alert(
      { msgType: 'Update', references: `${first.sender},${first.identifier},${first.sent}` },
      { headline: '暴雨红色预警：下梁镇立即转移', description: '请立即撤离到高处。' },
    );
    const u = await post(update.xml).expect(201);
    assert.equal(u.body.outcome, 'broadcast', u.body.reason);
    assert.equal(u.body.replacedBroadcastId, firstId);
    secondId = u.body.broadcastId;
    const clip = (await api(s.url, s.adminToken).get(`/api/clips/${u.body.clipId}`).expect(200))
      .body;
    assert.equal(clip.status, 'ready');
    assert.match(clip.originalName ?? '', /^tts\./, 'the spoken clip, not the old audio');

    const old = (await api(s.url, s.adminToken).get(`/api/broadcasts/${firstId}`).expect(200)).body;
    assert.equal(old.status, 'cancelled');
    assert.equal(old.endReason, `由更新替换 ${update.identifier}`);
    const oldDeliveries = await deliveriesOf(s, firstId);
    assert.ok(oldDeliveries.length > 0);
    assert.deepEqual(
      oldDeliveries.filter((d) => d.state === 'played'),
      [],
      'no device finished the replaced message',
    );

    await secondDone;
    const devices = await townDevices();
    const played = (await deliveriesOf(s, secondId)).filter((d) => d.state === 'played');
    assert.equal(played.length, devices, 'every device of the town played the update');
  }, 240_000);

  it('cancels the running broadcast on Cancel, and then has nothing left to cancel', async () => {
    let id = '';
    const started = playing(() => id);
    const first = alert({}, { resources: [longAudio()] });
    const a = await post(first.xml).expect(201);
    id = a.body.broadcastId;
    await started;
    const reference = `${first.sender},${first.identifier},${first.sent}`;
    const cancel = alert({ msgType: 'Cancel', references: reference });
    const c = await post(cancel.xml).expect(201);
    assert.equal(c.body.outcome, 'cancelled', c.body.reason);
    assert.equal(c.body.replacedBroadcastId, id);
    const b = (await api(s.url, s.adminToken).get(`/api/broadcasts/${id}`).expect(200)).body;
    assert.equal(b.status, 'cancelled');
    assert.equal(b.endReason, `预警已取消 ${cancel.identifier}`);
    assert.deepEqual(
      (await deliveriesOf(s, id)).filter((d) => d.state === 'played'),
      [],
    );

    const again = await post(alert({ msgType: 'Cancel', references: reference }).xml).expect(201);
    assert.equal(again.body.outcome, 'recorded');
  }, 120_000);

  it('lets a Cancel of an unknown sender end nothing: the operator rejects its draft by hand', async () => {
    const first = alert({ sender: 'someone@example.cn' }, { resources: [longAudio()] });
    const a = await post(first.xml, true).expect(201);
    assert.equal(a.body.outcome, 'drafted');
    const cancel = capXml({
      sender: 'someone@example.cn',
      msgType: 'Cancel',
      references: `${first.sender},${first.identifier},${first.sent}`,
      infos: [],
    });
    const c = await post(cancel.xml, true).expect(201);
    assert.equal(c.body.outcome, 'recorded', c.body.reason);
    assert.match(c.body.reason, new RegExp(`reject draft ${a.body.draftId} by hand`));
    const draft = (await api(s.url, s.adminToken).get(`/api/drafts/${a.body.draftId}`).expect(200))
      .body;
    assert.equal(draft.status, 'pending');
  }, 60_000);
});
