import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { describe, it } from '@jest/globals';
import { decode } from './decode.js';
import {
  applyKeyAnnouncement,
  canonicalJson,
  checkCommand,
  endorsementInput,
  generateKeyPair,
  keyIdOf,
  type PublicKeyInfo,
  publicKeyOf,
  signBytes,
  signCommand,
  type SignatureAlgorithm,
  signingInput,
  SM2_DEFAULT_USER_ID,
  type VerifierState,
  verifyBytes,
} from './signing.js';

/** `sm-crypto`: a second SM2 implementation (devDependency, untyped), to check ours against. */
interface SmCrypto {
  sm2: {
    doSignature(
      msg: string | number[],
      privateKeyHex: string,
      options: { hash: boolean; userId: string },
    ): string;
    doVerifySignature(
      msg: string | number[],
      sigHex: string,
      publicKeyHex: string,
      options: { hash: boolean; userId: string },
    ): boolean;
    getPublicKeyFromPrivateKey(privateKeyHex: string): string;
  };
}
const smCrypto = createRequire(import.meta.url)('sm-crypto') as SmCrypto;

const hex = (b64url: string) => Buffer.from(b64url, 'base64url').toString('hex');
const b64url = (hexText: string) => Buffer.from(hexText, 'hex').toString('base64url');

/** RFC 8032, section 7.1, TEST 1 (empty message). */
const RFC8032_1 = {
  secret: '9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60',
  public: 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a',
  signature:
    'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b',
};

function keyOf(alg: SignatureAlgorithm) {
  const pair = generateKeyPair(alg);
  return { ...pair, kid: keyIdOf(alg, pair.publicKey) };
}

function stateFor(
  deviceId: string,
  keys: PublicKeyInfo[],
  over: Partial<VerifierState> = {},
): VerifierState {
  return {
    deviceId,
    keys: new Map(keys.map((k) => [k.kid, k])),
    lastSeq: 0,
    now: 1_000,
    required: false,
    ...over,
  };
}

const ping: Record<string, unknown> = { v: 1, type: 'ping', id: 'p-1', ts: 900 };

describe('Ed25519', () => {
  it('matches RFC 8032 test vector 1: public key from the seed, and the signature of ""', () => {
    const secret = b64url(RFC8032_1.secret);
    assert.equal(hex(publicKeyOf('ed25519', secret)), RFC8032_1.public);
    const sig = signBytes('ed25519', secret, Buffer.alloc(0));
    assert.equal(hex(sig), RFC8032_1.signature);
    assert.equal(verifyBytes('ed25519', b64url(RFC8032_1.public), Buffer.alloc(0), sig), true);
    assert.equal(
      verifyBytes('ed25519', b64url(RFC8032_1.public), Buffer.from([0]), sig),
      false,
      'another message',
    );
  });

  it('generates keys that sign and verify, and refuses a flipped bit or another key', () => {
    const a = keyOf('ed25519');
    const b = keyOf('ed25519');
    assert.equal(Buffer.from(a.publicKey, 'base64url').length, 32);
    assert.match(a.kid, /^ed25519-[0-9a-f]{16}$/);
    const data = Buffer.from('大喇叭 play', 'utf8');
    const sig = signBytes('ed25519', a.privateKey, data);
    assert.equal(Buffer.from(sig, 'base64url').length, 64);
    assert.equal(verifyBytes('ed25519', a.publicKey, data, sig), true);
    assert.equal(verifyBytes('ed25519', b.publicKey, data, sig), false, 'another key');
    const flipped = Buffer.from(sig, 'base64url');
    flipped[10] ^= 1;
    assert.equal(verifyBytes('ed25519', a.publicKey, data, flipped.toString('base64url')), false);
    assert.equal(verifyBytes('ed25519', a.publicKey, data, `${sig}=`), false, 'non-canonical');
    assert.equal(verifyBytes('ed25519', a.publicKey, data, 'x'), false, 'never throws');
  });
});

