/** Calendar days and wall-clock times in an IANA time zone (pure, on Intl). */

/** The wall-clock fields of an instant in a zone (month 1–12, hour 0–23). */
export interface WallClock {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
}

// Building a formatter costs many times what reading one does: one per zone, kept.
const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    });
    formatters.set(timeZone, f);
  }
  return f;
}

const FORMATTED = /^(\d\d)\/(\d\d)\/(\d{4}), (\d\d):(\d\d):(\d\d)$/;

/** `MM/DD/YYYY, HH:mm:ss` read back: `format` and a regex cost less than `formatToParts`. */
function readFormatted(text: string): WallClock | null {
  const m = FORMATTED.exec(text);
  if (!m) return null;
  return { year: +m[3], month: +m[1], day: +m[2], hour: +m[4], minute: +m[5], second: +m[6] };
}

/** Any other shape (a year before 1000, another ICU's punctuation) by parts. */
function readParts(format: Intl.DateTimeFormat, ms: number): WallClock {
  const fields: WallClock = { year: 0, month: 0, day: 0, hour: 0, minute: 0, second: 0 };
  for (const p of format.formatToParts(new Date(ms)))
    if (p.type in fields) fields[p.type as keyof WallClock] = Number(p.value);
  return fields;
}

/** What the wall clock of `timeZone` shows at `ms` (to the second). */
export function wallClock(ms: number, timeZone: string): WallClock {
  const f = formatter(timeZone);
  const second = Math.floor(ms / 1000) * 1000;
  return readFormatted(f.format(second)) ?? readParts(f, second);
}

/** How far the zone's wall clock is ahead of UTC at `ms` (whole seconds, as the zone data has them). */
export function offsetMs(ms: number, timeZone: string): number {
  const p = wallClock(ms, timeZone);
  const asUtc = Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second);
  return asUtc - Math.floor(ms / 1000) * 1000;
}

const DAY = /^(\d{4})-(\d{2})-(\d{2})$/;

/** Midnight at the start of a calendar day (`YYYY-MM-DD`) in `timeZone`, as epoch ms; null if not a day. */
export function startOfDay(day: string, timeZone: string): number | null {
  const m = DAY.exec(day);
  if (!m) return null;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const guess = Date.UTC(y, mo - 1, d);
  const check = new Date(guess);
  if (check.getUTCFullYear() !== y || check.getUTCMonth() !== mo - 1 || check.getUTCDate() !== d)
    return null;
  // Twice: the offset at the guess may differ from the offset at the answer across a DST change.
  let t = guess - offsetMs(guess, timeZone);
  t = guess - offsetMs(t, timeZone);
  return t;
}

/** `YYYY-MM-DD HH:mm:ss` on the wall clock of `timeZone` (what a spreadsheet shows as a date). */
export function formatLocal(ms: number, timeZone: string): string {
  const p = wallClock(ms, timeZone);
  const two = (n: number) => String(n).padStart(2, '0');
  return `${p.year}-${two(p.month)}-${two(p.day)} ${two(p.hour)}:${two(p.minute)}:${two(p.second)}`;
}

/**
 * A report bound: a calendar day (`2026-11-01`, midnight in `timeZone`; for `to`, the day is
 * included, so it means the next midnight) or an ISO 8601 instant with a zone. Null if neither.
 */
export function parseBound(value: string, timeZone: string, inclusiveDay: boolean): number | null {
  if (DAY.test(value)) {
    const start = startOfDay(value, timeZone);
    if (start === null) return null;
    if (!inclusiveDay) return start;
    const [y, m, d] = value.split('-').map(Number);
    const next = new Date(Date.UTC(y, m - 1, d + 1)).toISOString().slice(0, 10);
    return startOfDay(next, timeZone);
  }
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?(Z|[+-]\d{2}:\d{2})$/.test(value))
    return null;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? null : ms;
}
