import assert from 'node:assert/strict';
import { describe, it } from '@jest/globals';
import { endOfQuiet, isQuietAt, minuteOfDay, parseQuietHours } from './quiet-hours.js';

const shanghai = (iso: string) => Date.parse(`${iso}+08:00`);

// ---- the reference: the minute walk endOfQuiet was before it computed the end directly ----

const oracleFormatters = new Map<string, Intl.DateTimeFormat>();

function oracleMinuteOfDay(at: number, timeZone: string): number {
  // Kept per zone (the old code built one a minute): the walk is the same, only faster.
  let f = oracleFormatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-GB', {
      timeZone,
      hour: '2-digit',
      minute: '2-digit',
      hourCycle: 'h23',
    });
    oracleFormatters.set(timeZone, f);
  }
  const parts = f.formatToParts(new Date(at));
  const hour = Number(parts.find((p) => p.type === 'hour')?.value ?? 0);
  const minute = Number(parts.find((p) => p.type === 'minute')?.value ?? 0);
  return hour * 60 + minute;
}

/**
 * The old algorithm: from the next UTC minute on, the first minute whose wall clock is outside
 * the window. One intended difference: it gave up after 24 h and returned `from` (as if not
 * quiet); a window over 23 h lasts longer than that the night the clock goes back, so this one
 * walks two days (the test "a window longer than a day of real time" pins the new answer).
 */
function minuteWalk(from: number, quietHours: string | null, timeZone: string): number {
  const q = quietHours ? parseQuietHours(quietHours) : null;
  if (!q || !isQuietAt(q, oracleMinuteOfDay(from, timeZone))) return from;
  const startOfMinute = from - (from % 60_000);
  for (let m = 1; m <= 2 * 24 * 60; m++) {
    const t = startOfMinute + m * 60_000;
    if (!isQuietAt(q, oracleMinuteOfDay(t, timeZone))) return t;
  }
  return from;
}

/** Deterministic, so a failing case can be run again: mulberry32. */
function random(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let x = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 2 ** 32;
  };
}

const offsetFormatters = new Map<string, Intl.DateTimeFormat>();

/** The zone's offset as Intl names it (`GMT+10:30`), independent of the code under test. */
function offsetName(at: number, timeZone: string): string {
  let f = offsetFormatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', { timeZone, timeZoneName: 'longOffset' });
    offsetFormatters.set(timeZone, f);
  }
  return f.formatToParts(new Date(at)).find((p) => p.type === 'timeZoneName')!.value;
}

/** Hours in [from, to) at whose end the zone's offset differs from its start. */
function offsetChanges(from: number, to: number, timeZone: string): number[] {
  const out: number[] = [];
  for (let t = from; t < to; t += 3_600_000)
    if (offsetName(t, timeZone) !== offsetName(t + 3_600_000, timeZone)) out.push(t);
  return out;
}

const ZONES = [
  'Asia/Shanghai',
  'Europe/Berlin',
  'America/New_York',
  'Australia/Lord_Howe', // goes forward and back by 30 minutes
  'Asia/Kolkata',
  'Pacific/Chatham', // +12:45 / +13:45, changes at 02:45 local
  'America/Santiago', // changes at midnight: 00:00 does not exist one night, occurs twice another
  'Asia/Kathmandu',
  'UTC',
];
const WINDOWS = [
  '22:00-06:00',
  '00:00-06:00',
  '12:00-13:00',
  '23:59-00:00',
  '00:00-02:30',
  '01:00-03:00',
  '01:30-02:15',
  '02:00-03:00',
  '02:30-03:00',
  '01:45-01:15',
];

