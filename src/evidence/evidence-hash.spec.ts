import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from '@jest/globals';
import { canonicalJson } from '../contract/signing.js';
import {
  bodyText,
  deliveryEventBody,
  entryHash,
  entryHashReference,
  GENESIS_HASH,
} from './evidence-hash.js';

/** The worked example of docs/evidence.md: the first entry of a chain. */
const EXAMPLE = {
  seq: 1,
  at: 1764547200000,
  kind: 'delivery_event',
  broadcastId: 'b6f1c1de-0000-4000-8000-000000000001',
  subject: 'd0c5e1de-0000-4000-8000-000000000002',
  body: bodyText(
    deliveryEventBody({
      deliveryId: 'd0c5e1de-0000-4000-8000-000000000002',
      deviceId: 'ET-611026100201',
      villageCode: '611026100201',
      fromState: 'playing',
      toState: 'played',
      source: 'mqtt',
      deviceTs: 1764547199950,
      serverTs: 1764547200000,
      reason: null,
      anomaly: null,
    }),
  ),
};

describe('the evidence entry hash', () => {
  it('is sha256 of the previous hash, a newline and the canonical entry, as documented', () => {
    const text =
      '{"at":1764547200000,"body":{"anomaly":null,"deliveryId":"d0c5e1de-0000-4000-8000-000000000002","deviceId":"ET-611026100201","deviceProof":null,"deviceTs":1764547199950,"fromState":"playing","reason":null,"serverTs":1764547200000,"source":"mqtt","toState":"played","villageCode":"611026100201"},"broadcastId":"b6f1c1de-0000-4000-8000-000000000001","kind":"delivery_event","seq":1,"subject":"d0c5e1de-0000-4000-8000-000000000002"}';
    const expected = createHash('sha256').update(`${GENESIS_HASH}\n${text}`).digest('hex');
    assert.equal(entryHash(GENESIS_HASH, EXAMPLE), expected);
    assert.equal(
      expected,
      'efea645afe6066e71a103d7a4122727ac5bb8eaee90d89e300e4165d9e184c8c',
      'docs/evidence.md quotes this hash',
    );
  });

  it('built by hand equals the general RFC 8785 canonicaliser, whatever the strings hold', () => {
    for (const subject of [
      'plain',
      'quote " backslash \\ slash /',
      '换行\n制表\t',
      '\u0000\u001f\u2028',
      '😀 𠀀',
    ]) {
      const e = {
        ...EXAMPLE,
        seq: 42,
        subject,
        broadcastId: subject,
        body: bodyText({ note: subject, n: -0, big: 2 ** 53 - 1, nested: { b: 1, a: [subject] } }),
      };
      assert.equal(entryHash('ab'.repeat(32), e), entryHashReference('ab'.repeat(32), e));
    }
  });

  it('writes a flat body exactly as the canonicaliser does', () => {
    const strings = ['', 'é', '换行\n', '"\\/', '\u0000\u001f\u007f\u2028', '😀𠀀', 'Z', 'a', 'é'];
    const body: Record<string, unknown> = {
      n: 0,
      neg: -0,
      big: 2 ** 53 - 1,
      f: 1.5e-7,
      t: true,
      z: null,
      u: undefined,
    };
    strings.forEach((v, i) => (body[`${v}${i}`] = v));
    assert.equal(bodyText(body), canonicalJson(body));
    assert.throws(() => bodyText({ a: 'x\udc00' }), /Lone surrogate/);
  });

  it('refuses a lone surrogate like the canonicaliser does', () => {
    const e = { ...EXAMPLE, subject: 'x\ud800' };
    assert.throws(() => entryHash(GENESIS_HASH, e), /Lone surrogate/);
    assert.throws(() => entryHashReference(GENESIS_HASH, e), /Lone surrogate/);
  });

  it('changes when any field or the previous hash changes', () => {
    const base = entryHash(GENESIS_HASH, EXAMPLE);
    const variants = [
      entryHash('1'.repeat(64), EXAMPLE),
      entryHash(GENESIS_HASH, { ...EXAMPLE, seq: 2 }),
      entryHash(GENESIS_HASH, { ...EXAMPLE, at: EXAMPLE.at + 1 }),
      entryHash(GENESIS_HASH, { ...EXAMPLE, kind: 'cancel' }),
      entryHash(GENESIS_HASH, { ...EXAMPLE, broadcastId: 'x' }),
      entryHash(GENESIS_HASH, { ...EXAMPLE, subject: 'x' }),
      entryHash(GENESIS_HASH, { ...EXAMPLE, body: EXAMPLE.body.replace('"played"', '"failed"') }),
    ];
    assert.equal(new Set([base, ...variants]).size, variants.length + 1);
  });
});
