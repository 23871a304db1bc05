import { BeforeApplicationShutdown, Injectable, Logger } from '@nestjs/common';
import { Clock } from './clock.js';

/** One periodic job: run with no time from the timer (it reads the clock), or at `at` from tests. */
export type TickJob = (at?: Date) => unknown;

interface Job {
  everyMs: number;
  run: TickJob;
  timer?: NodeJS.Timeout;
}

/**
 * The one owner of periodic domain work (the dispatcher's tick, the schedules, the presence sweep).
 * Services register their job when they start; the server starts the timers once start-up is done,
 * so no job runs half-started. Tests leave the timers off and run the jobs at their clock's time
 * with `runAll()`, instead of waiting for a real interval.
 */
@Injectable()
export class Ticker implements BeforeApplicationShutdown {
  private readonly logger = new Logger('ticker');
  private readonly jobs = new Map<string, Job>();
  private readonly running = new Set<Promise<unknown>>();
  private started = false;

  constructor(private readonly clock: Clock) {}

  /** Runs `run` every `everyMs` once the timers are started (its timer starts now if they are). */
  every(name: string, everyMs: number, run: TickJob): void {
    this.cancel(name);
    const job: Job = { everyMs, run };
    this.jobs.set(name, job);
    if (this.started) this.arm(name, job);
  }

  /** Stops and forgets a job (a service shutting down); a run under way finishes. */
  cancel(name: string): void {
    clearInterval(this.jobs.get(name)?.timer);
    this.jobs.delete(name);
  }

  /** Starts the real timers (the server, once started; tests do not). */
  start(): void {
    this.started = true;
    for (const [name, job] of this.jobs) this.arm(name, job);
  }

  /** Each job once, in the order they were registered, at `now` (tests: their clock's time). */
  async runAll(now: Date = this.clock.now()): Promise<void> {
    for (const job of [...this.jobs.values()]) await job.run(now);
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.started = false;
    for (const job of this.jobs.values()) clearInterval(job.timer);
    await Promise.all(this.running);
  }

  private arm(name: string, job: Job): void {
    clearInterval(job.timer);
    job.timer = setInterval(() => {
      const run = Promise.resolve()
        .then(() => job.run())
        .catch((err: Error) => this.logger.error(`${name} failed: ${err.stack ?? err.message}`))
        .finally(() => this.running.delete(run));
      this.running.add(run);
    }, job.everyMs);
    // A timer alone never keeps the process alive: the server's sockets do.
    job.timer.unref();
  }
}
