import assert from 'node:assert/strict';
import { describe, it, beforeAll, afterAll } from '@jest/globals';
import { createBroadcast, newClip } from './support/broadcasts.js';
import { runCli } from './support/cli.js';
import { fixtures } from './support/fixtures.js';
import { eventually } from './support/mqtt.js';
import { api, startTestServer, tempDir, TestServer, tokenFor } from './support/server.js';
import { provisionedKeys, Received, VerifyingDevice } from './support/verifying-device.js';
import { SequenceAllocator } from '../src/signing/sequence-allocator.js';
import { ServerKeys } from '../src/signing/server-keys.js';
import { UNKNOWN_KEY_RESEND_MS } from '../src/devices/key-announcer.js';
import { checkCommand } from '../src/contract/signing.js';
import { decode } from '../src/contract/decode.js';

const signedOk = (r: Received, what: string) => {
  assert.deepEqual(
    r.check.ok ? { ok: true, signed: r.check.signed } : r.check,
    { ok: true, signed: true },
    `${what} (${String(r.message.type)}) verifies`,
  );
};

/** Every command the device received, in order, passed its checks; their seqs strictly grow. */
function allVerifiedInOrder(d: VerifyingDevice): number[] {
  const seqs = d.received.map((r) => {
    signedOk(r, `device=${d.device.id} command ${String(r.message.id)}`);
    return r.message.seq as number;
  });
  for (let i = 1; i < seqs.length; i++)
    assert.ok(seqs[i] > seqs[i - 1], `seq ${seqs[i]} after ${seqs[i - 1]} at ${i}`);
  return seqs;
}

/** Resolves once everything sent to the device before has arrived: a ping and its pong. */
async function flushed(s: TestServer, d: VerifyingDevice): Promise<void> {
  await api(s.url, s.adminToken).post(`/api/devices/${d.device.id}/ping`).expect(200);
}

