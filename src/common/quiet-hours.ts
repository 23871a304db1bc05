/**
 * Quiet hours in one place: a village's window (`HH:MM-HH:MM`, local wall-clock time, end
 * exclusive, may wrap midnight), which broadcasts wait for it, and when it ends in a time zone.
 */
import type { Level } from '../contract/messages.js';
import { offsetMs, wallClock } from './zoned-time.js';

/** Routine and test broadcasts wait for a village's quiet hours to end; emergencies do not. */
export function heldByQuietHours(level: Level): boolean {
  return level === 'routine' || level === 'test';
}

/** A village's quiet hours, parsed. */
export interface QuietHours {
  /** Minutes after midnight, 0–1439. */
  startMinute: number;
  endMinute: number;
}

const PATTERN = /^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]):([0-5]\d)$/;

/** Parses `HH:MM-HH:MM`; null when the text is not a valid, non-empty window. */
export function parseQuietHours(text: string): QuietHours | null {
  const m = PATTERN.exec(text);
  if (!m) return null;
  const startMinute = Number(m[1]) * 60 + Number(m[2]);
  const endMinute = Number(m[3]) * 60 + Number(m[4]);
  return startMinute === endMinute ? null : { startMinute, endMinute };
}

/** True when `minuteOfDay` (0–1439, local time) falls inside the window. */
export function isQuietAt(q: QuietHours, minuteOfDay: number): boolean {
  return q.startMinute < q.endMinute
    ? minuteOfDay >= q.startMinute && minuteOfDay < q.endMinute
    : minuteOfDay >= q.startMinute || minuteOfDay < q.endMinute;
}

const MINUTE = 60_000;
const DAY_MINUTES = 24 * 60;

/** Minutes after local midnight of `at` in `timeZone`. */
export function minuteOfDay(at: number, timeZone: string): number {
  const w = wallClock(at, timeZone);
  return w.hour * 60 + w.minute;
}

// A county has a handful of distinct windows; the delivery sender asks once per delivery.
const parsed = new Map<string, QuietHours | null>();

/** Entries either cache keeps at most: villages can have any window, so the caches are bounded. */
const CACHE_MAX = 1000;

function quietHoursOf(text: string): QuietHours | null {
  let q = parsed.get(text);
  if (q === undefined) {
    q = parseQuietHours(text);
    if (parsed.size >= CACHE_MAX) parsed.clear();
    parsed.set(text, q);
  }
  return q;
}

/**
 * The last answer per zone and window: a send asks the same question for every delivery of a
 * village, and on the nights the clock changes an answer costs ~20 readings of the clock.
 */
const lastAnswer = new Map<string, { from: number; end: number }>();

/** `x` mod `m`, never negative (instants before 1970 are negative). */
const mod = (x: number, m: number) => ((x % m) + m) % m;

/**
 * The first instant at or after `from` outside a village's quiet hours (`HH:MM-HH:MM`, local
 * wall-clock time in `timeZone`, end exclusive); `from` itself when it is not quiet or the village
 * has none. A window that ends normally ends at its end minute (`06:00:00.000` local). Across a
 * change of the zone's offset: when the end falls in a skipped hour, the first instant after the
 * skip; when the clock goes back, the earliest instant the clock shows a time outside the window
 * (the first `01:30` of a repeated hour, or the change itself when the clock falls back out of
 * the window). Assumes the offset does not change and change back within one window.
 */
export function endOfQuiet(from: number, quietHours: string | null, timeZone: string): number {
  const q = quietHours ? quietHoursOf(quietHours) : null;
  if (!q) return from;
  const key = `${timeZone} ${quietHours}`;
  const last = lastAnswer.get(key);
  if (last?.from === from) return last.end;
  const end = computeEnd(from, q, timeZone);
  if (lastAnswer.size >= CACHE_MAX) lastAnswer.clear();
  lastAnswer.set(key, { from, end });
  return end;
}

function computeEnd(from: number, q: QuietHours, timeZone: string): number {
  let t = from;
  let end = from;
  // Each pass ends the window or moves to the next offset change before its end; a window of
  // under a day spans at most one change in any real zone, so more passes mean odd zone data.
  for (let pass = 0; pass < 4; pass++) {
    const offset = offsetMs(t, timeZone);
    // The wall clock at `t`, counted as if it were UTC.
    const local = t + offset;
    const minute = Math.floor(mod(local, DAY_MINUTES * MINUTE) / MINUTE);
    if (!isQuietAt(q, minute)) return t;
    // The window's end on the wall clock, were the offset at `t` to hold until then.
    const minutesLeft = (q.endMinute - minute + DAY_MINUTES) % DAY_MINUTES;
    end = local - mod(local, MINUTE) + minutesLeft * MINUTE - offset;
    if (offsetMs(end, timeZone) === offset) return end;
    t = offsetChange(t, end, offset, timeZone);
  }
  return end;
}

/**
 * The first instant in (`from`, `to`] at which the offset of `timeZone` is no longer `offset`
 * (which it is at `from`, and is not at `to`). Offsets change on whole seconds: a binary search
 * over seconds, ~17 readings for a day, only on the nights the clock changes.
 */
function offsetChange(from: number, to: number, offset: number, timeZone: string): number {
  let same = Math.floor(from / 1000);
  let changed = Math.ceil(to / 1000);
  while (changed - same > 1) {
    const mid = Math.floor((same + changed) / 2);
    if (offsetMs(mid * 1000, timeZone) === offset) same = mid;
    else changed = mid;
  }
  return changed * 1000;
}

/** The villages quiet hours hold back from a schedule's firings (`quietHolds`). */
export interface QuietHolds {
  targetedVillages: number;
  /** Only villages held from at least one firing, in town then code order. */
  villages: {
    code: string;
    name: string;
    townName: string;
    quietHours: string;
    /** Each firing held: when it plays there, or null when quiet hours outlast its window. */
    holds: { fireAt: number; playsAt: number | null }[];
  }[];
}

/**
 * Of these targeted villages, those whose quiet hours hold back at least one of `windows` (a
 * schedule's next firings), in the order given, with when each firing plays there.
 */
export function quietHeldVillages(
  villageCodes: string[],
  villages: { code: string; quietHours: string | null }[],
  refs: { code: string; name: string; townName: string }[],
  windows: { startAt: number; expiresAt: number }[],
  timeZone: string,
): QuietHolds['villages'] {
  const out: QuietHolds['villages'] = [];
  const quiet = new Map(villages.map((v) => [v.code, v.quietHours]));
  const ref = new Map(refs.map((r) => [r.code, r]));
  for (const code of villageCodes) {
    const quietHours = quiet.get(code) ?? null;
    if (!quietHours) continue;
    const holds = windows
      .map((w) => ({ ...w, end: endOfQuiet(w.startAt, quietHours, timeZone) }))
      .filter((w) => w.end > w.startAt);
    if (!holds.length) continue;
    const r = ref.get(code);
    out.push({
      code,
      name: r?.name ?? code,
      townName: r?.townName ?? '',
      quietHours,
      holds: holds.map((h) => ({
        fireAt: h.startAt,
        playsAt: h.end < h.expiresAt ? h.end : null,
      })),
    });
  }
  return out;
}
