import type { Clock } from './clock.js';

/** Keys tracked at once; past this the oldest are forgotten so memory stays bounded. */
const MAX_TRACKED = 10_000;

/**
 * Counts failures per key (an address, a client id) in a fixed window. Once a key reaches the
 * limit it stays blocked until its window ends.
 */
export class FailureWindow {
  private readonly failures = new Map<string, { count: number; windowEnds: number }>();

  constructor(
    private readonly limit: number,
    private readonly windowMs: number,
    private readonly clock: Clock,
  ) {}

  /** Seconds until `key` may try again, or 0 when it is not blocked. */
  retryAfterS(key: string): number {
    const entry = this.failures.get(key);
    if (!entry) return 0;
    const now = this.clock.now().getTime();
    if (now >= entry.windowEnds) {
      this.failures.delete(key);
      return 0;
    }
    return entry.count >= this.limit ? Math.ceil((entry.windowEnds - now) / 1000) : 0;
  }

  recordFailure(key: string): void {
    const now = this.clock.now().getTime();
    const entry = this.failures.get(key);
    if (entry && now < entry.windowEnds) {
      entry.count++;
      return;
    }
    if (this.failures.size >= MAX_TRACKED) {
      const oldest = this.failures.keys().next().value;
      if (oldest !== undefined) this.failures.delete(oldest);
    }
    this.failures.set(key, { count: 1, windowEnds: now + this.windowMs });
  }
}
