import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from '@jest/globals';
import {
  AnnouncedKey,
  applyKeyAnnouncement,
  canonicalJson,
  checkCommand,
  decode,
  endorsementInput,
  keyIdOf,
  publicKeyOf,
  signBytes,
  signingInput,
  verifyBytes,
} from '../src/contract/index.js';
import {
  literalCanonical,
  literalKeyId,
  LiteralVerifier,
  literalVerify,
} from './support/literal-device.js';
import { ROOT } from './support/cli.js';

/**
 * docs/protocol.md section 9 promises a device maker that its examples are byte-exact: this reads
 * them out of the document and checks each one with the contract's code and with the literal
 * device's own (section 9 alone: its canonical form, Node's Ed25519).
 */
const doc = readFileSync(join(ROOT, 'docs/protocol.md'), 'utf8');

/** The fenced block right after `<!-- example: name -->`. */
function example(name: string): string {
  const match = new RegExp(
    `<!-- example: ${name} -->\\s*\`\`\`(\\w+)\\n([\\s\\S]*?)\\n\`\`\``,
  ).exec(doc);
  assert.ok(match, `docs/protocol.md has the example "${name}"`);
  return match[2];
}
const json = (name: string) => JSON.parse(example(name)) as Record<string, unknown>;

/** RFC 8032 section 7.1, tests 1–3: published private keys, as the document says. */
const SEEDS = {
  1: '9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60',
  2: '4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb',
  3: 'c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7',
};
const RFC_PUBLIC = {
  1: 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a',
  2: '3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c',
  3: 'fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025',
};
function testKey(n: 1 | 2 | 3) {
  const privateKey = Buffer.from(SEEDS[n], 'hex').toString('base64url');
  const publicKey = publicKeyOf('ed25519', privateKey);
  return { alg: 'ed25519' as const, privateKey, publicKey, kid: keyIdOf('ed25519', publicKey) };
}
const [k1, k2, k3] = [testKey(1), testKey(2), testKey(3)];
const pub = (k: typeof k1) => ({ kid: k.kid, alg: k.alg, publicKey: k.publicKey });

/** One byte of the text changed (the first digit becomes another), for the negative checks. */
function oneByteChanged(text: string): string {
  const i = text.search(/[0-9]/);
  return `${text.slice(0, i)}${text[i] === '1' ? '2' : '1'}${text.slice(i + 1)}`;
}

/** Checks a signed example: its input block, its signature both ways, determinism, tampering. */
function checkSigned(name: string, key: typeof k1): Record<string, unknown> {
  const message = json(name);
  const input = example(`${name}-input`);
  const { sig, ...unsigned } = message;
  assert.equal(typeof sig, 'string');
  assert.equal(input, canonicalJson(unsigned), `${name}: the input shown is the canonical form`);
  assert.equal(input, literalCanonical(unsigned), `${name}: section 9.2 alone gives it too`);
  assert.equal(input, signingInput(message).toString('utf8'));
  assert.ok(verifyBytes('ed25519', key.publicKey, Buffer.from(input), sig as string));
  assert.ok(literalVerify(key.publicKey, input, sig as string), `${name}: Node's Ed25519 agrees`);
  // Ed25519 is deterministic: the document's signature is the only one this key makes.
  assert.equal(signBytes('ed25519', key.privateKey, Buffer.from(input)), sig);
  const tampered = oneByteChanged(input);
  assert.notEqual(tampered, input);
  assert.equal(verifyBytes('ed25519', key.publicKey, Buffer.from(tampered), sig as string), false);
  assert.equal(literalVerify(key.publicKey, tampered, sig as string), false);
  return message;
}

