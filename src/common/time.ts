/** An epoch-milliseconds column as the API shows it (ISO 8601, UTC). */
export function isoTime(ms: number): string {
  return new Date(ms).toISOString();
}
