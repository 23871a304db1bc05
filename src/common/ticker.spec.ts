import assert from 'node:assert/strict';
import { describe, it } from '@jest/globals';
import { Logger } from '@nestjs/common';
import { Clock } from './clock.js';
import { Ticker } from './ticker.js';

class FixedClock extends Clock {
  constructor(private readonly ms: number) {
    super();
  }
  now(): Date {
    return new Date(this.ms);
  }
}

describe('Ticker', () => {
  it('runAll runs each job once, in the order registered, at the time given or else the clock’s', async () => {
    const ticker = new Ticker(new FixedClock(1_000));
    const runs: string[] = [];
    ticker.every('a', 1, (at) => void runs.push(`a@${at?.getTime()}`));
    ticker.every('b', 1, async (at) => {
      await Promise.resolve();
      runs.push(`b@${at?.getTime()}`);
    });
    await ticker.runAll(new Date(5_000));
    await ticker.runAll();
    assert.deepEqual(runs, ['a@5000', 'b@5000', 'a@1000', 'b@1000']);
    await ticker.beforeApplicationShutdown();
  });

  it('once started, runs a job on its timer without a time (it reads the clock); a failed run does not stop the next', async () => {
    const errors: string[] = [];
    Logger.overrideLogger({
      log: () => undefined,
      warn: () => undefined,
      error: (message: unknown) => void errors.push(String(message)),
    });
    const ticker = new Ticker(new FixedClock(0));
    let calls = 0;
    const twice = new Promise<Date | undefined>((resolve) =>
      ticker.every('job', 1, (at) => {
        calls++;
        if (calls === 1) throw new Error('first run fails');
        resolve(at);
      }),
    );
    ticker.start();
    assert.equal(await twice, undefined, 'the timer passes no time');
    assert.ok(calls >= 2, 'a failed run does not stop the next');
    assert.match(
      errors[0] ?? '',
      /^job failed: Error: first run fails/,
      'the failure is logged by name',
    );
    await ticker.beforeApplicationShutdown();
  });

  it('forgets a cancelled job; registering a name again replaces the job', async () => {
    const ticker = new Ticker(new FixedClock(0));
    const runs: string[] = [];
    ticker.every('kept', 60_000, () => void runs.push('kept'));
    ticker.every('gone', 60_000, () => void runs.push('gone'));
    ticker.cancel('gone');
    await ticker.runAll();
    assert.deepEqual(runs, ['kept']);
    ticker.every('kept', 60_000, () => void runs.push('replaced'));
    await ticker.runAll();
    assert.deepEqual(runs, ['kept', 'replaced'], 'registering a name again replaces the job');
  });
});