describe('signed commands (COMMAND_SIGNING=optional, Ed25519)', () => {
  let s: TestServer;
  let fx: ReturnType<typeof fixtures>;
  let town: string;
  const devices: VerifyingDevice[] = [];
  const device = async (verifies?: string[]) => {
    const created = await fx.newDevice((await fx.newVillage(town)).code);
    const d = new VerifyingDevice(s, created, await provisionedKeys(s));
    devices.push(d);
    await d.connect(s, verifies);
    return d;
  };

  beforeAll(async () => {
    s = await startTestServer();
    fx = fixtures(s.url, s.adminToken);
    town = (await fx.newTown()).code;
  });
  afterAll(async () => {
    for (const d of devices) await d.close();
    await s?.close();
  });

  it('sends a device coming online `keys`, then `config` saying optional, both signed; records its hello `verifies`', async () => {
    const d = await device(['ed25519']);
    const keys = await d.next('keys');
    const config = await d.next('config');
    signedOk(keys, 'keys');
    signedOk(config, 'config');
    assert.ok((keys.message.seq as number) < (config.message.seq as number), 'keys first');
    assert.equal(d.received[0].message.type, 'keys', 'before anything else');
    assert.equal(config.message.signing, 'optional');
    assert.equal(config.message.to, d.device.id);
    const active = await s.server.app.get(ServerKeys).active();
    assert.equal(config.message.kid, active.kid);
    const ttl = (config.message.exp as number) - (config.message.ts as number);
    assert.ok(ttl >= 299_000 && ttl <= 301_000, `exp is about 300 s after ts: ${ttl}`);
    assert.deepEqual(keys.message.keys, [
      { kid: active.kid, alg: 'ed25519', publicKey: active.publicKey },
    ]);
    assert.deepEqual(keys.message.revoked, []);

    const shown = await api(s.url, s.adminToken).get(`/api/devices/${d.device.id}`).expect(200);
    assert.deepEqual(shown.body.verifiesSignatures, ['ed25519']);
    const silent = await device([]);
    const listed = await api(s.url, s.adminToken)
      .get(`/api/devices/${silent.device.id}`)
      .expect(200);
    assert.deepEqual(listed.body.verifiesSignatures, [], 'a device that does not say');
  });

  it('signs ping, volume, play (a fan-out: one sequence statement) and stop; seqs grow per device', async () => {
    const clip = await newClip(s, 1);
    const trio = [await device(), await device(), await device()];
    for (const d of trio) await d.next('config');
    await flushed(s, trio[0]);
    await api(s.url, s.adminToken)
      .post(`/api/devices/${trio[1].device.id}/volume`)
      .send({ volume: 40 })
      .expect(200);

    const allocator = s.server.app.get(SequenceAllocator);
    const before = allocator.statementCount;
    const plays = trio.map((d) => d.next('play'));
    const b = await createBroadcast(s, {
      title: '签名测试',
      clipId: clip.id,
      level: 'routine',
      target: { devices: trio.map((d) => d.device.id) },
    });
    const received = await Promise.all(plays);
    assert.equal(allocator.statementCount - before, 1, 'three plays, one statement');
    for (const [i, r] of received.entries()) {
      signedOk(r, 'play');
      assert.equal(r.message.to, trio[i].device.id);
      assert.equal(r.message.broadcastId, b.id);
    }

    const stops = trio.map((d) => d.next('stop'));
    await api(s.url, s.adminToken)
      .post(`/api/broadcasts/${b.id}/cancel`)
      .send({ reason: 'test' })
      .expect(200);
    for (const r of await Promise.all(stops)) signedOk(r, 'stop');
    for (const d of trio) await flushed(s, d);

    for (const d of trio) {
      const seqs = allVerifiedInOrder(d);
      assert.deepEqual(
        d.received.map((r) => r.message.type).filter((t) => t !== 'ping'),
        d === trio[1]
          ? ['keys', 'config', 'volume', 'play', 'stop']
          : ['keys', 'config', 'play', 'stop'],
      );
      assert.ok(seqs.length >= 4);
    }
  });

  it('gives every send of a command a new seq and signature; a captured copy is refused as replayed', async () => {
    const d = await device();
    await d.next('config');
    await flushed(s, d);
    await flushed(s, d);
    const [first, second] = d.all('ping');
    assert.notEqual(first.message.seq, second.message.seq);
    assert.notEqual(first.message.sig, second.message.sig);
    // A captured command published again is refused by the device as a replay.
    const replay = checkCommand(first.message, {
      deviceId: d.device.id,
      keys: d.keys,
      lastSeq: d.lastSeq,
      now: s.clock.now().getTime(),
      required: false,
    });
    assert.equal(replay.ok ? 'ok' : replay.reason, 'replayed');
  });

  it('sends `keys` again to a device that reports unknown_key, at most once a minute', async () => {
    const d = await device();
    await d.next('config');
    const rejected = (n: number) => ({
      v: 1,
      type: 'rejected',
      id: `rej-${n}`,
      ts: Date.now(),
      ref: 'config-x',
      command: 'config',
      reason: 'unknown_key',
      kid: 'ed25519-0000000000000000',
    });
    const again = d.next('keys');
    await d.publishEvent(rejected(1));
    signedOk(await again, 'keys after unknown_key');
    await d.publishEvent(rejected(2));
    await flushed(s, d);
    assert.equal(d.all('keys').length, 2, 'a second report within the minute gets nothing');
    s.clock.advance(UNKNOWN_KEY_RESEND_MS + 1000);
    const third = d.next('keys');
    await d.publishEvent(rejected(3));
    signedOk(await third, 'keys a minute later');
  });

  it('lists the public keys at GET /api/keys (viewer; never a private key), documented', async () => {
    await api(s.url).get('/api/keys').expect(401);
    const viewer = await tokenFor(s, 'viewer');
    const res = await api(s.url, viewer).get('/api/keys').expect(200);
    const active = await s.server.app.get(ServerKeys).active();
    assert.equal(res.body.active, active.kid);
    assert.equal(res.body.signing, 'optional');
    assert.deepEqual(res.body.revoked, []);
    assert.equal(res.body.items.length, 1);
    assert.deepEqual(Object.keys(res.body.items[0]).sort(), [
      'alg',
      'createdAt',
      'endorsedBy',
      'endorsement',
      'kid',
      'publicKey',
      'revokedAt',
      'status',
      'until',
    ]);
    assert.ok(!res.text.includes(active.privateKey), 'no private key in the answer');
    assert.ok(!s.rawLogs.some((l) => l.includes(active.privateKey)), 'nor in any log line');
    const doc = (await api(s.url).get('/api/docs-json').expect(200)).body as {
      paths: Record<string, Record<string, unknown>>;
    };
    assert.ok(doc.paths['/api/keys']?.get, 'GET /api/keys is in the OpenAPI document');
  });
});

