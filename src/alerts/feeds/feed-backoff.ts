/** The longest a failing feed waits between two tries (unless its own interval is longer). */
export const MAX_BACKOFF_MS = 3_600_000;

/**
 * How long until the next poll: the feed's interval after a good poll; after `failures` failed
 * polls in a row, interval × 2^failures, capped at an hour, so a feed that is down for a day is
 * asked 24 times, not 1440, and one that comes back is noticed within the hour.
 */
export function nextPollDelayMs(intervalS: number, failures: number): number {
  const interval = intervalS * 1000;
  if (failures <= 0) return interval;
  // 2^failures overflows nothing: past 2^40 it is far beyond the cap anyway.
  return Math.min(interval * 2 ** Math.min(failures, 40), Math.max(MAX_BACKOFF_MS, interval));
}
