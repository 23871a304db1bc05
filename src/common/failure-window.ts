import type { Clock } from './clock.js';

/** Keys tracked at once; past this the oldest are forgotten so memory stays bounded. */
const MAX_TRACKED = 10_000;

/** The first wait of a key past its free failures; each further failure doubles it. */
export const FIRST_BACKOFF_MS = 2000;

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

  /** Takes back one failure counted ahead of time (an attempt that turned out not to be one). */
  forgive(key: string): void {
    const entry = this.failures.get(key);
    if (entry && entry.count > 0) entry.count--;
  }
}

/**
 * Failures per key with back-off: the first `freeFailures` within a window cost nothing; the next
 * makes the key wait `firstWaitMs` ({@link FIRST_BACKOFF_MS}), and each further one twice as long, up to
 * `maxWaitMs`. A key quiet for `windowMs` since its last failure starts afresh. Callers decide
 * what waiting means; nothing here refuses anyone.
 */
export class FailureBackoff {
  private readonly failures = new Map<string, { count: number; lastAt: number; until: number }>();

  constructor(
    private readonly freeFailures: number,
    private readonly windowMs: number,
    private readonly maxWaitMs: number,
    private readonly clock: Clock,
    private readonly firstWaitMs = FIRST_BACKOFF_MS,
  ) {}

  /** Milliseconds `key` should still wait, or 0. */
  waitMs(key: string): number {
    const entry = this.failures.get(key);
    if (!entry) return 0;
    const now = this.clock.now().getTime();
    if (now - entry.lastAt >= this.windowMs) {
      this.failures.delete(key);
      return 0;
    }
    return Math.max(0, entry.until - now);
  }

  recordFailure(key: string): void {
    const now = this.clock.now().getTime();
    let entry = this.failures.get(key);
    if (!entry || now - entry.lastAt >= this.windowMs) {
      if (!entry && this.failures.size >= MAX_TRACKED) {
        const oldest = this.failures.keys().next().value;
        if (oldest !== undefined) this.failures.delete(oldest);
      }
      entry = { count: 0, lastAt: now, until: 0 };
      this.failures.set(key, entry);
    }
    entry.count++;
    entry.lastAt = now;
    const over = entry.count - this.freeFailures;
    if (over >= 0) {
      entry.until = now + Math.min(this.maxWaitMs, this.firstWaitMs * 2 ** Math.min(over, 30));
    }
  }
}
