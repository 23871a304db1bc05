import { Injectable } from '@nestjs/common';
import type { AppConfig } from '../config/app-config.js';
import { InjectConfig } from '../config/config.module.js';
import { Clock } from '../common/clock.js';

/** Addresses tracked at once; past this the oldest are forgotten so memory stays bounded. */
const MAX_TRACKED = 10_000;

/**
 * Counts failed token attempts per client address in a fixed window. Once an address reaches the
 * limit, every request from it is refused until its window ends, so guessing tokens is slow and
 * the answer never says whether a guess was right.
 */
@Injectable()
export class AuthFailureLimiter {
  private readonly failures = new Map<string, { count: number; windowEnds: number }>();

  constructor(
    @InjectConfig() private readonly config: AppConfig,
    private readonly clock: Clock,
  ) {}

  /** Seconds until the address may try again, or 0 when it is not blocked. */
  retryAfterS(address: string): number {
    const entry = this.failures.get(address);
    if (!entry) return 0;
    const now = this.clock.now().getTime();
    if (now >= entry.windowEnds) {
      this.failures.delete(address);
      return 0;
    }
    return entry.count >= this.config.auth.failLimit
      ? Math.ceil((entry.windowEnds - now) / 1000)
      : 0;
  }

  recordFailure(address: string): void {
    const now = this.clock.now().getTime();
    const entry = this.failures.get(address);
    if (entry && now < entry.windowEnds) {
      entry.count++;
      return;
    }
    if (this.failures.size >= MAX_TRACKED) {
      const oldest = this.failures.keys().next().value;
      if (oldest !== undefined) this.failures.delete(oldest);
    }
    this.failures.set(address, { count: 1, windowEnds: now + this.config.auth.failWindowMs });
  }
}
