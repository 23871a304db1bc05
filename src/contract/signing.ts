/**
 * Signatures of the Dalaba protocol (docs/protocol.md, section 9): the canonical form, the two
 * algorithms, and the checks a device makes before it acts on a command. Shared by the server
 * (which signs) and the reference agent (which verifies); it imports nothing of either.
 */
import canonicalize from 'canonicalize';
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  type KeyObject,
  sign,
  verify,
} from 'node:crypto';
import { randomBytes } from 'node:crypto';
import { sm2 } from 'sm-crypto-v2';

/** Signature algorithms: Ed25519 (RFC 8032) by default, SM2 with SM3 (GB/T 32918) as the alternative. */
export const SIGNATURE_ALGORITHMS = ['ed25519', 'sm2'] as const;
export type SignatureAlgorithm = (typeof SIGNATURE_ALGORITHMS)[number];

export function isSignatureAlgorithm(value: unknown): value is SignatureAlgorithm {
  return typeof value === 'string' && (SIGNATURE_ALGORITHMS as readonly string[]).includes(value);
}

/** The user id SM2 signatures are made with (GB/T 35276 / GM/T 0009 default). */
export const SM2_DEFAULT_USER_ID = '1234567812345678';

/** The fields a signed command carries besides its own; `sig` is over all the others. */
export const COMMAND_AUTH_FIELDS = ['to', 'seq', 'exp', 'kid', 'sig'] as const;

/** Why a device refuses a command; it reports the code in a `rejected` event. */
export const COMMAND_REJECTIONS = [
  /** No signature, from a server the device has been told signs everything. */
  'unsigned',
  /** The signature does not verify, or the signature fields are incomplete. */
  'bad_signature',
  /** Signed by a key id the device does not hold. */
  'unknown_key',
  /** Signed by a key the device was told is revoked, or whose overlap has ended. */
  'revoked_key',
  /** `seq` not higher than the highest the device has accepted: a replay or a stale copy. */
  'replayed',
  /** `exp` has passed on the device's (server-corrected) clock. */
  'expired',
  /** `to` names another device. */
  'wrong_device',
] as const;
export type CommandRejection = (typeof COMMAND_REJECTIONS)[number];

/** Largest `seq`: JSON numbers are exact up to here in every common parser. */
export const MAX_SEQ = Number.MAX_SAFE_INTEGER;

/** A public key as a device holds it. */
export interface PublicKeyInfo {
  kid: string;
  alg: SignatureAlgorithm;
  /** base64url: Ed25519 the 32 raw bytes; SM2 the 65-byte uncompressed point (04 ‖ x ‖ y). */
  publicKey: string;
}

export interface KeyPair {
  alg: SignatureAlgorithm;
  /** base64url, as in {@link PublicKeyInfo}. */
  publicKey: string;
  /** base64url: Ed25519 the 32-byte seed; SM2 the 32-byte scalar. A secret. */
  privateKey: string;
}

/**
 * RFC 8785 (JSON Canonicalization Scheme): keys sorted by UTF-16 code units, no whitespace,
 * numbers and strings as ECMAScript serialises them. Throws on what JSON cannot hold.
 */
export function canonicalJson(value: unknown): string {
  const text = canonicalize(value);
  if (text === undefined) throw new TypeError('value has no JSON form');
  return text;
}

/** The bytes a signature covers: the canonical JSON of the message without its `sig`. */
export function signingInput(message: object): Buffer {
  const { sig: _sig, ...rest } = message as Record<string, unknown>;
  return Buffer.from(canonicalJson(rest), 'utf8');
}

const ED25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const ED25519_SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

function ed25519Private(seed: Buffer) {
  return createPrivateKey({
    key: Buffer.concat([ED25519_PKCS8_PREFIX, seed]),
    format: 'der',
    type: 'pkcs8',
  });
}

function ed25519Public(raw: Buffer) {
  return createPublicKey({
    key: Buffer.concat([ED25519_SPKI_PREFIX, raw]),
    format: 'der',
    type: 'spki',
  });
}

export function generateKeyPair(alg: SignatureAlgorithm): KeyPair {
  if (alg === 'ed25519') {
    const seed = randomBytes(32);
    const spki = createPublicKey(ed25519Private(seed)).export({ format: 'der', type: 'spki' });
    return {
      alg,
      publicKey: spki.subarray(ED25519_SPKI_PREFIX.length).toString('base64url'),
      privateKey: seed.toString('base64url'),
    };
  }
  const pair = sm2.generateKeyPairHex();
  return {
    alg,
    publicKey: Buffer.from(pair.publicKey, 'hex').toString('base64url'),
    privateKey: Buffer.from(pair.privateKey.padStart(64, '0'), 'hex').toString('base64url'),
  };
}

/** The public half of a private key (base64url, as stored). */
export function publicKeyOf(alg: SignatureAlgorithm, privateKey: string): string {
  const raw = Buffer.from(privateKey, 'base64url');
  if (alg === 'ed25519') {
    const spki = createPublicKey(ed25519Private(raw)).export({ format: 'der', type: 'spki' });
    return spki.subarray(ED25519_SPKI_PREFIX.length).toString('base64url');
  }
  return Buffer.from(sm2.getPublicKeyFromPrivateKey(raw.toString('hex')), 'hex').toString(
    'base64url',
  );
}

