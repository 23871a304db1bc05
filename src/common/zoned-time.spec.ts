import assert from 'node:assert/strict';
import { describe, it } from '@jest/globals';
import { formatLocal, offsetMs, parseBound, startOfDay, wallClock } from './zoned-time.js';

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

  it('reads the wall clock as Intl does, any year, and the offset to the second', () => {
    const zones = ['Asia/Shanghai', 'America/New_York', 'Pacific/Chatham', 'Africa/Monrovia'];
    const parts = (ms: number, timeZone: string) =>
      Object.fromEntries(
        new Intl.DateTimeFormat('en-US', {
          timeZone,
          hourCycle: 'h23',
          year: 'numeric',
          month: 'numeric',
          day: 'numeric',
          hour: 'numeric',
          minute: 'numeric',
          second: 'numeric',
        })
          .formatToParts(new Date(ms))
          .filter((p) => p.type !== 'literal')
          .map((p) => [p.type, Number(p.value)]),
      );
    // Years 1850–2150, and one before 1000 (Intl writes it with fewer digits).
    const instants = [Date.parse('0800-03-01T12:34:56Z')];
    const [first, last] = [Date.UTC(1850, 0, 1), Date.UTC(2150, 0, 1)];
    for (let i = 0; i < 200; i++) instants.push(Math.floor(first + ((last - first) * i) / 200) + i);
    for (const zone of zones)
      for (const ms of instants)
        assert.deepEqual({ ...wallClock(ms, zone) }, parts(ms, zone), `${zone} ${ms}`);
    assert.equal(offsetMs(Date.parse('2026-11-28T10:00:00.999Z'), 'Pacific/Chatham'), 49_500_000);
    assert.equal(offsetMs(Date.parse('1971-06-01T00:00:00Z'), 'Africa/Monrovia'), -2_670_000);
  });
});
