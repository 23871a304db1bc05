import { BeforeApplicationShutdown, Injectable, Logger } from '@nestjs/common';
import { DataSource, EntityManager } from 'typeorm';

/**
 * The single writer. TypeORM on SQLite shares one connection, so two overlapping transactions
 * corrupt each other (and a plain statement issued while another transaction is open joins it).
 * Every write therefore runs here, one transaction at a time, in arrival order.
 */
@Injectable()
export class WriteQueue implements BeforeApplicationShutdown {
  private readonly logger = new Logger(WriteQueue.name);
  private tail: Promise<unknown> = Promise.resolve();
  private waiting = 0;
  private committed = 0;

  constructor(private readonly dataSource: DataSource) {}

  /** Runs `work` inside a transaction after every write queued before it has finished. */
  run<T>(work: (manager: EntityManager) => Promise<T>): Promise<T> {
    this.waiting++;
    const result = this.tail.then(async () => {
      const value = await this.dataSource.transaction(work);
      this.committed++;
      return value;
    });
    this.tail = result.then(
      () => this.waiting--,
      () => this.waiting--,
    );
    return result;
  }

  /** Transactions committed since start (tests and metrics: proves batching). */
  get transactions(): number {
    return this.committed;
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