describe('sequence numbers across a restart, and key rotation through the CLI', () => {
  const dataDir = tempDir();
  const env = { DATA_DIR: dataDir, SEED_SAMPLE: 'false' };
  let s: TestServer | undefined;
  let d: VerifyingDevice | undefined;
  afterAll(async () => {
    await d?.close();
    await s?.close();
  });

  it('continues the sequence after a restart on the same SQLite file; rotate and revoke reach the device', async () => {
    s = await startTestServer({ dataDir });
    const fx = fixtures(s.url, s.adminToken);
    const village = (await fx.newVillage((await fx.newTown()).code)).code;
    d = new VerifyingDevice(s, await fx.newDevice(village), await provisionedKeys(s));
    await d.connect();
    await d.next('keys');
    await d.next('config');
    await flushed(s, d);
    const beforeRestart = d.lastSeq;
    assert.ok(beforeRestart >= 3);
    await d.close();
    await s.close();

    s = await startTestServer({ dataDir });
    const adminToken = s.adminToken;
    await d.connect(s);
    const keysAfter = await d.next('keys');
    signedOk(keysAfter, 'keys after the restart (a repeated seq would be refused as replayed)');
    assert.ok((keysAfter.message.seq as number) > beforeRestart);
    await d.next('config');
    await flushed(s, d);

    const oldKid = (await s.server.app.get(ServerKeys).active()).kid;
    const rotated = await runCli(['keys', 'rotate'], env);
    assert.equal(rotated.code, 0, rotated.stderr);
    const newKid = /New active key (\S+)/.exec(rotated.stdout)?.[1];
    assert.ok(newKid && newKid !== oldKid, rotated.stdout);
    // The running server notices at its next refresh (a tick here) and tells the online device.
    const announced = d.next('keys');
    await s.tick();
    const announcement = await announced;
    signedOk(announcement, 'the announcement, checked with the keys it brings');
    assert.equal(announcement.message.kid, newKid);
    const listed = announcement.message.keys as {
      kid: string;
      until?: number;
      endorsedBy?: string;
    }[];
    assert.deepEqual(
      listed.map((k) => k.kid),
      [newKid, oldKid],
    );
    assert.equal(listed[0].endorsedBy, oldKid);
    assert.ok((listed[1].until ?? 0) > s.clock.now().getTime() + 167 * 3_600_000, 'old key: 168 h');
    assert.ok(d.keys.has(newKid!), 'the device took the new key');
    await flushed(s, d);
    const ping = d.all('ping').at(-1)!;
    signedOk(ping, 'a command signed with the new key');
    assert.equal(ping.message.kid, newKid);

    const refused = await runCli(['keys', 'revoke', newKid!], env);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /rotate first/);
    const unknown = await runCli(['keys', 'revoke', 'ed25519-ffffffffffffffff'], env);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /Key ed25519-ffffffffffffffff does not exist/);

    const revoked = await runCli(['keys', 'revoke', oldKid], env);
    assert.equal(revoked.code, 0, revoked.stderr);
    const told = d.next('keys');
    await s.tick();
    const revocation = await told;
    signedOk(revocation, 'the revocation announcement');
    assert.deepEqual(revocation.message.revoked, [oldKid]);
    assert.equal(d.keys.get(oldKid)?.revoked, true, 'the device will refuse the old key');
    const listing = await runCli(['keys', 'list', '--json'], env);
    assert.equal(listing.code, 0, listing.stderr);
    const json = JSON.parse(listing.stdout) as { active: string; revoked: string[] };
    assert.equal(json.active, newKid);
    assert.deepEqual(json.revoked, [oldKid]);
    const shown = await api(s.url, adminToken).get('/api/keys').expect(200);
    assert.deepEqual(shown.body.revoked, [oldKid]);
    allVerifiedInOrder(d);
  });
});

describe('COMMAND_SIGNING=off', () => {
  let s: TestServer;
  let d: VerifyingDevice;
  beforeAll(async () => {
    s = await startTestServer({ env: { COMMAND_SIGNING: 'off' } });
  });
  afterAll(async () => {
    await d?.close();
    await s?.close();
  });

  it('sends commands unsigned and no `keys`', async () => {
    const fx = fixtures(s.url, s.adminToken);
    const village = (await fx.newVillage((await fx.newTown()).code)).code;
    d = new VerifyingDevice(s, await fx.newDevice(village), []);
    await d.connect(s, []);
    const config = await d.next('config');
    await flushed(s, d);
    for (const r of d.received) {
      assert.deepEqual(r.check, { ok: true, signed: false });
      for (const field of ['to', 'seq', 'exp', 'kid', 'sig', 'signing'])
        assert.equal(r.message[field], undefined, `${String(r.message.type)} has no ${field}`);
    }
    assert.equal(config.message.type, 'config');
    assert.deepEqual(
      d.received.map((r) => r.message.type),
      ['config', 'ping'],
      'no keys',
    );
  });
});