describe('SM2 with SM3', () => {
  it('signs what sm-crypto (a second implementation) verifies, and verifies what it signs', () => {
    const key = keyOf('sm2');
    const raw = Buffer.from(key.publicKey, 'base64url');
    assert.equal(raw.length, 65);
    assert.equal(raw[0], 4);
    assert.match(key.kid, /^sm2-[0-9a-f]{16}$/);
    assert.equal(
      smCrypto.sm2.getPublicKeyFromPrivateKey(hex(key.privateKey)),
      hex(key.publicKey),
      'same public key from the private one',
    );
    const signed = signCommand(ping, { to: 'dev-1', seq: 7, exp: 2_000 }, key);
    const input = signingInput(signed);
    const options = { hash: true, userId: SM2_DEFAULT_USER_ID };
    const ours = hex(signed.sig);
    assert.equal(
      smCrypto.sm2.doVerifySignature([...input], ours, hex(key.publicKey), options),
      true,
      'sm-crypto verifies our signature',
    );
    const tampered = signingInput({ ...signed, seq: 8 });
    assert.equal(
      smCrypto.sm2.doVerifySignature([...tampered], ours, hex(key.publicKey), options),
      false,
      'and refuses it over another message',
    );
    assert.equal(
      smCrypto.sm2.doVerifySignature([...input], ours, hex(key.publicKey), {
        hash: true,
        userId: 'another-user-id',
      }),
      false,
      'the user id is part of what is signed',
    );
    const theirs = smCrypto.sm2.doSignature([...input], hex(key.privateKey), options);
    assert.equal(verifyBytes('sm2', key.publicKey, input, b64url(theirs.padStart(128, '0'))), true);
    assert.equal(checkCommand(signed, stateFor('dev-1', [key])).ok, true);
  });
});

describe('canonical JSON (RFC 8785)', () => {
  it('sorts keys, drops whitespace and writes numbers as ECMAScript does', () => {
    assert.equal(
      canonicalJson({ b: 1, a: [true, null, 'é'], c: 1e21 }),
      '{"a":[true,null,"é"],"b":1,"c":1e+21}',
    );
    assert.equal(
      signingInput({ sig: 'x', z: 0, y: { b: 2, a: 1 } }).toString('utf8'),
      '{"y":{"a":1,"b":2},"z":0}',
      '`sig` is left out',
    );
  });
});

describe('checkCommand', () => {
  for (const alg of ['ed25519', 'sm2'] as const) {
    it(`${alg}: accepts a genuine command, then refuses each kind of tampering by its reason`, () => {
      const key = keyOf(alg);
      const state = stateFor('dev-1', [key]);
      const signed = signCommand(ping, { to: 'dev-1', seq: 5, exp: 2_000 }, key);
      assert.deepEqual(checkCommand(signed, state), { ok: true, signed: true, seq: 5 });
      assert.equal(decode('cmd', JSON.stringify(signed)).ok, true, 'the schema takes it');

      const reason = (m: Record<string, unknown>, s: VerifierState = state) => {
        const r = checkCommand(m, s);
        return r.ok ? 'ok' : r.reason;
      };
      assert.equal(reason({ ...signed, id: 'p-2' }), 'bad_signature', 'a changed field');
      assert.equal(reason({ ...signed, seq: 6 }), 'bad_signature', 'a raised seq');
      assert.equal(reason({ ...signed, exp: 9_999_999 }), 'bad_signature', 'a later exp');
      assert.equal(reason({ ...signed, to: 'dev-2' }), 'bad_signature', 'another addressee');
      const { sig: _sig, ...noSig } = signed;
      assert.equal(reason(noSig), 'bad_signature', 'some fields but not all');
      assert.equal(reason({ ...signed, kid: `${alg}-0000000000000000` }), 'unknown_key');
      const other = keyOf(alg);
      const forged = signCommand(
        ping,
        { to: 'dev-1', seq: 5, exp: 2_000 },
        { ...other, kid: key.kid },
      );
      assert.equal(reason(forged), 'bad_signature', 'signed by another key under our kid');
      assert.equal(reason(signed, { ...state, deviceId: 'dev-2' }), 'wrong_device');
      assert.equal(reason(signed, { ...state, lastSeq: 5 }), 'replayed');
      assert.equal(reason(signed, { ...state, now: 2_001 }), 'expired');
      assert.equal(reason(signed, { ...state, now: undefined }), 'ok', 'no idea of time: skipped');
      assert.equal(
        reason(signed, { ...state, keys: new Map([[key.kid, { ...key, revoked: true }]]) }),
        'revoked_key',
      );
      assert.equal(
        reason(signed, { ...state, keys: new Map([[key.kid, { ...key, until: 999 }]]) }),
        'revoked_key',
        'past its overlap',
      );
      assert.equal(reason(ping), 'ok', 'unsigned, optional mode');
      assert.equal(reason(ping, { ...state, required: true }), 'unsigned');
    });
  }
});