/** A key's id: the algorithm and the first 16 hex digits of the SHA-256 of its raw public key. */
export function keyIdOf(alg: SignatureAlgorithm, publicKey: string): string {
  const digest = createHash('sha256').update(Buffer.from(publicKey, 'base64url')).digest('hex');
  return `${alg}-${digest.slice(0, 16)}`;
}

/**
 * Keys prepared for signing, by private key: building an Ed25519 KeyObject took ~400 µs against
 * ~40 µs for the signature itself, and SM2 otherwise derives the public key (a point
 * multiplication) at every signature; a fan-out signs thousands of commands with one key.
 */
const prepared = new Map<string, { ed25519?: KeyObject; sm2PublicHex?: string }>();
const PREPARED_MAX = 8;

function preparedKey(alg: SignatureAlgorithm, privateKey: string) {
  let entry = prepared.get(`${alg}:${privateKey}`);
  if (!entry) {
    const raw = Buffer.from(privateKey, 'base64url');
    entry =
      alg === 'ed25519'
        ? { ed25519: ed25519Private(raw) }
        : { sm2PublicHex: sm2.getPublicKeyFromPrivateKey(raw.toString('hex')) };
    if (prepared.size >= PREPARED_MAX) prepared.clear();
    prepared.set(`${alg}:${privateKey}`, entry);
  }
  return entry;
}

/** Signs `data`; the signature is 64 bytes, base64url (SM2: r ‖ s, 32 bytes each). */
export function signBytes(alg: SignatureAlgorithm, privateKey: string, data: Buffer): string {
  const key = preparedKey(alg, privateKey);
  if (alg === 'ed25519') return sign(null, data, key.ed25519!).toString('base64url');
  const raw = Buffer.from(privateKey, 'base64url');
  const hex = sm2.doSignature(new Uint8Array(data), raw.toString('hex'), {
    hash: true,
    userId: SM2_DEFAULT_USER_ID,
    publicKey: key.sm2PublicHex,
  });
  return Buffer.from(hex.padStart(128, '0'), 'hex').toString('base64url');
}

/** True when `signature` is `alg`'s signature of `data` by `publicKey`. Never throws. */
export function verifyBytes(
  alg: SignatureAlgorithm,
  publicKey: string,
  data: Buffer,
  signature: string,
): boolean {
  try {
    const sig = Buffer.from(signature, 'base64url');
    if (sig.length !== 64 || sig.toString('base64url') !== signature) return false;
    const key = Buffer.from(publicKey, 'base64url');
    if (alg === 'ed25519') {
      if (key.length !== 32) return false;
      return verify(null, data, ed25519Public(key), sig);
    }
    if (key.length !== 65 || key[0] !== 4) return false;
    return sm2.doVerifySignature(new Uint8Array(data), sig.toString('hex'), key.toString('hex'), {
      hash: true,
      userId: SM2_DEFAULT_USER_ID,
    });
  } catch {
    return false;
  }
}

/** The signature fields of a command. */
export interface CommandAuth {
  /** The device the command is for. */
  to: string;
  /** Per device, only grows. */
  seq: number;
  /** Refuse after this (server clock, epoch ms). */
  exp: number;
  kid: string;
  sig: string;
}

/** Adds the signature fields to a command: `to`, `seq`, `exp`, `kid`, then `sig` over the rest. */
export function signCommand<T extends object>(
  message: T,
  auth: Omit<CommandAuth, 'sig' | 'kid'>,
  key: { kid: string; alg: SignatureAlgorithm; privateKey: string },
): T & CommandAuth {
  const unsigned = { ...message, to: auth.to, seq: auth.seq, exp: auth.exp, kid: key.kid };
  return { ...unsigned, sig: signBytes(key.alg, key.privateKey, signingInput(unsigned)) };
}

/** What a device knows when it checks a command. */
export interface VerifierState {
  deviceId: string;
  /** The keys it holds, by id: revoked ones stay here marked, so it can tell `revoked_key`. */
  keys: ReadonlyMap<string, PublicKeyInfo & { revoked?: boolean; until?: number }>;
  /** Highest `seq` accepted so far (0 when none). */
  lastSeq: number;
  /** The server's time on the device's clock; undefined when it has no idea yet (skip `exp`). */
  now: number | undefined;
  /** Refuse unsigned commands. */
  required: boolean;
}

export type CommandCheck =
  | { ok: true; signed: false }
  | { ok: true; signed: true; seq: number }
  | { ok: false; reason: CommandRejection; detail: string };

/**
 * The checks of docs/protocol.md section 9.3, in its order. On `ok` with `signed`, the caller
 * stores `seq` as its new `lastSeq` before acting on the command.
 */