describe('COMMAND_SIGNING=required with COMMAND_SIGNING_ALG=sm2', () => {
  let s: TestServer;
  let d: VerifyingDevice;
  beforeAll(async () => {
    s = await startTestServer({ env: { COMMAND_SIGNING: 'required', COMMAND_SIGNING_ALG: 'sm2' } });
  });
  afterAll(async () => {
    await d?.close();
    await s?.close();
  });

  it('signs with an SM2 key and tells devices to refuse unsigned commands', async () => {
    const keys = await provisionedKeys(s);
    assert.deepEqual(
      keys.map((k) => k.alg),
      ['sm2'],
    );
    const fx = fixtures(s.url, s.adminToken);
    const village = (await fx.newVillage((await fx.newTown()).code)).code;
    d = new VerifyingDevice(s, await fx.newDevice(village), keys);
    await d.connect(s, ['sm2']);
    const config = await d.next('config');
    assert.equal(config.message.signing, 'required');
    assert.match(String(config.message.kid), /^sm2-[0-9a-f]{16}$/);
    await flushed(s, d);
    assert.equal(d.required, true);
    allVerifiedInOrder(d);
    assert.deepEqual(
      d.received.map((r) => r.message.type),
      ['keys', 'config', 'ping'],
    );
  });

  it('keeps a `keys` announcement within a device’s 4 KiB payload limit after many rotations', async () => {
    const keys = s.server.app.get(ServerKeys);
    const kids: string[] = [];
    // 40 rotations and 30 revocations: ten SM2 keys and thirty revoked ids would not fit.
    // The device keeps up with each rotation, as it would with rotations days apart (one that
    // misses more than nine in a row can no longer follow the chain: docs/operations.md).
    for (let i = 0; i < 40; i++) {
      const made = await keys.rotate();
      kids.push(made.endorsedBy!);
      await eventually(() => d.keys.has(made.kid), 20_000, `rotation ${i + 1} announced`);
    }
    for (const kid of kids.slice(0, 30)) await keys.revoke(kid);
    const { keys: announced, revoked } = await keys.published();
    assert.equal(announced[0].kid, (await keys.active()).kid, 'the active key comes first');
    assert.equal(announced[1].kid, kids.at(-1), 'then the newest retiring one');
    assert.ok(revoked.length < 30, `the oldest revoked ids are left out: ${revoked.length}`);
    await eventually(() => d.keys.get(kids[29])?.revoked === true, 20_000, 'the last revocation');
    const announcement = d.all('keys').at(-1)!.message;
    assert.deepEqual(announcement.revoked, revoked);
    const bytes = Buffer.byteLength(JSON.stringify(announcement));
    assert.ok(bytes <= 4096, `${bytes} bytes`);
    assert.equal(decode('cmd', JSON.stringify(announcement)).ok, true);
    // Every announcement on the way was followed: the device holds the active key now.
    allVerifiedInOrder(d);
    assert.ok(d.keys.has(announced[0].kid));
    await flushed(s, d);
    assert.equal(d.all('ping').at(-1)!.message.kid, announced[0].kid);
  });
});

describe('a key past its overlap', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer({ env: { KEY_OVERLAP_H: '1' } });
  });
  afterAll(async () => {
    await s?.close();
  });

  it('is announced as revoked, so it vouches for nothing even on a device without a clock', async () => {
    const keys = s.server.app.get(ServerKeys);
    const old = (await keys.active()).kid;
    const fresh = (await keys.rotate()).kid;
    const during = await keys.published();
    assert.deepEqual(
      during.keys.map((k) => k.kid),
      [fresh, old],
    );
    assert.deepEqual(during.revoked, []);
    await s.advance(3_600_000 + 1);
    const after = await keys.published();
    assert.deepEqual(
      after.keys.map((k) => k.kid),
      [fresh],
    );
    assert.deepEqual(after.revoked, [old]);
  });
});
