/**
 * Times in reports up are Beijing time (UTC+08:00 all year, no daylight saving), whatever the
 * station's TZ_DEFAULT: the national formats and GB/T 35965.1 say so.
 */
const BEIJING_OFFSET_MS = 8 * 3_600_000;

/** `YYYY-MM-DD HH:mm:ss`, the GY/T documents' date-time (RptTime, StartTime, …). */
export function beijingTime(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000 + BEIJING_OFFSET_MS)
    .toISOString()
    .slice(0, 19)
    .replace('T', ' ');
}

/** `YYYY-MM-DDTHH:mm:ss+08:00`: a CAP 1.2 dateTime (an offset, never `Z`). */
export function capTime(ms: number): string {
  return `${beijingTime(ms).replace(' ', 'T')}+08:00`;
}

/** `YYYYMMDDhhmmss` in Beijing time (for EBMIDs). */
export function beijingDigits(ms: number): string {
  return beijingTime(ms).replace(/\D/g, '');
}

/** The instant of `YYYYMMDDhhmmss` in Beijing time, or null when it names no real time. */
export function parseBeijingDigits(digits: string): number | null {
  const m = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})$/.exec(digits);
  if (!m) return null;
  const ms = Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]) - BEIJING_OFFSET_MS;
  // Date.UTC rolls 2026-02-30 over to March: such digits were never written by beijingDigits.
  return beijingDigits(ms) === digits ? ms : null;
}