describe('key rotation: endorsements', () => {
  it('takes a key endorsed through a chain from a trusted one, never one endorsed by a stranger', () => {
    const a = keyOf('ed25519');
    const b = keyOf('sm2');
    const c = keyOf('ed25519');
    const endorse = (by: typeof a, k: typeof a) => ({
      kid: k.kid,
      alg: k.alg,
      publicKey: k.publicKey,
      endorsedBy: by.kid,
      endorsement: signBytes(by.alg, by.privateKey, endorsementInput(k)),
    });
    const held = new Map([[a.kid, { kid: a.kid, alg: a.alg, publicKey: a.publicKey }]]);
    // Listed newest first, as the server does: the chain is walked whatever the order.
    const next = applyKeyAnnouncement(
      held,
      [endorse(b, c), { ...endorse(a, b), until: 5_000 }],
      [],
    );
    assert.deepEqual([...next.keys()].sort(), [a.kid, b.kid, c.kid].sort());
    assert.equal(next.get(b.kid)?.until, 5_000);

    const stranger = keyOf('ed25519');
    const bogus = applyKeyAnnouncement(held, [endorse(stranger, c)], []);
    assert.deepEqual([...bogus.keys()], [a.kid], 'an endorser it does not hold proves nothing');
    const bent = {
      ...endorse(a, c),
      publicKey: stranger.publicKey,
      kid: keyIdOf('ed25519', stranger.publicKey),
    };
    assert.deepEqual(
      [...applyKeyAnnouncement(held, [bent], []).keys()],
      [a.kid],
      'endorsement of another key',
    );

    const revoked = applyKeyAnnouncement(held, [endorse(a, b)], [a.kid]);
    assert.equal(revoked.get(a.kid)?.revoked, true);
    assert.equal(revoked.has(b.kid), false, 'a revoked key vouches for nothing');

    // Whoever kept a retired key's private half (an old backup) cannot bring a key of theirs in.
    const retired = new Map([
      [a.kid, { kid: a.kid, alg: a.alg, publicKey: a.publicKey, until: 5_000 }],
    ]);
    assert.equal(applyKeyAnnouncement(retired, [endorse(a, b)], [], 5_001).has(b.kid), false);
    assert.equal(applyKeyAnnouncement(retired, [endorse(a, b)], [], 4_999).has(b.kid), true);
    assert.equal(
      applyKeyAnnouncement(retired, [endorse(a, b)], []).has(b.kid),
      true,
      'no idea of the time: not checked (docs/protocol.md 9.3)',
    );
  });

  it('refuses an unsigned keys announcement whatever the mode', () => {
    const announcement = { v: 1, type: 'keys', id: 'k1', ts: 1, keys: [], revoked: ['x'] };
    const check = checkCommand(announcement, {
      deviceId: 'dev-1',
      keys: new Map(),
      lastSeq: 0,
      now: undefined,
      required: false,
    });
    assert.equal(check.ok ? 'ok' : check.reason, 'unsigned');
  });
});