export function checkCommand(message: Record<string, unknown>, state: VerifierState): CommandCheck {
  const present = COMMAND_AUTH_FIELDS.filter((f) => message[f] !== undefined);
  if (present.length === 0) {
    // Unsigned, a `keys` announcement could only be an attempt to revoke the genuine keys.
    if (message.type === 'keys')
      return { ok: false, reason: 'unsigned', detail: 'a keys announcement must be signed' };
    return state.required
      ? { ok: false, reason: 'unsigned', detail: 'command carries no signature' }
      : { ok: true, signed: false };
  }
  if (present.length !== COMMAND_AUTH_FIELDS.length) {
    const missing = COMMAND_AUTH_FIELDS.filter((f) => message[f] === undefined);
    return { ok: false, reason: 'bad_signature', detail: `missing ${missing.join(', ')}` };
  }
  const { to, seq, exp, kid, sig } = message as unknown as CommandAuth;
  const key = state.keys.get(kid);
  if (!key) return { ok: false, reason: 'unknown_key', detail: `key ${kid} is not known` };
  if (key.revoked) return { ok: false, reason: 'revoked_key', detail: `key ${kid} is revoked` };
  if (key.until !== undefined && state.now !== undefined && state.now > key.until) {
    return { ok: false, reason: 'revoked_key', detail: `key ${kid} was retired` };
  }
  if (!verifyBytes(key.alg, key.publicKey, signingInput(message), sig)) {
    return { ok: false, reason: 'bad_signature', detail: `signature does not verify with ${kid}` };
  }
  if (to !== state.deviceId) {
    return { ok: false, reason: 'wrong_device', detail: `addressed to ${String(to).slice(0, 64)}` };
  }
  if (seq <= state.lastSeq) {
    return { ok: false, reason: 'replayed', detail: `seq ${seq} ≤ ${state.lastSeq} already seen` };
  }
  if (state.now !== undefined && state.now > exp) {
    return { ok: false, reason: 'expired', detail: `expired ${state.now - exp} ms ago` };
  }
  return { ok: true, signed: true, seq };
}

/** One entry of a `keys` announcement. */
export interface AnnouncedKey extends PublicKeyInfo {
  /** The key that vouches for this one (its predecessor), and its signature over this entry. */
  endorsedBy?: string;
  endorsement?: string;
  /** Accepted until then (server clock, epoch ms): a key being retired after a rotation. */
  until?: number;
}

/** The bytes an endorsement signs: the canonical `{alg, kid, publicKey}` of the endorsed key. */
export function endorsementInput(key: PublicKeyInfo): Buffer {
  return Buffer.from(
    canonicalJson({ alg: key.alg, kid: key.kid, publicKey: key.publicKey }),
    'utf8',
  );
}

/**
 * The keys a device holds after a `keys` announcement, before the announcement's own signature is
 * checked with them: every announced key endorsed (directly or through a chain) by a key it
 * already trusts and that is neither revoked nor past its `until` (on the device's idea of the
 * server's time, `now`; unknown: not checked), with `until` updated; kids in `revoked` marked revoked.
 * The caller checks the announcement with {@link checkCommand} against the result and keeps it
 * only when that passes.
 */
export function applyKeyAnnouncement(
  held: ReadonlyMap<string, PublicKeyInfo & { revoked?: boolean; until?: number }>,
  keys: readonly AnnouncedKey[],
  revoked: readonly string[],
  now?: number,
): Map<string, PublicKeyInfo & { revoked?: boolean; until?: number }> {
  const next = new Map(held);
  for (const kid of revoked) {
    const known = next.get(kid);
    if (known) next.set(kid, { ...known, revoked: true });
  }
  let added = true;
  while (added) {
    added = false;
    for (const k of keys) {
      if (keyIdOf(k.alg, k.publicKey) !== k.kid) continue;
      const known = next.get(k.kid);
      if (known) {
        if (!known.revoked && k.until !== known.until && known.publicKey === k.publicKey) {
          next.set(k.kid, { ...known, until: k.until });
        }
        continue;
      }
      const by = k.endorsedBy ? next.get(k.endorsedBy) : undefined;
      if (!by || by.revoked || !k.endorsement) continue;
      // A retired key vouches for nothing: whoever still holds it must not bring in keys of theirs.
      if (by.until !== undefined && now !== undefined && now > by.until) continue;
      if (!verifyBytes(by.alg, by.publicKey, endorsementInput(k), k.endorsement)) continue;
      next.set(k.kid, {
        kid: k.kid,
        alg: k.alg,
        publicKey: k.publicKey,
        ...(k.until !== undefined ? { until: k.until } : {}),
      });
      added = true;
    }
  }
  for (const kid of revoked) {
    const known = next.get(kid);
    if (known) next.set(kid, { ...known, revoked: true });
  }
  return next;
}

/** A device's signature over one of its own messages (protocol 1.1): `sig` over the rest. */
export function signOwnMessage<T extends object>(
  message: T,
  key: { alg: SignatureAlgorithm; privateKey: string },
): T & { sig: string } {
  return { ...message, sig: signBytes(key.alg, key.privateKey, signingInput(message)) };
}
