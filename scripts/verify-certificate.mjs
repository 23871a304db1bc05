#!/usr/bin/env node
// Checks a Dalaba coverage certificate offline (docs/certificates.md). Standalone on purpose: Node
// ≥ 20 and this file, no npm packages and nothing else of the repository, so a city bureau or an
// auditor can copy it alone and read all of it.
//
//   node verify-certificate.mjs cert.json --key <base64url public key | keys.json>
//
// cert.json is the answer of GET /api/broadcasts/:id/certificate; keys.json the answer of
// GET /api/keys (or `npm run cli -- keys list --json`), or any JSON listing {kid, alg, publicKey}.
// Checks the server's signature over the certificate, then every device proof with the device
// keys the certificate lists. Prints OK, or the first failure.
// Exit codes: 0 verified; 1 it does not verify; 2 cannot check (usage, unreadable input, SM2
// without the sm-crypto package).
import { createHash, createPublicKey, verify } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';

const FORMAT = 'dalaba-certificate/1';
const SM2_USER_ID = '1234567812345678';

class Failure extends Error {}
class CannotCheck extends Error {}

/**
 * RFC 8785 (JCS), our own rather than a package: for values JSON.parse made, JSON.stringify of a
 * string or number is exactly JCS's form, so only the key order (UTF-16 code units) is left to do.
 */
function canonical(value) {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  const keys = Object.keys(value).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonical(value[k])}`).join(',')}}`;
}

/** `${alg}-` and the first 16 hex digits of the SHA-256 of the raw public key. */
function keyIdOf(alg, publicKey) {
  const digest = createHash('sha256').update(Buffer.from(publicKey, 'base64url')).digest('hex');
  return `${alg}-${digest.slice(0, 16)}`;
}

let sm2;
/** SM2 with SM3 and the standard user id: Node's crypto cannot set the id, so sm-crypto does it. */
async function sm2Verify(publicKey, data, signature) {
  if (!sm2) {
    try {
      sm2 = (await import('sm-crypto')).default.sm2;
    } catch {
      throw new CannotCheck(
        'an SM2 signature needs the sm-crypto package here (npm install sm-crypto), ' +
          'or check it with openssl as docs/certificates.md shows',
      );
    }
  }
  const key = Buffer.from(publicKey, 'base64url');
  const sig = Buffer.from(signature, 'base64url');
  if (key.length !== 65 || key[0] !== 4 || sig.length !== 64) return false;
  return sm2.doVerifySignature([...data], sig.toString('hex'), key.toString('hex'), {
    hash: true,
    userId: SM2_USER_ID,
  });
}

async function verifySignature(alg, publicKey, data, signature) {
  if (
    typeof signature !== 'string' ||
    Buffer.from(signature, 'base64url').toString('base64url') !== signature
  )
    return false;
  if (alg === 'ed25519') {
    const raw = Buffer.from(publicKey, 'base64url');
    if (raw.length !== 32) return false;
    const key = createPublicKey({
      key: { kty: 'OKP', crv: 'Ed25519', x: publicKey },
      format: 'jwk',
    });
    const sig = Buffer.from(signature, 'base64url');
    return sig.length === 64 && verify(null, data, key, sig);
  }
  if (alg === 'sm2') return sm2Verify(publicKey, data, signature);
  throw new Failure(`unknown signature algorithm ${JSON.stringify(alg)}`);
}

function usage(message) {
  throw new CannotCheck(
    `${message}\nusage: node verify-certificate.mjs cert.json --key <base64url public key | keys.json>`,
  );
}

function readJson(path, what) {
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new CannotCheck(`cannot read ${what} ${path}: ${err.message}`);
  }
}

/** The server key to check with: given raw, or picked by kid from a keys file. */
function serverKey(arg, named) {
  if (existsSync(arg)) {
    const doc = readJson(arg, 'keys file');
    const list = Array.isArray(doc) ? doc : (doc.keys ?? doc.items ?? [doc]);
    const found = Array.isArray(list) ? list.find((k) => k && k.kid === named.kid) : undefined;
    if (!found) throw new Failure(`signed by key ${named.kid}, which ${arg} does not list`);
    // Whoever took a revoked key can sign any date into `issuedAt`: nothing it signed counts.
    if (found.status === 'revoked' || found.revokedAt)
      throw new Failure(
        `signed by key ${named.kid}, which ${arg} lists as revoked: ask the station for the certificate again (it is signed afresh with its current key)`,
      );
    return { alg: found.alg, publicKey: found.publicKey };
  }
  if (!/^[A-Za-z0-9_-]{43,88}$/.test(arg))
    usage(`--key ${arg}: neither a file nor a base64url key`);
  return { alg: named.alg, publicKey: arg };
}

