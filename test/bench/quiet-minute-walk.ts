/**
 * The baseline of the quiet-hours scenario: `endOfQuiet` as it was before it computed the end
 * (src/broadcasts/quiet-window.ts at dd98046), kept here so that the benchmark can time both in
 * one process. It builds an `Intl.DateTimeFormat` for each minute it walks.
 */
import { isQuietAt, parseQuietHours } from '../../src/common/quiet-hours.js';

/** Minutes after local midnight of `at` in `timeZone`. */
export function minuteOfDayWalked(at: number, timeZone: string): number {
  const parts = new Intl.DateTimeFormat('en-GB', {
    timeZone,
    hour: '2-digit',
    minute: '2-digit',
    hourCycle: 'h23',
  }).formatToParts(new Date(at));
  const hour = Number(parts.find((p) => p.type === 'hour')?.value ?? 0);
  const minute = Number(parts.find((p) => p.type === 'minute')?.value ?? 0);
  return hour * 60 + minute;
}

/**
 * The first moment at or after `from` outside a village's quiet hours (`HH:MM-HH:MM`, local time in
 * `timeZone`); `from` itself when it is not quiet or the village has none. Checked minute by minute,
 * at most a day ahead.
 */
export function endOfQuietMinuteWalk(
  from: number,
  quietHours: string | null,
  timeZone: string,
): number {
  const q = quietHours ? parseQuietHours(quietHours) : null;
  if (!q || !isQuietAt(q, minuteOfDayWalked(from, timeZone))) return from;
  const startOfMinute = from - (from % 60_000);
  for (let m = 1; m <= 24 * 60; m++) {
    const t = startOfMinute + m * 60_000;
    if (!isQuietAt(q, minuteOfDayWalked(t, timeZone))) return t;
  }
  return from;
}
