import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it, beforeAll, afterAll } from '@jest/globals';
import { DeviceAgent } from '../devices/agent.js';
import {
  canonicalJson,
  generateKeyPair,
  keyIdOf,
  signBytes,
  type KeyPair,
} from '../src/contract/signing.js';
import { MetricsService } from '../src/metrics/metrics.service.js';
import {
  createBroadcast,
  DELIVERY_ENV,
  deliveriesOf,
  deliveryReached,
  newClip,
} from './support/broadcasts.js';
import { ROOT } from './support/cli.js';
import { fixtures } from './support/fixtures.js';
import { KeyedDevice } from './support/keyed-device.js';
import { mqttUrl, startAgentOnline } from './support/mqtt.js';
import { freshPostgresSchema, TEST_DATABASE_URL } from './support/postgres.js';
import { api, startTestServer, tempDir, TestServer, tokenFor } from './support/server.js';

const VERIFIER = join(ROOT, 'scripts/verify-certificate.mjs');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function run(
  file: string,
  args: string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
) {
  return new Promise<Run>((resolve) => {
    execFile(file, args, options, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

let scratch: string | undefined;
let files = 0;
/** A new directory under one temp dir for the whole file (each temp dir adds an exit hook). */
function scratchDir(): string {
  scratch ??= tempDir('dalaba-cert-');
  const dir = join(scratch, String(files++));
  mkdirSync(dir);
  return dir;
}

/** Runs the standalone verifier on `doc` (written as given, byte for byte, when a string). */
async function verifier(doc: unknown, key: string): Promise<Run> {
  const file = join(scratchDir(), 'cert.json');
  writeFileSync(file, typeof doc === 'string' ? doc : JSON.stringify(doc));
  return run(process.execPath, [VERIFIER, file, '--key', key]);
}

/** `text` with the one byte at `at` replaced by `by`. */
function oneByte(text: string, at: number, by: string): string {
  assert.ok(at >= 0, 'the place to alter was found');
  const altered = text.slice(0, at) + by + text.slice(at + 1);
  assert.equal(Buffer.byteLength(altered), Buffer.byteLength(text));
  assert.notEqual(altered, text);
  return altered;
}

/** What a dishonest station could do: sign a changed certificate with a key of its own. */
function resign(doc: { certificate: Record<string, unknown> }, key: KeyPair) {
  const certificate = {
    ...doc.certificate,
    key: { kid: keyIdOf(key.alg, key.publicKey), alg: key.alg, publicKey: key.publicKey },
  };
  const signature = signBytes(key.alg, key.privateKey, Buffer.from(canonicalJson(certificate)));
  return { certificate, signature };
}

interface Cert {
  certificate: {
    format: string;
    broadcast: { id: string; startAt: string };
    summary: Record<string, unknown>;
    villages: {
      code: string;
      outcome: string;
      coveredBy: string | null;
      reason: string | null;
      firstSoundMs: number | null;
      deviceSigned: boolean;
      deviceProofs?: {
        deviceId: string;
        deliveryId: string;
        kid: string;
        signed: string;
        sig: string;
      }[];
    }[];
    deviceKeys: { deviceId: string; kid: string; alg: string; publicKey: string }[];
    chainHead: unknown;
    key: { kid: string; alg: string; publicKey: string };
  };
  signature: string;
}

describe('coverage certificate of a real broadcast', () => {
  let s: TestServer;
  let viewer = '';
  let agent: DeviceAgent;
  let keyed: KeyedDevice;
  const v: Record<string, string> = {};
  let broadcastId = '';
  let cert: Cert;
  let text = '';

  beforeAll(async () => {
    s = await startTestServer({ env: DELIVERY_ENV });
    viewer = await tokenFor(s, 'viewer');
    const fx = fixtures(s.url, s.adminToken);
    const town = await fx.newTown({ name: '证书镇' });
    for (const name of ['signed', 'plain', 'empty'])
      v[name] = (await fx.newVillage(town.code)).code;
    const signedDevice = await fx.newDevice(v.signed);
    const plainDevice = await fx.newDevice(v.plain);
    keyed = await KeyedDevice.connect(s, signedDevice, generateKeyPair('ed25519'));
    agent = await startAgentOnline(s, mqttUrl(s), plainDevice, { speed: 0 });
    const clip = await newClip(s, 1);
    const plainPlayed = deliveryReached(s, () => broadcastId, plainDevice.id, 'played');
    broadcastId = (
      await createBroadcast(s, {
        title: '防汛转移通知',
        clipId: clip.id,
        level: 'II',
        target: { villages: [v.signed, v.plain, v.empty] },
        expiresAt: new Date(Date.now() + 600_000).toISOString(),
      })
    ).id;
    const play = await keyed.nextPlay();
    await keyed.playThrough(play.deliveryId);
    await plainPlayed;
    const res = await api(s.url, viewer)
      .get(`/api/broadcasts/${broadcastId}/certificate`)
      .expect(200);
    cert = res.body as Cert;
    text = JSON.stringify(cert);
  });
  afterAll(async () => {
    keyed?.close();
    await agent?.stop();
    await s?.close();
  });

  const village = (name: string) => cert.certificate.villages.find((x) => x.code === v[name])!;

  it('carries the coverage report’s own outcome and time to first sound for every village', async () => {
    const coverage = (
      await api(s.url, viewer).get(`/api/broadcasts/${broadcastId}/coverage`).expect(200)
    ).body;
    assert.equal(cert.certificate.format, 'dalaba-certificate/1');
    assert.equal(cert.certificate.broadcast.id, broadcastId);
    const start = Date.parse(coverage.broadcast.startAt);
    assert.deepEqual(
      cert.certificate.villages.map((x) => [
        x.code,
        x.outcome,
        x.coveredBy,
        x.reason,
        x.firstSoundMs,
      ]),
      coverage.villages.map((x: Record<string, string | null>) => [
        x.code,
        x.outcome,
        x.coveredBy,
        x.reason,
        x.firstSoundAt === null ? null : Math.max(0, Date.parse(x.firstSoundAt) - start),
      ]),
    );
    for (const k of [
      'targeted',
      'covered',
      'coveredByDevices',
      'coveredManually',
      'partial',
      'uncovered',
    ])
      assert.equal(cert.certificate.summary[k], coverage.summary[k], k);
    assert.deepEqual(
      [village('signed').outcome, village('plain').outcome, village('empty').reason],
      ['covered', 'covered', 'no_device'],
    );
    assert.equal(typeof village('signed').firstSoundMs, 'number');
  });

  it('marks the village whose device signed its played, with the proof and the device key', () => {
    const signed = village('signed');
    assert.equal(signed.deviceSigned, true);
    assert.equal(signed.deviceProofs?.length, 1);
    const proof = signed.deviceProofs![0];
    const event = JSON.parse(proof.signed) as Record<string, unknown>;
    assert.equal(event.state, 'played');
    assert.equal(event.deliveryId, proof.deliveryId);
    assert.equal(event.sig, undefined);
    assert.deepEqual(cert.certificate.deviceKeys, [
      {
        deviceId: keyed.device.id,
        kid: keyIdOf('ed25519', keyed.key!.publicKey),
        alg: 'ed25519',
        publicKey: keyed.key!.publicKey,
      },
    ]);
    // The agent's village is covered by its unsigned played: covered, not device-signed.
    assert.equal(village('plain').deviceSigned, false);
    assert.equal(village('plain').deviceProofs, undefined);
    assert.equal(cert.certificate.summary.deviceSigned, 1);
  });

  it('verifies offline with the script, given the key or a keys file', async () => {
    const { key } = cert.certificate;
    const byKey = await verifier(cert, key.publicKey);
    assert.equal(byKey.code, 0, byKey.stdout + byKey.stderr);
    assert.match(
      byKey.stdout,
      /^OK: .* 2 of 3 villages covered, 1 signed by their device \(1 device proof/,
    );
    const keysFile = join(scratchDir(), 'keys.json');
    writeFileSync(
      keysFile,
      JSON.stringify({
        keys: [
          { ...generatedKey(), status: 'active' },
          { ...key, status: 'active' },
        ],
      }),
    );
    const byFile = await verifier(cert, keysFile);
    assert.equal(byFile.code, 0, byFile.stdout + byFile.stderr);
    const other = generateKeyPair('ed25519');
    const wrongKey = await verifier(cert, other.publicKey);
    assert.equal(wrongKey.code, 1);
    assert.match(wrongKey.stdout, /^FAIL: signed by key .*not by the key given/);
  });

  it('fails when one byte is altered: an outcome, a time to first sound, a count, the signature', async () => {
    const { key } = cert.certificate;
    const signedAt = text.indexOf(`"code":"${v.signed}"`);
    const firstSound = text.indexOf('"firstSoundMs":', signedAt) + '"firstSoundMs":'.length;
    const digit = text[firstSound];
    const plainAt = text.indexOf(`"code":"${v.plain}"`);
    const outcome = text.indexOf('"outcome":"covered"', plainAt) + '"outcome":"'.length;
    const covered = text.indexOf('"covered":2') + '"covered":'.length;
    const sig = text.indexOf('"signature":"') + '"signature":"'.length;
    const cases: [string, string][] = [
      ['time to first sound', oneByte(text, firstSound, digit === '9' ? '8' : String(+digit + 1))],
      ['outcome', oneByte(text, outcome, 'C')],
      ['covered count', oneByte(text, covered, '3')],
      ['signature', oneByte(text, sig, text[sig] === 'A' ? 'B' : 'A')],
    ];
    for (const [what, altered] of cases) {
      const r = await verifier(altered, key.publicKey);
      assert.equal(r.code, 1, `${what}: ${r.stdout}${r.stderr}`);
      assert.match(r.stdout, /^FAIL: the server signature does not verify/, what);
    }
    const untouched = await verifier(text, key.publicKey);
    assert.equal(untouched.code, 0, untouched.stdout);
  });

  it('fails on a device proof that does not verify, even under a valid server signature', async () => {
    // A station signing its own figures cannot forge a device's signature.
    const station = generateKeyPair('ed25519');
    const honest = await verifier(resign(cert, station), station.publicKey);
    assert.equal(honest.code, 0, honest.stdout + honest.stderr);
    const forged = structuredClone(cert);
    const proof = forged.certificate.villages.find((x) => x.code === v.signed)!.deviceProofs![0];
    proof.signed = proof.signed.replace(
      /"ts":(\d)/,
      (_m, d: string) => `"ts":${d === '9' ? 8 : +d + 1}`,
    );
    const r = await verifier(resign(forged, station), station.publicKey);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stdout, /^FAIL: village .* device .*: the device signature does not verify/);
    const claimed = structuredClone(cert);
    claimed.certificate.villages.find((x) => x.code === v.plain)!.deviceSigned = true;
    const r2 = await verifier(resign(claimed, station), station.publicKey);
    assert.equal(r2.code, 1);
    assert.match(r2.stdout, /^FAIL: village .*: deviceSigned is true with 0 proof/);
    // A station showing one device's proof as another village's as well.
    const reused = structuredClone(cert);
    const plain = reused.certificate.villages.find((x) => x.code === v.plain)!;
    plain.deviceSigned = true;
    plain.deviceProofs = village('signed').deviceProofs;
    reused.certificate.summary.deviceSigned = 2;
    const r3 = await verifier(resign(reused, station), station.publicKey);
    assert.equal(r3.code, 1, r3.stdout + r3.stderr);
    assert.match(r3.stdout, /^FAIL: village .*: delivery .* has more than one proof/);
  });

  it('verifies with the openssl procedure of docs/certificates.md, and not once altered', async () => {
    const doc = readFileSync(join(ROOT, 'docs/certificates.md'), 'utf8');
    const block = /<!-- openssl-procedure[^>]*-->\s*```sh\n([\s\S]*?)```/.exec(doc)?.[1];
    assert.ok(block, 'docs/certificates.md has the openssl procedure');
    const check = async (content: string) => {
      const dir = scratchDir();
      writeFileSync(join(dir, 'cert.json'), content);
      return run('bash', ['-ec', block], {
        cwd: dir,
        env: { ...process.env, KEY: cert.certificate.key.publicKey },
      });
    };
    const good = await check(text);
    assert.equal(good.code, 0, good.stdout + good.stderr);
    assert.match(good.stdout, /Signature Verified Successfully/);
    const at = text.indexOf('"firstSoundMs":') + '"firstSoundMs":'.length;
    const bad = await check(oneByte(text, at, text[at] === '9' ? '8' : String(+text[at] + 1)));
    assert.notEqual(bad.code, 0);
    assert.match(bad.stdout + bad.stderr, /Signature Verification Failure/);
  });

  it('the script checks an SM2-signed certificate too (with sm-crypto, a second implementation)', async () => {
    const sm2 = generateKeyPair('sm2');
    const doc = resign(cert, sm2);
    const ok = await verifier(doc, sm2.publicKey);
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);
    const altered = JSON.stringify(doc).replace('"targeted":3', '"targeted":4');
    const r = await verifier(altered, sm2.publicKey);
    assert.equal(r.code, 1, r.stdout + r.stderr);
  });

  it('refuses to check what is not a certificate (exit 2)', async () => {
    const r = await verifier({ hello: 1 }, cert.certificate.key.publicKey);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /is not a certificate/);
    const noKey = await run(process.execPath, [VERIFIER, 'cert.json']);
    assert.equal(noKey.code, 2);
    assert.match(noKey.stderr, /usage:/);
  });

  it('answers 404 for an unknown broadcast and 400 for a bad id', async () => {
    const missing = await api(s.url, viewer)
      .get('/api/broadcasts/00000000-0000-4000-8000-000000000000/certificate')
      .expect(404);
    assert.equal(missing.body.error, 'BROADCAST_NOT_FOUND');
    await api(s.url, viewer).get('/api/broadcasts/nope/certificate').expect(400);
    await api(s.url).get(`/api/broadcasts/${broadcastId}/certificate`).expect(401);
  });
});

function generatedKey() {
  const k = generateKeyPair('ed25519');
  return { kid: keyIdOf(k.alg, k.publicKey), alg: k.alg, publicKey: k.publicKey };
}

describe('device keys (protocol 1.1)', () => {
  let s: TestServer;
  let operator = '';
  let viewer = '';
  let fx: ReturnType<typeof fixtures>;
  let town = '';
  let clip = '';
  const devices: KeyedDevice[] = [];

  beforeAll(async () => {
    s = await startTestServer({ env: DELIVERY_ENV });
    operator = await tokenFor(s, 'operator');
    viewer = await tokenFor(s, 'viewer');
    fx = fixtures(s.url, s.adminToken);
    town = (await fx.newTown()).code;
    clip = (await newClip(s, 1)).id;
  });
  afterAll(async () => {
    for (const d of devices) d.close();
    await s?.close();
  });

  /** A village with one device that connects with `key` (none when null). */
  const keyedVillage = async (key: KeyPair | null) => {
    const village = (await fx.newVillage(town)).code;
    const device = await fx.newDevice(village);
    const d = await KeyedDevice.connect(s, device, key);
    devices.push(d);
    return { village, d };
  };
  const broadcastTo = async (village: string) =>
    (
      await createBroadcast(s, {
        title: '设备签名',
        clipId: clip,
        level: 'III',
        target: { villages: [village] },
        expiresAt: new Date(Date.now() + 600_000).toISOString(),
      })
    ).id;
  const stateOf = async (broadcastId: string) => (await deliveriesOf(s, broadcastId))[0].state;
  const refusedCount = async () =>
    (await s.server.app.get(MetricsService).deliveryEvents.get()).values.find(
      (x) => x.labels.result === 'bad_device_signature',
    )?.value ?? 0;
  const keyOf = (deviceId: string, token = viewer) =>
    api(s.url, token).get(`/api/devices/${deviceId}/device-key`);
  const logged = (pattern: RegExp) => s.logs().some((l) => pattern.test(l.msg));

  it("pins a device's key from its first hello", async () => {
    const key = generateKeyPair('ed25519');
    const { d } = await keyedVillage(key);
    const res = await keyOf(d.device.id).expect(200);
    assert.equal(res.body.kid, keyIdOf('ed25519', key.publicKey));
    assert.equal(res.body.publicKey, key.publicKey);
    assert.equal(res.body.alg, 'ed25519');
  });

  it('refuses a bad device signature and counts it; the delivery does not move; a good one applies', async () => {
    const { village, d } = await keyedVillage(generateKeyPair('ed25519'));
    const id = await broadcastTo(village);
    const play = await d.nextPlay();
    for (const state of ['received', 'downloading', 'ready'])
      await d.report(play.deliveryId, state, 'none');
    const before = await refusedCount();
    await d.report(play.deliveryId, 'playing', 'broken');
    await d.report(play.deliveryId, 'playing', generateKeyPair('ed25519'));
    // A device that pinned a key signs playing and played: unsigned ones are forgeries.
    await d.report(play.deliveryId, 'played', 'none');
    assert.equal(await refusedCount(), before + 3);
    assert.equal(await stateOf(id), 'ready');
    assert.ok(logged(new RegExp(`device=${d.device.id} .*bad_device_signature`)), 'logged');
    await d.report(play.deliveryId, 'playing');
    await d.report(play.deliveryId, 'played');
    assert.equal(await stateOf(id), 'played');
    assert.equal(await refusedCount(), before + 3);
  });

  it('refuses a signed event from a device with no pinned key; takes its unsigned ones', async () => {
    const { village, d } = await keyedVillage(null);
    await keyOf(d.device.id).expect(404);
    const id = await broadcastTo(village);
    const play = await d.nextPlay();
    await d.report(play.deliveryId, 'received', 'none');
    const before = await refusedCount();
    await d.report(play.deliveryId, 'playing', generateKeyPair('ed25519'));
    assert.equal(await refusedCount(), before + 1);
    assert.equal(await stateOf(id), 'received');
    await d.report(play.deliveryId, 'playing', 'none');
    assert.equal(await stateOf(id), 'playing');
  });

  it('a changed key is not pinned and is recorded; its signatures are refused until DELETE device-key', async () => {
    const first = generateKeyPair('ed25519');
    const { village, d } = await keyedVillage(first);
    const second = generateKeyPair('ed25519');
    await d.hello(second);
    assert.equal(
      (await keyOf(d.device.id).expect(200)).body.kid,
      keyIdOf('ed25519', first.publicKey),
    );
    assert.ok(
      logged(
        new RegExp(
          `device=${d.device.id} device_key_changed: offers ${keyIdOf('ed25519', second.publicKey)}`,
        ),
      ),
      'the change is recorded',
    );
    const id = await broadcastTo(village);
    const play = await d.nextPlay();
    await d.report(play.deliveryId, 'received', 'none');
    const before = await refusedCount();
    await d.report(play.deliveryId, 'playing'); // signed with its new key
    assert.equal(await refusedCount(), before + 1);
    assert.equal(await stateOf(id), 'received');

    await api(s.url, viewer).delete(`/api/devices/${d.device.id}/device-key`).expect(403);
    await api(s.url, operator).delete(`/api/devices/${d.device.id}/device-key`).expect(204);
    const gone = await keyOf(d.device.id).expect(404);
    assert.equal(gone.body.error, 'DEVICE_KEY_NOT_PINNED');
    const again = await api(s.url, operator)
      .delete(`/api/devices/${d.device.id}/device-key`)
      .expect(404);
    assert.equal(again.body.error, 'DEVICE_KEY_NOT_PINNED');
    const audit = await api(s.url, s.adminToken).get('/api/audit?limit=50').expect(200);
    assert.ok(
      (audit.body.items as { action: string; subject: string }[]).some(
        (a) => a.action === 'DELETE /api/devices/:id/device-key' && a.subject === d.device.id,
      ),
      'the clearing is audited',
    );

    await d.hello(second);
    assert.equal(
      (await keyOf(d.device.id).expect(200)).body.kid,
      keyIdOf('ed25519', second.publicKey),
    );
    await d.report(play.deliveryId, 'playing');
    await d.report(play.deliveryId, 'played');
    assert.equal(await stateOf(id), 'played');
  });

  it('does not pin a malformed key, and answers 404 for an unknown device', async () => {
    const ed = generateKeyPair('ed25519');
    // An Ed25519 key announced as SM2: the right encoding, the wrong length for its algorithm.
    const { d } = await keyedVillage({ ...ed, alg: 'sm2' });
    await keyOf(d.device.id).expect(404);
    assert.ok(logged(new RegExp(`device=${d.device.id} hello carries a malformed device key`)));
    const unknown = await api(s.url, operator)
      .delete('/api/devices/no-such-device/device-key')
      .expect(404);
    assert.equal(unknown.body.error, 'DEVICE_NOT_FOUND');
  });
});

describe('device keys and certificates on PostgreSQL', () => {
  let s: TestServer;
  let drop: () => Promise<void>;
  let d: KeyedDevice;
  beforeAll(async () => {
    const fresh = await freshPostgresSchema();
    drop = fresh.drop;
    s = await startTestServer({
      env: { ...DELIVERY_ENV, DATABASE_URL: TEST_DATABASE_URL, DATABASE_SCHEMA: fresh.schema },
    });
  });
  afterAll(async () => {
    d?.close();
    await s?.close();
    await drop?.();
  });

  it('pins, refuses a bad signature, stores the proof and certifies the village device-signed', async () => {
    const fx = fixtures(s.url, s.adminToken);
    const village = (await fx.newVillage((await fx.newTown()).code)).code;
    const key = generateKeyPair('ed25519');
    d = await KeyedDevice.connect(s, await fx.newDevice(village), key);
    const pinned = await api(s.url, s.adminToken).get(`/api/devices/${d.device.id}/device-key`);
    assert.equal(pinned.body.kid, keyIdOf('ed25519', key.publicKey));
    const clip = await newClip(s, 1);
    const id = (
      await createBroadcast(s, {
        title: 'PG 证书',
        clipId: clip.id,
        level: 'IV',
        target: { villages: [village] },
        expiresAt: new Date(Date.now() + 600_000).toISOString(),
      })
    ).id;
    const play = await d.nextPlay();
    for (const state of ['received', 'downloading', 'ready'])
      await d.report(play.deliveryId, state, 'none');
    await d.report(play.deliveryId, 'playing', 'broken');
    assert.equal((await deliveriesOf(s, id))[0].state, 'ready');
    await d.report(play.deliveryId, 'playing');
    await d.report(play.deliveryId, 'played');
    const cert = (
      await api(s.url, s.adminToken).get(`/api/broadcasts/${id}/certificate`).expect(200)
    ).body as Cert;
    assert.deepEqual(
      cert.certificate.villages.map((x) => [x.code, x.outcome, x.deviceSigned]),
      [[village, 'covered', true]],
    );
    const r = await verifier(cert, cert.certificate.key.publicKey);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    await api(s.url, s.adminToken).delete(`/api/devices/${d.device.id}/device-key`).expect(204);
    await api(s.url, s.adminToken).get(`/api/devices/${d.device.id}/device-key`).expect(404);
  });
});
