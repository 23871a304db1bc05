import type { Logger } from '@nestjs/common';

/**
 * Logs a repeating problem once per key and interval, with a count of what it held back, so a
 * misbehaving device cannot fill the disk with log lines.
 */
export class ThrottledLog {
  private readonly seen = new Map<string, { until: number; suppressed: number }>();

  constructor(
    private readonly logger: Logger,
    private readonly intervalMs = 60_000,
    private readonly maxKeys = 10_000,
  ) {}

  warn(key: string, message: string, nowMs: number): void {
    const entry = this.seen.get(key);
    if (entry && nowMs < entry.until) {
      entry.suppressed++;
      return;
    }
    const held = entry?.suppressed
      ? ` (${entry.suppressed} similar in the last ${this.intervalMs / 1000} s not logged)`
      : '';
    if (!entry && this.seen.size >= this.maxKeys) this.seen.clear();
    this.seen.set(key, { until: nowMs + this.intervalMs, suppressed: 0 });
    this.logger.warn(`${message}${held}`);
  }
}
