import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseRange } from './media-response.js';

describe('parseRange', () => {
  it('reads the three single-range forms', () => {
    assert.deepEqual(parseRange('bytes=0-99', 1000), { start: 0, end: 99 });
    assert.deepEqual(parseRange('bytes=500-', 1000), { start: 500, end: 999 });
    assert.deepEqual(parseRange('bytes=-100', 1000), { start: 900, end: 999 });
    assert.deepEqual(
      parseRange('bytes=900-5000', 1000),
      { start: 900, end: 999 },
      'clamped to the end',
    );
    assert.deepEqual(parseRange('bytes=-5000', 1000), { start: 0, end: 999 });
  });

  it('refuses what cannot be served (416)', () => {
    for (const h of ['bytes=1000-', 'bytes=5-2', 'bytes=-0', 'bytes=-', 'bytes=abc'])
      assert.equal(parseRange(h, 1000), 'unsatisfiable', h);
  });

  it('serves the whole file for no range, other units and several ranges', () => {
    assert.equal(parseRange(undefined, 1000), null);
    assert.equal(parseRange('items=0-1', 1000), null);
    assert.equal(parseRange('bytes=0-1,5-6', 1000), null);
  });
});