describe('quiet hours in a time zone', () => {
  it('reads local time', () => {
    assert.equal(minuteOfDay(shanghai('2026-11-28T22:30:00'), 'Asia/Shanghai'), 22 * 60 + 30);
    assert.equal(minuteOfDay(Date.parse('2026-11-28T22:30:59.999Z'), 'Asia/Kolkata'), 4 * 60 + 0);
  });

  it('holds until the window ends, across midnight', () => {
    assert.equal(
      endOfQuiet(shanghai('2026-11-28T23:10:00'), '22:00-06:00', 'Asia/Shanghai'),
      shanghai('2026-11-29T06:00:00'),
    );
    assert.equal(
      endOfQuiet(shanghai('2026-11-28T22:05:17.250'), '22:00-06:00', 'Asia/Shanghai'),
      shanghai('2026-11-29T06:00:00'),
    );
    assert.equal(
      endOfQuiet(shanghai('2026-11-28T05:59:30'), '22:00-06:00', 'Asia/Shanghai'),
      shanghai('2026-11-28T06:00:00'),
    );
    assert.equal(
      endOfQuiet(shanghai('2026-11-28T23:59:59.999'), '23:59-00:00', 'Asia/Shanghai'),
      shanghai('2026-11-29T00:00:00'),
    );
  });

  it('does not hold outside the window, at its end, or without quiet hours', () => {
    const noon = shanghai('2026-11-28T12:00:00.123');
    assert.equal(endOfQuiet(noon, '22:00-06:00', 'Asia/Shanghai'), noon);
    assert.equal(endOfQuiet(noon, null, 'Asia/Shanghai'), noon);
    assert.equal(endOfQuiet(noon, 'not a window', 'Asia/Shanghai'), noon);
    const six = shanghai('2026-11-28T06:00:00');
    assert.equal(endOfQuiet(six, '22:00-06:00', 'Asia/Shanghai'), six);
  });

  it('ends at the first instant after a skipped hour when the end falls in it', () => {
    // Berlin, 2026-03-29: 02:00 CET is 03:00 CEST (01:00 UTC); 02:30 does not exist.
    const skip = Date.parse('2026-03-29T01:00:00Z');
    assert.equal(
      endOfQuiet(Date.parse('2026-03-28T23:00:00Z'), '00:00-02:30', 'Europe/Berlin'),
      skip,
    );
    assert.equal(
      endOfQuiet(Date.parse('2026-03-28T23:00:00Z'), '22:00-02:00', 'Europe/Berlin'),
      skip,
    );
    // A window that ends after the skip ends by the new offset: 06:00 CEST.
    assert.equal(
      endOfQuiet(Date.parse('2026-03-28T22:00:00Z'), '22:00-06:00', 'Europe/Berlin'),
      Date.parse('2026-03-29T04:00:00Z'),
    );
    // New York, 2026-03-08: 02:00 EST is 03:00 EDT (07:00 UTC).
    assert.equal(
      endOfQuiet(Date.parse('2026-03-08T06:30:00Z'), '01:00-02:30', 'America/New_York'),
      Date.parse('2026-03-08T07:00:00Z'),
    );
  });

  it('ends at the earliest instant outside the window when the clock goes back', () => {
    // New York, 2026-11-01: 02:00 EDT is 01:00 EST (06:00 UTC); 01:30 happens twice.
    assert.equal(
      endOfQuiet(Date.parse('2026-11-01T04:10:00Z'), '00:00-01:30', 'America/New_York'),
      Date.parse('2026-11-01T05:30:00Z'),
      'the first 01:30 (EDT)',
    );
    assert.equal(
      endOfQuiet(Date.parse('2026-11-01T06:10:00Z'), '00:00-01:30', 'America/New_York'),
      Date.parse('2026-11-01T06:30:00Z'),
      'from inside the repeated hour: the second 01:30 (EST)',
    );
    // 01:45 EDT is in 01:30-03:00; the clock then falls back to 01:00, outside it.
    assert.equal(
      endOfQuiet(Date.parse('2026-11-01T05:45:00Z'), '01:30-03:00', 'America/New_York'),
      Date.parse('2026-11-01T06:00:00Z'),
    );
    // 06:00 comes an hour later in real time: 06:00 EST.
    assert.equal(
      endOfQuiet(Date.parse('2026-11-01T02:05:00Z'), '22:00-06:00', 'America/New_York'),
      Date.parse('2026-11-01T11:00:00Z'),
    );
    // Berlin, 2026-10-25: 03:00 CEST is 02:00 CET (01:00 UTC).
    assert.equal(
      endOfQuiet(Date.parse('2026-10-24T20:05:00Z'), '22:00-06:00', 'Europe/Berlin'),
      Date.parse('2026-10-25T05:00:00Z'),
    );
  });

  it('holds with a 30-minute change (Lord Howe) and odd offsets (Kolkata, Chatham)', () => {
    // Lord Howe, 2026-10-04: 02:00 +10:30 is 02:30 +11 (2026-10-03T15:30Z).
    assert.equal(
      endOfQuiet(Date.parse('2026-10-03T15:00:00Z'), '01:00-02:15', 'Australia/Lord_Howe'),
      Date.parse('2026-10-03T15:30:00Z'),
    );
    assert.equal(
      endOfQuiet(Date.parse('2026-11-28T17:00:00Z'), '22:00-06:00', 'Asia/Kolkata'),
      Date.parse('2026-11-29T00:30:00Z'),
    );
    // Chatham in summer is +13:45: 06:00 local on 2026-11-29 is 16:15 UTC on the 28th.
    assert.equal(
      endOfQuiet(Date.parse('2026-11-28T10:00:00Z'), '22:00-06:00', 'Pacific/Chatham'),
      Date.parse('2026-11-28T16:15:00Z'),
    );
  });

  it('holds across a skipped day (Samoa, 2011-12-30)', () => {
    // 23:59 on the 29th (-10) was followed by 00:00 on the 31st (+14).
    assert.equal(
      endOfQuiet(Date.parse('2011-12-30T09:00:00Z'), '22:00-06:00', 'Pacific/Apia'),
      Date.parse('2011-12-30T16:00:00Z'),
    );
  });

  it('a window longer than a day of real time, the night the clock goes back', () => {
    // 02:00-01:30 is quiet 23.5 h of the wall clock; Berlin's 2026-10-25 has 25 h, so from 02:00
    // CEST (00:00 UTC) the window lasts 24.5 h. The old walk gave up at 24 h and returned `from`.
    const from = Date.parse('2026-10-25T00:00:00Z');
    assert.equal(
      endOfQuiet(from, '02:00-01:30', 'Europe/Berlin'),
      Date.parse('2026-10-26T00:30:00Z'),
    );
    assert.equal(
      minuteWalk(from, '02:00-01:30', 'Europe/Berlin'),
      Date.parse('2026-10-26T00:30:00Z'),
    );
  });

  it('ends on the local minute when the offset has seconds (the walk was 30 s late)', () => {
    // Monrovia was -00:44:30 until 1972: 06:00 local is 06:44:30 UTC. The minute walk stepped
    // through UTC minutes and first saw 06:00 at 06:45:00 UTC.
    const from = Date.parse('1971-06-01T01:00:00Z');
    const sixLocal = Date.parse('1971-06-01T06:44:30Z');
    assert.equal(endOfQuiet(from, '00:00-06:00', 'Africa/Monrovia'), sixLocal);
    assert.equal(minuteWalk(from, '00:00-06:00', 'Africa/Monrovia'), sixLocal + 30_000);
  });

  it('agrees with the minute walk at random instants, windows and zones', () => {
    const next = random(20261201);
    const yearStart = Date.parse('2026-01-01T00:00:00Z');
    const yearEnd = Date.parse('2027-01-01T00:00:00Z');
    let compared = 0;
    let held = 0;
    for (const zone of ZONES) {
      // Most instants within two days of a change of offset, where the arithmetic can go wrong.
      const changes = offsetChanges(yearStart, yearEnd, zone);
      const instants: number[] = [];
      for (let i = 0; i < 250; i++) {
        const near = changes.length > 0 && i % 4 !== 0;
        const base = near
          ? changes[Math.floor(next() * changes.length)] - 2 * 86_400_000
          : yearStart;
        const span = near ? 4 * 86_400_000 : yearEnd - yearStart;
        // Whole minutes, seconds and milliseconds alike.
        instants.push(Math.floor(base + next() * span));
      }
      for (const [i, from] of instants.entries()) {
        const minute = () => String(Math.floor(next() * 1440));
        const hhmm = (m: string) =>
          `${String(Math.floor(+m / 60)).padStart(2, '0')}:${String(+m % 60).padStart(2, '0')}`;
        const windows = [WINDOWS[i % WINDOWS.length], `${hhmm(minute())}-${hhmm(minute())}`];
        for (const window of windows) {
          const expected = minuteWalk(from, window, zone);
          assert.equal(
            endOfQuiet(from, window, zone),
            expected,
            `${zone} ${window} from ${new Date(from).toISOString()}`,
          );
          compared++;
          if (expected !== from) held++;
        }
      }
    }
    // Not a vacuous pass: many of the instants fell inside a window.
    assert.ok(held > compared / 4, `${held} of ${compared} held`);
  });
});

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
