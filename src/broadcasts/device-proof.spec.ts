import assert from 'node:assert/strict';
import { describe, it } from '@jest/globals';
import type { DeliveryEvent } from '../contract/messages.js';
import { generateKeyPair, signOwnMessage, type KeyPair } from '../contract/signing.js';
import { checkDeviceSignature, readDeviceProof } from './device-proof.js';

const DELIVERY = '6f1d2c3b-4a59-4e8f-9a0b-1c2d3e4f5a6b';
const event = (state: DeliveryEvent['state']): DeliveryEvent => ({
  v: 1,
  type: 'delivery',
  id: 'e1',
  ts: 1_764_000_000_000,
  deliveryId: DELIVERY,
  state,
  reason: '喇叭 ok',
});
const pin = (k: KeyPair) => ({ alg: k.alg, publicKey: k.publicKey });

describe('device signatures on delivery events', () => {
  for (const alg of ['ed25519', 'sm2'] as const) {
    it(`${alg}: a signed played verifies with the pinned key and its proof reads back`, () => {
      const key = generateKeyPair(alg);
      const check = checkDeviceSignature(signOwnMessage(event('played'), key), pin(key));
      assert.equal(check.ok, true);
      const proof = check.ok ? check.proof : null;
      assert.ok(proof);
      const read = readDeviceProof(proof, { deliveryId: DELIVERY, state: 'played' });
      assert.equal(read?.publicKey, key.publicKey);
      assert.deepEqual(JSON.parse(read!.signed), event('played'));
      // A proof is only good for the delivery and state it names.
      assert.equal(readDeviceProof(proof, { deliveryId: DELIVERY, state: 'playing' }), null);
    });
  }

  it('refuses a signature by another key, a signed event with no pinned key, a changed field', () => {
    const key = generateKeyPair('ed25519');
    const other = generateKeyPair('ed25519');
    const signed = signOwnMessage(event('playing'), other);
    assert.equal(checkDeviceSignature(signed, pin(key)).ok, false);
    assert.equal(checkDeviceSignature(signOwnMessage(event('playing'), key), undefined).ok, false);
    const tampered = { ...signOwnMessage(event('played'), key), ts: 1_764_000_000_001 };
    assert.equal(checkDeviceSignature(tampered, pin(key)).ok, false);
  });

  it('refuses unsigned playing and played from a device with a pinned key, takes other states', () => {
    const key = generateKeyPair('ed25519');
    assert.equal(checkDeviceSignature(event('played'), pin(key)).ok, false);
    assert.equal(checkDeviceSignature(event('playing'), pin(key)).ok, false);
    assert.deepEqual(checkDeviceSignature(event('received'), pin(key)), { ok: true, proof: null });
    assert.deepEqual(checkDeviceSignature(event('played'), undefined), { ok: true, proof: null });
  });

  it('a stored proof changed by hand no longer reads', () => {
    const key = generateKeyPair('ed25519');
    const check = checkDeviceSignature(signOwnMessage(event('played'), key), pin(key));
    const proof = JSON.parse(check.ok ? check.proof! : '{}') as { signed: string };
    proof.signed = proof.signed.replace('1764000000000', '1764000000001');
    assert.equal(
      readDeviceProof(JSON.stringify(proof), { deliveryId: DELIVERY, state: 'played' }),
      null,
    );
    assert.equal(readDeviceProof('not json', { deliveryId: DELIVERY, state: 'played' }), null);
  });
});
