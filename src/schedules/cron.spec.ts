import assert from 'node:assert/strict';
import { describe, it } from '@jest/globals';
import { cronProblem, fireTimesBetween, nextFireTimes } from './cron.js';

const iso = (ms: number[]) => ms.map((t) => new Date(t).toISOString());

describe('cron with time zones', () => {
  it('fires at 08:00 Beijing time, which is 00:00 UTC', () => {
    assert.deepEqual(
      iso(nextFireTimes('0 8 * * *', 'Asia/Shanghai', Date.parse('2026-11-28T01:00:00Z'), 3)),
      ['2026-11-29T00:00:00.000Z', '2026-11-30T00:00:00.000Z', '2026-12-01T00:00:00.000Z'],
    );
  });

  it('keeps local time across a daylight-saving change (New York, 8 March 2026)', () => {
    assert.deepEqual(
      iso(nextFireTimes('0 8 * * *', 'America/New_York', Date.parse('2026-03-07T00:00:00Z'), 3)),
      ['2026-03-07T13:00:00.000Z', '2026-03-08T12:00:00.000Z', '2026-03-09T12:00:00.000Z'],
    );
  });

  it('lists the firings in a period, oldest first, keeping the last ones when there are too many', () => {
    const from = Date.parse('2026-11-28T00:00:00Z');
    assert.deepEqual(
      iso(fireTimesBetween('0 8 * * *', 'Asia/Shanghai', from, from + 3 * 86_400_000, 10)),
      ['2026-11-29T00:00:00.000Z', '2026-11-30T00:00:00.000Z', '2026-12-01T00:00:00.000Z'],
    );
    assert.equal(fireTimesBetween('* * * * *', 'UTC', from, from + 3600_000, 5).length, 5);
    assert.deepEqual(fireTimesBetween('0 8 * * *', 'Asia/Shanghai', from, from + 1000, 10), []);
  });

  it('refuses six-field, malformed and out-of-range expressions', () => {
    assert.equal(cronProblem('0 8 * * *'), null);
    assert.match(cronProblem('0 0 8 * * *')!, /five fields/);
    assert.match(cronProblem('61 8 * * *')!, /not valid/);
    assert.match(cronProblem('hello')!, /five fields/);
  });
});