async function check(certPath, keyArg) {
  const doc = readJson(certPath, 'certificate');
  const cert = doc?.certificate;
  if (!cert || typeof cert !== 'object' || typeof doc.signature !== 'string')
    throw new CannotCheck(
      `${certPath} is not a certificate: it needs "certificate" and "signature"`,
    );
  if (cert.format !== FORMAT)
    throw new Failure(`format ${JSON.stringify(cert.format)}, not ${FORMAT}`);
  const named = cert.key ?? {};
  const key = serverKey(keyArg, named);
  if (key.alg !== named.alg || key.publicKey !== named.publicKey)
    throw new Failure(`signed by key ${named.kid} (${named.alg}), not by the key given`);
  if (keyIdOf(key.alg, key.publicKey) !== named.kid)
    throw new Failure(`key id ${named.kid} does not belong to its public key`);
  const signed = Buffer.from(canonical(cert), 'utf8');
  if (!(await verifySignature(key.alg, key.publicKey, signed, doc.signature)))
    throw new Failure(
      `the server signature does not verify with ${named.kid}: the certificate was altered`,
    );

  // The server vouches for all of it; each device proof stands on the device's own key too.
  const deviceKeys = new Map();
  for (const k of cert.deviceKeys ?? []) {
    if (keyIdOf(k.alg, k.publicKey) !== k.kid)
      throw new Failure(`device ${k.deviceId}: key id ${k.kid} does not belong to its public key`);
    deviceKeys.set(`${k.deviceId} ${k.kid}`, k);
  }
  let signedVillages = 0;
  let proofs = 0;
  const deliveries = new Set();
  for (const v of cert.villages ?? []) {
    const list = v.deviceProofs ?? [];
    if (v.deviceSigned !== list.length > 0)
      throw new Failure(
        `village ${v.code}: deviceSigned is ${v.deviceSigned} with ${list.length} proof(s)`,
      );
    if (list.length) signedVillages++;
    for (const p of list) {
      const where = `village ${v.code} device ${p.deviceId}`;
      // One played per delivery: the same proof shown twice would count one village's twice.
      if (deliveries.has(p.deliveryId))
        throw new Failure(`${where}: delivery ${p.deliveryId} has more than one proof`);
      deliveries.add(p.deliveryId);
      const k = deviceKeys.get(`${p.deviceId} ${p.kid}`);
      if (!k) throw new Failure(`${where}: key ${p.kid} is not among the device keys listed`);
      if (!(await verifySignature(k.alg, k.publicKey, Buffer.from(p.signed, 'utf8'), p.sig)))
        throw new Failure(`${where}: the device signature does not verify with ${p.kid}`);
      let event;
      try {
        event = JSON.parse(p.signed);
      } catch {
        throw new Failure(`${where}: the signed text is not JSON`);
      }
      if (
        event.type !== 'delivery' ||
        event.state !== 'played' ||
        event.deliveryId !== p.deliveryId
      )
        throw new Failure(
          `${where}: the signed text is not the played event of delivery ${p.deliveryId}`,
        );
      proofs++;
    }
  }
  if (cert.summary?.deviceSigned !== signedVillages)
    throw new Failure(
      `summary says ${cert.summary?.deviceSigned} device-signed villages, the list ${signedVillages}`,
    );
  const s = cert.summary;
  return (
    `OK: certificate of broadcast ${cert.broadcast?.id} "${cert.broadcast?.title}" signed by ${named.kid}; ` +
    `${s.covered} of ${s.targeted} villages covered, ${signedVillages} signed by their device ` +
    `(${proofs} device proof(s) verified); chain head ${cert.chainHead ? `${cert.chainHead.seq} ${cert.chainHead.hash}` : 'none'}`
  );
}

try {
  const args = process.argv.slice(2);
  const at = args.indexOf('--key');
  const keyArg = at >= 0 ? args[at + 1] : undefined;
  const rest = args.filter((_, i) => i !== at && i !== at + 1);
  if (!keyArg || rest.length !== 1) usage('give one certificate file and --key');
  console.log(await check(rest[0], keyArg));
  process.exit(0);
} catch (err) {
  if (err instanceof Failure) {
    console.log(`FAIL: ${err.message}`);
    process.exit(1);
  }
  console.error(err instanceof CannotCheck ? `cannot check: ${err.message}` : err.stack);
  process.exit(2);
}
