import assert from 'node:assert/strict';
import { describe, it } from '@jest/globals';
import express, { type Request } from 'express';
import { MAX_RANGES, requestedRange } from './media-response.js';

/** The range an Express request with this `Range` header asks of a file of `size` bytes. */
function parseRange(header: string | undefined, size: number): ReturnType<typeof requestedRange> {
  const req = Object.create(express.request) as Request;
  req.headers = header === undefined ? {} : { range: header };
  return requestedRange(req, size);
}

describe('requestedRange', () => {
  it('reads the three single-range forms', () => {
    assert.deepEqual(parseRange('bytes=0-99', 1000), { start: 0, end: 99 });
    assert.deepEqual(parseRange('bytes=500-', 1000), { start: 500, end: 999 });
    assert.deepEqual(parseRange('bytes=-100', 1000), { start: 900, end: 999 });
    assert.deepEqual(
      parseRange('bytes=900-5000', 1000),
      { start: 900, end: 999 },
      'clamped to the end',
    );
    assert.deepEqual(parseRange('bytes=-5000', 1000), { start: 0, end: 999 }, 'suffix > file');
    assert.deepEqual(parseRange('bytes=-5000,2000-', 1000), { start: 0, end: 999 });
  });

  it('refuses what cannot be served (416)', () => {
    for (const h of ['bytes=1000-', 'bytes=5-2', 'bytes=-0', 'bytes=-', 'bytes=abc'])
      assert.equal(parseRange(h, 1000), 'unsatisfiable', h);
    assert.equal(parseRange('bytes=-5', 0), 'unsatisfiable', 'an empty file has no suffix');
  });

  it('serves the whole file for no range, other units and a few disjoint ranges', () => {
    assert.equal(parseRange(undefined, 1000), null);
    assert.equal(parseRange('items=0-1', 1000), null);
    assert.equal(parseRange('items=abc', 1000), null, 'another unit, however written');
    assert.equal(parseRange('bytes=0-1,5-6', 1000), null);
    assert.equal(parseRange('bytes=0-1, 5-6, -10', 1000), null);
  });

  it('serves ranges that join into one as that one range', () => {
    assert.deepEqual(parseRange('bytes=0-99,100-199', 1000), { start: 0, end: 199 });
    assert.deepEqual(parseRange('bytes=0-99, 100-', 1000), { start: 0, end: 999 });
  });

  it(`refuses more than ${MAX_RANGES} ranges, overlapping ranges and a bad one among several (416)`, () => {
    const many = Array.from({ length: MAX_RANGES + 1 }, (_, i) => `${i * 10}-${i * 10 + 1}`);
    assert.equal(parseRange(`bytes=${many.join(',')}`, 1000), 'unsatisfiable');
    const thousands = Array.from({ length: 3000 }, () => '0-0').join(',');
    assert.equal(parseRange(`bytes=${thousands}`, 1000), 'unsatisfiable');
    assert.equal(parseRange('bytes=0-500,100-200', 1000), 'unsatisfiable', 'overlap');
    assert.equal(parseRange('bytes=0-10,-995', 1000), 'unsatisfiable', 'suffix overlaps');
    assert.equal(parseRange('bytes=0-1,abc', 1000), 'unsatisfiable');
    assert.equal(parseRange('bytes=2000-3000,4000-', 1000), 'unsatisfiable', 'none satisfiable');
  });
});
