import 'reflect-metadata';
import assert from 'node:assert/strict';
import { describe, it } from '@jest/globals';
import { Test } from '@nestjs/testing';
import { Clock } from '../common/clock.js';
import { CommonModule } from '../common/common.module.js';
import { loadConfig } from '../config/app-config.js';
import { ConfigModule } from '../config/config.module.js';
import { AuthFailureLimiter } from './auth-failure-limiter.js';

class StoppedClock extends Clock {
  constructor(public ms: number) {
    super();
  }
  now(): Date {
    return new Date(this.ms);
  }
}

describe('AuthFailureLimiter as Nest builds it', () => {
  it('takes its limit and window from the configuration and its time from the Clock provider', async () => {
    const clock = new StoppedClock(Date.UTC(2026, 6, 1, 8));
    const config = loadConfig({ AUTH_FAIL_LIMIT: '3', AUTH_FAIL_WINDOW_S: '60' });
    // The app's own modules, with the clock swapped as a test swaps any provider.
    const moduleRef = await Test.createTestingModule({
      imports: [ConfigModule.forRoot(config), CommonModule.forRoot()],
      providers: [AuthFailureLimiter],
    })
      .overrideProvider(Clock)
      .useValue(clock)
      .compile();
    try {
      const limiter = moduleRef.get(AuthFailureLimiter);
      const address = '10.0.0.9';
      limiter.recordFailure(address);
      limiter.recordFailure(address);
      assert.equal(limiter.retryAfterS(address), 0, 'two failures are under the limit of 3');
      limiter.recordFailure(address);
      assert.equal(limiter.retryAfterS(address), 60, 'blocked for the configured 60 s window');
      clock.ms += 45_000;
      assert.equal(limiter.retryAfterS(address), 15, 'the window runs on the provided clock');
      clock.ms += 15_000;
      assert.equal(limiter.retryAfterS(address), 0);
    } finally {
      await moduleRef.close();
    }
  });
});
