import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { generateDeviceSecret, hashDeviceSecret, verifyDeviceSecret } from './device-secret.js';

describe('device secrets', () => {
  it('verifies the right secret and refuses a wrong one', async () => {
    const secret = generateDeviceSecret();
    assert.match(secret, /^[A-Za-z0-9_-]{43}$/);
    const hash = await hashDeviceSecret(secret);
    assert.match(hash, /^scrypt\$16384\$8\$1\$[A-Za-z0-9_-]+\$[A-Za-z0-9_-]+$/);
    assert.ok(!hash.includes(secret));
    assert.equal(await verifyDeviceSecret(secret, hash), true);
    assert.equal(await verifyDeviceSecret(secret.slice(1), hash), false);
  });

  it('salts: the same secret hashes differently each time', async () => {
    const secret = generateDeviceSecret();
    assert.notEqual(await hashDeviceSecret(secret), await hashDeviceSecret(secret));
  });

  it('answers false, not an exception, for a malformed stored hash', async () => {
    for (const stored of [
      '',
      'plain',
      'scrypt$x$8$1$aa$bb',
      'bcrypt$1$2$3$4$5',
      'scrypt$16384$8$1$c2FsdA$c2hvcnQ',
    ]) {
      assert.equal(await verifyDeviceSecret('anything', stored), false, stored);
    }
  });
});
