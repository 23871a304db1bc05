import { BeforeApplicationShutdown, Injectable, Logger } from '@nestjs/common';
import { setTimeout as sleep } from 'node:timers/promises';
import { DataSource, EntityManager } from 'typeorm';
import { isTransientFailure } from './db-errors.js';

/** Attempts of one transaction in all, and the back-off between them (doubling, jittered). */
const ATTEMPTS = 6;
const BACKOFF_MIN_MS = 25;
const BACKOFF_MAX_MS = 2000;

/**
 * The single writer. TypeORM on SQLite shares one connection, so two overlapping transactions
 * corrupt each other (and a plain statement issued while another transaction is open joins it).
 * Every write therefore runs here, one transaction at a time, in arrival order.
 *
 * On PostgreSQL another server's transactions run alongside: a transaction that loses a deadlock,
 * fails to serialize or loses its connection is run again after a short back-off (a few lines
 * rather than a retry library: the loop must stay inside the queue's order). `work` may therefore
 * run more than once and must keep no state outside the transaction between runs; the guarded
 * updates it is made of find nothing to do the second time if the first did commit.
 */
@Injectable()
export class WriteQueue implements BeforeApplicationShutdown {
  private readonly logger = new Logger(WriteQueue.name);
  private tail: Promise<unknown> = Promise.resolve();
  private waiting = 0;
  private committed = 0;
  private retried = 0;

  constructor(private readonly dataSource: DataSource) {}

  /** Runs `work` inside a transaction after every write queued before it has finished. */
  run<T>(work: (manager: EntityManager) => Promise<T>): Promise<T> {
    this.waiting++;
    const result = this.tail.then(async () => {
      const value = await this.transaction(work);
      this.committed++;
      return value;
    });
    this.tail = result.then(
      () => this.waiting--,
      () => this.waiting--,
    );
    return result;
  }

  private async transaction<T>(work: (manager: EntityManager) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.dataSource.transaction(work);
      } catch (err) {
        if (attempt >= ATTEMPTS || !isTransientFailure(err)) throw err;
        const ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** attempt);
        const wait = Math.round(ceiling / 2 + Math.random() * (ceiling / 2));
        this.retried++;
        this.logger.warn(
          `transaction failed (${(err as Error).message}); attempt ${attempt + 1} of ${ATTEMPTS} in ${wait} ms`,
        );
        await sleep(wait);
      }
    }
  }

  /** Transactions committed since start (tests and metrics: proves batching). */
  get transactions(): number {
    return this.committed;
  }

  /** Transactions tried again after a deadlock, serialization failure or lost connection. */
  get retries(): number {
    return this.retried;
  }

  /** Number of writes queued or running. */
  get depth(): number {
    return this.waiting;
  }

  /** Resolves once every write queued so far (and any queued meanwhile) has finished. */
  async drain(): Promise<void> {
    while (this.waiting > 0) await this.tail;
  }

  async beforeApplicationShutdown(): Promise<void> {
    if (this.waiting > 0)
      this.logger.log(`finishing ${this.waiting} queued write(s) before shutdown`);
    await this.drain();
  }
}
