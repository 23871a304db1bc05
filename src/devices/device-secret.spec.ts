import assert from 'node:assert/strict';
import { randomBytes, scryptSync } from 'node:crypto';
import { describe, it } from '@jest/globals';
import {
  generateDeviceSecret,
  hashDeviceSecret,
  needsRehash,
  verifyDeviceSecret,
} from './device-secret.js';

/** A secret stored the earlier way: `scrypt$N$r$p$salt$hash`. */
function scryptHash(secret: string, N = 1024): string {
  const salt = randomBytes(16);
  const key = scryptSync(secret, salt, 32, { N, r: 8, p: 1 });
  return ['scrypt', N, 8, 1, salt.toString('base64url'), key.toString('base64url')].join('$');
}

describe('device secrets', () => {
  it('verifies the right secret and refuses a wrong one', async () => {
    const secret = generateDeviceSecret();
    assert.match(secret, /^[A-Za-z0-9_-]{43}$/);
    const hash = hashDeviceSecret(secret);
    assert.match(hash, /^sha256\$[A-Za-z0-9_-]{22}\$[A-Za-z0-9_-]{43}$/);
    assert.ok(!hash.includes(secret));
    assert.equal(needsRehash(hash), false);
    assert.equal(await verifyDeviceSecret(secret, hash), true);
    assert.equal(await verifyDeviceSecret(secret.slice(1), hash), false);
    assert.equal(await verifyDeviceSecret(`${secret}x`, hash), false);
  });

  it('still verifies a secret stored the earlier way (scrypt), and says it needs a new hash', async () => {
    const secret = generateDeviceSecret();
    const old = scryptHash(secret);
    assert.equal(needsRehash(old), true);
    assert.equal(await verifyDeviceSecret(secret, old), true);
    assert.equal(await verifyDeviceSecret(generateDeviceSecret(), old), false);
  });

  it('salts: the same secret hashes differently each time', () => {
    const secret = generateDeviceSecret();
    assert.notEqual(hashDeviceSecret(secret), hashDeviceSecret(secret));
  });

  it('answers false, not an exception, for a malformed stored hash', async () => {
    for (const stored of [
      '',
      'plain',
      'scrypt$x$8$1$aa$bb',
      'bcrypt$1$2$3$4$5',
      'scrypt$16384$8$1$c2FsdA$c2hvcnQ',
      'sha256$c2FsdA',
      'sha256$c2FsdA$c2hvcnQ',
      'sha256$$',
    ]) {
      assert.equal(await verifyDeviceSecret('anything', stored), false, stored);
    }
  });
});
