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
