import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatLocal, parseBound, startOfDay } from './zoned-time.js';

describe('zoned time', () => {
  it('finds midnight of a day in Beijing and across a New York DST change', () => {
    assert.equal(startOfDay('2026-11-01', 'Asia/Shanghai'), Date.parse('2026-10-31T16:00:00Z'));
    // 2026-03-08 is the day New York springs forward (midnight is still EST, -05:00).
    assert.equal(startOfDay('2026-03-08', 'America/New_York'), Date.parse('2026-03-08T05:00:00Z'));
    assert.equal(startOfDay('2026-03-09', 'America/New_York'), Date.parse('2026-03-09T04:00:00Z'));
    assert.equal(startOfDay('2026-02-30', 'Asia/Shanghai'), null);
    assert.equal(startOfDay('2026-2-3', 'Asia/Shanghai'), null);
  });

  it('reads report bounds: a `to` day includes the whole day; instants need a zone', () => {
    assert.equal(
      parseBound('2026-11-01', 'Asia/Shanghai', false),
      Date.parse('2026-10-31T16:00:00Z'),
    );
    assert.equal(
      parseBound('2026-11-30', 'Asia/Shanghai', true),
      Date.parse('2026-11-30T16:00:00Z'),
    );
    assert.equal(parseBound('2026-12-31', 'UTC', true), Date.parse('2027-01-01T00:00:00Z'));
    assert.equal(
      parseBound('2026-11-01T08:00:00+08:00', 'UTC', false),
      Date.parse('2026-11-01T00:00:00Z'),
    );
    assert.equal(parseBound('2026-11-01T08:00:00', 'UTC', false), null);
    assert.equal(parseBound('yesterday', 'UTC', false), null);
    assert.equal(parseBound('2026-13-01T00:00:00Z', 'UTC', false), null);
  });

  it('formats wall-clock time for spreadsheets', () => {
    assert.equal(
      formatLocal(Date.parse('2026-11-28T09:05:03Z'), 'Asia/Shanghai'),
      '2026-11-28 17:05:03',
    );
    assert.equal(formatLocal(Date.parse('2026-11-28T23:59:59Z'), 'UTC'), '2026-11-28 23:59:59');
  });
});
