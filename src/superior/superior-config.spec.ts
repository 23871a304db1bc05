import assert from 'node:assert/strict';
import { describe, it } from '@jest/globals';
import { ConfigError, loadConfig } from '../config/app-config.js';
import { generateKeyPair } from '../contract/signing.js';

function problemsOf(env: Record<string, string>): string[] {
  try {
    loadConfig(env, '/srv/dalaba');
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    return err.problems;
  }
  assert.fail('expected a ConfigError');
}

describe('superior link settings', () => {
  const key = generateKeyPair('sm2').publicKey;
  const linked = {
    SUPERIOR_URL: 'https://city.example.cn/ebd',
    EBR_ID: '010361102600000001',
    SUPERIOR_EBR_ID: '010361100000000001',
    SUPERIOR_PUBLIC_KEY: Buffer.from(key, 'base64url').toString('hex'),
    COMMAND_SIGNING_ALG: 'sm2',
  };

  it('is off without SUPERIOR_URL, whatever else is set', () => {
    const config = loadConfig({ EBR_ID: '010361102600000001' }, '/srv/dalaba');
    assert.equal(config.superior.url, undefined);
  });

  it('reads the key as hex, base64 or PEM into the same raw key', () => {
    const raw = Buffer.from(key, 'base64url');
    const pem =
      '-----BEGIN PUBLIC KEY-----\n' +
      Buffer.concat([
        Buffer.from('3059301306072a8648ce3d020106082a811ccf5501822d034200', 'hex'),
        raw,
      ]).toString('base64') +
      '\n-----END PUBLIC KEY-----';
    for (const written of [raw.toString('hex'), raw.toString('base64'), pem]) {
      const config = loadConfig({ ...linked, SUPERIOR_PUBLIC_KEY: written }, '/srv/dalaba');
      assert.equal(config.superior.publicKey, key);
    }
  });

  it('names every missing identifier at once', () => {
    const problems = problemsOf({ SUPERIOR_URL: linked.SUPERIOR_URL, COMMAND_SIGNING_ALG: 'sm2' });
    assert.deepEqual(problems, [
      'EBR_ID: must be set when SUPERIOR_URL is',
      'SUPERIOR_EBR_ID: must be set when SUPERIOR_URL is',
      'SUPERIOR_PUBLIC_KEY: must be set when SUPERIOR_URL is',
    ]);
  });

  it('refuses a signature algorithm the server key does not have, and a key of the wrong kind', () => {
    assert.match(
      problemsOf({ ...linked, COMMAND_SIGNING_ALG: 'ed25519' }).join(),
      /COMMAND_SIGNING_ALG must be sm2/,
    );
    assert.match(
      problemsOf({ ...linked, SUPERIOR_PUBLIC_KEY: 'ab'.repeat(32) }).join(),
      /must be an SM2 key/,
    );
    assert.match(
      problemsOf({ ...linked, EBR_ID: '12345' }).join(),
      /EBR_ID="12345": must be 18 digits/,
    );
  });
});
