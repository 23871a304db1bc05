import assert from 'node:assert/strict';
import { describe, it } from '@jest/globals';
import { Clock } from './clock.js';
import { FailureBackoff, FIRST_BACKOFF_MS } from './failure-window.js';

class ManualClock extends Clock {
  constructor(public ms: number) {
    super();
  }
  now(): Date {
    return new Date(this.ms);
  }
}

describe('FailureBackoff', () => {
  it('lets the free failures pass, then waits twice as long after each further one, up to the cap', () => {
    const clock = new ManualClock(0);
    const b = new FailureBackoff(3, 60_000, 10_000, clock);
    for (let i = 0; i < 2; i++) b.recordFailure('k');
    assert.equal(b.waitMs('k'), 0);
    b.recordFailure('k');
    assert.equal(b.waitMs('k'), FIRST_BACKOFF_MS);
    b.recordFailure('k');
    assert.equal(b.waitMs('k'), 2 * FIRST_BACKOFF_MS);
    for (let i = 0; i < 40; i++) b.recordFailure('k');
    assert.equal(b.waitMs('k'), 10_000, 'capped');
    assert.equal(b.waitMs('other'), 0, 'keys are apart');
  });

  it('forgets a key quiet for a window, and the wait runs out on its own', () => {
    const clock = new ManualClock(0);
    const b = new FailureBackoff(1, 60_000, 60_000, clock);
    b.recordFailure('k');
    clock.ms += FIRST_BACKOFF_MS;
    assert.equal(b.waitMs('k'), 0, 'the wait is over');
    b.recordFailure('k');
    assert.equal(b.waitMs('k'), 2 * FIRST_BACKOFF_MS, 'still within the window: the next step');
    clock.ms += 60_000;
    assert.equal(b.waitMs('k'), 0);
    b.recordFailure('k');
    assert.equal(b.waitMs('k'), FIRST_BACKOFF_MS, 'afresh after a quiet window');
  });
});
