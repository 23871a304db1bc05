import assert from 'node:assert/strict';
import { describe, it } from '@jest/globals';
import { isQuietAt, parseQuietHours } from './quiet-hours.js';

describe('quiet hours', () => {
  it('parses a window and one that wraps midnight', () => {
    assert.deepEqual(parseQuietHours('12:30-14:00'), { startMinute: 750, endMinute: 840 });
    assert.deepEqual(parseQuietHours('22:00-06:00'), { startMinute: 1320, endMinute: 360 });
  });

  it('refuses malformed, out-of-range and empty windows', () => {
    for (const bad of [
      '',
      '22:00',
      '24:00-06:00',
      '22:60-06:00',
      '7:00-08:00',
      '08:00-08:00',
      '08:00 - 09:00',
    ]) {
      assert.equal(parseQuietHours(bad), null, bad);
    }
  });

  it('tells whether a minute is inside, end exclusive', () => {
    const night = parseQuietHours('22:00-06:00')!;
    assert.equal(isQuietAt(night, 22 * 60), true);
    assert.equal(isQuietAt(night, 23 * 60 + 59), true);
    assert.equal(isQuietAt(night, 0), true);
    assert.equal(isQuietAt(night, 6 * 60 - 1), true);
    assert.equal(isQuietAt(night, 6 * 60), false);
    assert.equal(isQuietAt(night, 12 * 60), false);
    const noon = parseQuietHours('12:00-14:00')!;
    assert.equal(isQuietAt(noon, 12 * 60), true);
    assert.equal(isQuietAt(noon, 14 * 60), false);
    assert.equal(isQuietAt(noon, 11 * 60), false);
  });
});
