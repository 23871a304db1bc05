/**
 * Quiet hours of a village: `HH:MM-HH:MM` in local time, end exclusive. A window may wrap
 * midnight (`22:00-06:00`). Routine and test broadcasts wait outside it; emergencies ignore it.
 */
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