describe('docs/protocol.md section 9: the worked examples', () => {
  it('lists the RFC 8032 test keys with their public keys and key ids, and warns they are public', () => {
    for (const [n, k] of [
      [1, k1],
      [2, k2],
      [3, k3],
    ] as const) {
      assert.equal(Buffer.from(k.publicKey, 'base64url').toString('hex'), RFC_PUBLIC[n]);
      for (const shown of [SEEDS[n], RFC_PUBLIC[n], k.publicKey, k.kid])
        assert.ok(doc.includes(`\`${shown}\``), `key ${n}: ${shown} is in the table`);
      assert.equal(literalKeyId('ed25519', k.publicKey), k.kid);
    }
    assert.match(doc, /Never provision a device with them, never\s+let a server use them/);
  });

  it('the signed ping and play verify with key 1, and a device accepts them in order', () => {
    const ping = checkSigned('ping', k1);
    const stated = /these (\d+) bytes are what key 1 signed/.exec(doc);
    assert.equal(Number(stated?.[1]), Buffer.byteLength(example('ping-input')), 'its byte count');
    const play = checkSigned('play', k1);
    for (const cmd of [ping, play])
      assert.ok(decode('cmd', JSON.stringify(cmd)).ok, `${String(cmd.type)} is a valid command`);
    assert.equal(ping.kid, k1.kid);
    const keys = new Map([[k1.kid, pub(k1)]]);
    const state = { deviceId: 'vl-611026001201', keys, now: play.ts as number, required: true };
    assert.deepEqual(checkCommand(play, { ...state, lastSeq: 1041 }), {
      ok: true,
      signed: true,
      seq: 1042,
    });
    assert.deepEqual(checkCommand(ping, { ...state, lastSeq: 1042 }), {
      ok: true,
      signed: true,
      seq: 1043,
    });
    const literal = new LiteralVerifier('vl-611026001201', [pub(k1)], true);
    assert.deepEqual(literal.check(play, play.ts as number), { ok: true });
    assert.deepEqual(literal.check(ping, ping.ts as number), { ok: true });
    // One field changed after signing: the level of an emergency.
    const raised = { ...play, level: 'I', seq: 1044 };
    assert.equal(literal.check(raised, play.ts as number).ok, false);
    assert.deepEqual(checkCommand(raised, { ...state, lastSeq: 1043 }), {
      ok: false,
      reason: 'bad_signature',
      detail: `signature does not verify with ${k1.kid}`,
    });
  });

  it('the rejected example is what a device reports for the ping arriving again', () => {
    const ping = json('ping');
    const report = json('rejected');
    assert.ok(decode('evt', JSON.stringify(report)).ok, 'a valid rejected event');
    const verdict = checkCommand(ping, {
      deviceId: 'vl-611026001201',
      keys: new Map([[k1.kid, pub(k1)]]),
      lastSeq: 1043,
      now: ping.ts as number,
      required: false,
    });
    assert.ok(!verdict.ok);
    assert.deepEqual(
      {
        ref: report.ref,
        command: report.command,
        reason: report.reason,
        seq: report.seq,
        kid: report.kid,
        detail: report.detail,
      },
      {
        ref: ping.id,
        command: ping.type,
        reason: verdict.reason,
        seq: ping.seq,
        kid: ping.kid,
        detail: verdict.detail,
      },
    );
  });

  it('the keys announcement: key 1 endorses key 2, key 2 signs it, a device holding key 1 follows', () => {
    const announcement = checkSigned('keys', k2);
    assert.ok(decode('cmd', JSON.stringify(announcement)).ok);
    const endorsed = example('keys-endorsement-input');
    assert.equal(endorsed, endorsementInput(pub(k2)).toString('utf8'));
    assert.equal(endorsed, literalCanonical(pub(k2)));
    const entries = announcement.keys as AnnouncedKey[];
    const entry = entries.find((e) => e.kid === k2.kid)!;
    assert.equal(entry.endorsedBy, k1.kid);
    assert.ok(literalVerify(k1.publicKey, endorsed, entry.endorsement!));
    assert.equal(literalVerify(k1.publicKey, oneByteChanged(endorsed), entry.endorsement!), false);

    const held = new Map([[k1.kid, pub(k1)]]);
    const after = applyKeyAnnouncement(held, entries as AnnouncedKey[], []);
    assert.deepEqual(
      checkCommand(announcement, {
        deviceId: 'vl-611026001201',
        keys: after,
        lastSeq: 1043,
        now: announcement.ts as number,
        required: true,
      }),
      { ok: true, signed: true, seq: 1044 },
    );
    const literal = new LiteralVerifier('vl-611026001201', [pub(k1)], true);
    literal.lastSeq = 1043;
    assert.deepEqual(literal.announce(announcement, announcement.ts as number), { ok: true });
    assert.deepEqual(
      [...literal.keys.values()].map((k) => [k.kid, k.until]).sort(),
      [
        [k1.kid, entries.find((e) => e.kid === k1.kid)!.until],
        [k2.kid, undefined],
      ].sort(),
    );
    // A device that holds only a revoked key 1 cannot follow (section 9.4).
    const stranded = new LiteralVerifier('vl-611026001201', [pub(k1)], true);
    stranded.lastSeq = 1043;
    const revoking = { ...announcement, revoked: [k1.kid] };
    assert.deepEqual(stranded.announce(revoking, announcement.ts as number), {
      ok: false,
      reason: 'unknown_key',
      detail: `key ${k2.kid} is not known`,
    });
  });

  it('the device-signed played (protocol 1.1) verifies with key 3', () => {
    const played = checkSigned('played', k3);
    assert.ok(decode('evt', JSON.stringify(played)).ok, 'a valid delivery event');
    assert.equal(played.state, 'played');
  });
});
