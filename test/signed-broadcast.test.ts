/**
 * The whole trust chain with real parts: the server signs, the reference agent verifies with the
 * keys of its provisioning bundle (required mode), a forgery published with broker access is
 * refused and shown to staff, the sequence continues across a server restart, a rotation through
 * the CLI keeps the device playing, and what it played verifies in the evidence chain and in a
 * certificate checked offline.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, it } from '@jest/globals';
import type { DeviceAgent } from '../devices/agent.js';
import { parseProvisioningBundle } from '../devices/provisioning.js';
import { deviceTopic, encode, type PlayCommand } from '../src/contract/index.js';
import { MqttTransport } from '../src/mqtt/transport.js';
import {
  createBroadcast,
  deliveriesOf,
  DELIVERY_ENV,
  newClip,
  statusReached,
} from './support/broadcasts.js';
import { ROOT, runCli } from './support/cli.js';
import { fixtures } from './support/fixtures.js';
import { eventually, mqttUrl, startAgentOnline } from './support/mqtt.js';
import { api, startTestServer, tempDir, TestServer } from './support/server.js';

const run = promisify(execFile);

describe('signed commands end to end: server, reference agent, restart, rotation, proof', () => {
  const dataDir = tempDir();
  const stateDir = tempDir('dalaba-agent-state-');
  const env = { DATA_DIR: dataDir, SEED_SAMPLE: 'false', COMMAND_SIGNING: 'required' };
  let s: TestServer | undefined;
  let agent: DeviceAgent | undefined;
  afterAll(async () => {
    await agent?.stop();
    await s?.close();
  });

  const start = () =>
    startTestServer({ dataDir, env: { ...DELIVERY_ENV, COMMAND_SIGNING: 'required' } });

  /** Sends a level-I broadcast to the village and waits until the agent has played it. */
  async function broadcastPlayed(village: string, clipId: string, title: string) {
    const server = s!;
    let id = '';
    const done = statusReached(server, () => id, 'completed', 60_000);
    const b = await createBroadcast(server, {
      title,
      clipId,
      level: 'I',
      target: { villages: [village] },
    });
    id = b.id;
    await done;
    const [d] = await deliveriesOf(server, b.id);
    assert.equal(d.state, 'played', `${title}: ${d.state} ${d.reason ?? ''}`);
    return b.id;
  }

  it('plays what the server signed, refuses a forgery, and proves what it played', async () => {
    s = await start();
    const fx = fixtures(s.url, s.adminToken);
    const village = (await fx.newVillage((await fx.newTown()).code)).code;
    const created = await api(s.url, s.adminToken)
      .post('/api/devices')
      .send({ id: `signed-${process.pid}`, villageCode: village, type: 'village_loudspeaker' })
      .expect(201);
    const bundle = parseProvisioningBundle(JSON.stringify(created.body.provisioning));
    assert.equal(bundle.signing.mode, 'required');
    assert.ok(bundle.secret, 'the bundle of a new device holds its secret, once');
    const device = { id: bundle.deviceId, secret: bundle.secret };
    let plays = 0;
    const startAgent = async () => {
      agent = await startAgentOnline(s!, mqttUrl(s!), device, {
        serverKeys: bundle.signing.keys,
        signingRequired: true,
        stateDir,
      });
      agent.on('playback', () => plays++);
    };
    await startAgent();
    const clip = await newClip(s, 1);

    await broadcastPlayed(village, clip.id, '第一次：签名指令');
    assert.equal(plays, 1);

    // A forgery published with broker access: the agent refuses it, the server shows it to staff.
    const forged: PlayCommand = {
      v: 1,
      type: 'play',
      id: 'forged-1',
      ts: Date.now(),
      deliveryId: 'forged-delivery',
      broadcastId: 'forged-broadcast',
      level: 'I',
      clip: {
        url: 'http://127.0.0.1:9/x.mp3',
        sha256: '0'.repeat(64),
        bytes: 1,
        durationMs: 1,
        codec: 'mp3',
      },
      notBefore: Date.now(),
      expiresAt: Date.now() + 60_000,
      repeat: 1,
    };
    const refused = new Promise<string>((resolve) =>
      agent!.once('refused', (reason: string) => resolve(reason)),
    );
    await s.server.app
      .get(MqttTransport)
      .publish(deviceTopic('dalaba/v1', device.id, 'cmd'), encode(forged), { qos: 1 });
    assert.equal(await refused, 'unsigned');
    let events: { kind: string; reason: string; commandId: string | null }[] = [];
    await eventually(
      async () => {
        const res = await api(s!.url, s!.adminToken)
          .get(`/api/devices/${device.id}/security-events`)
          .expect(200);
        events = res.body;
        return events.length > 0;
      },
      10_000,
      'the security event of the refused forgery',
    );
    assert.equal(events[0].reason, 'unsigned');
    assert.equal(events[0].commandId, 'forged-1');
    assert.equal(plays, 1, 'the forgery was never played');

    // A restart: the sequence continues, so the agent (which kept its highest seq) takes it.
    await agent!.stop();
    await s.close();
    s = await start();
    await startAgent();
    await broadcastPlayed(village, clip.id, '第二次：重启之后');
    assert.equal(plays, 2);

    // A rotation through the CLI: the running server announces the new key, the agent follows.
    const rotated = await runCli(['keys', 'rotate'], env);
    assert.equal(rotated.code, 0, rotated.stderr);
    const newKid = /New active key (\S+)/.exec(rotated.stdout)?.[1];
    assert.ok(newKid, rotated.stdout);
    const taken = new Promise<void>((resolve) => {
      const on = (cmd: { type: string; kid?: string }) => {
        if (cmd.type !== 'keys' || cmd.kid !== newKid) return;
        agent!.off('command', on);
        resolve();
      };
      agent!.on('command', on);
    });
    await s.tick();
    await taken;
    const third = await broadcastPlayed(village, clip.id, '第三次：轮换密钥之后');
    assert.equal(plays, 3);

    // What was played is in the evidence chain, and its certificate checks out offline.
    const verified = await runCli(['evidence', 'verify'], env);
    assert.equal(verified.code, 0, verified.stdout + verified.stderr);
    const cert = await api(s.url, s.adminToken)
      .get(`/api/broadcasts/${third}/certificate`)
      .expect(200);
    assert.equal(cert.body.certificate.key.kid, newKid);
    const file = join(tempDir('dalaba-cert-'), 'cert.json');
    writeFileSync(file, JSON.stringify(cert.body));
    const checked = await run(process.execPath, [
      join(ROOT, 'scripts/verify-certificate.mjs'),
      file,
      '--key',
      cert.body.certificate.key.publicKey,
    ]);
    assert.match(checked.stdout, /OK/);
  });
});
