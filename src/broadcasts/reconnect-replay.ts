import { Injectable, Logger } from '@nestjs/common';
import type { AppConfig } from '../config/app-config.js';
import { InjectConfig } from '../config/config.module.js';
import { Clock } from '../common/clock.js';
import { chunks } from '../database/batch.js';
import { BroadcastsRepository } from './broadcasts.repository.js';
import { DeliverySender } from './delivery-sender.js';

/**
 * Devices coming online are looked up together: those that came within `onlineDelayMs` (or while
 * the previous lookup ran), this many to a query, so that a fleet reconnecting after a restart
 * costs a few queries and transactions, not several per device.
 */
const ONLINE_BATCH = 500;
const ONLINE_RETRY_MS = 1000;

/**
 * Devices coming back online: soon after, what they have not acknowledged goes out again (never
 * sent, or sent to an earlier connection), and `stop` for what was cancelled while they were away.
 * A delivery parked until its device returns is sent by nothing else.
 */
@Injectable()
export class ReconnectReplay {
  private readonly logger = new Logger('dispatch');
  /** Devices that came online whose open deliveries are not yet looked up. */
  private readonly cameOnline = new Set<string>();
  private onlineTimer?: NodeJS.Timeout;
  /** Resolves when the pending online timer has fired (and chained its run). */
  private onlineDue: Promise<void> = Promise.resolve();
  private onlineFired?: () => void;
  private onlineRun: Promise<void> = Promise.resolve();
  private running = false;

  constructor(
    private readonly repo: BroadcastsRepository,
    private readonly sender: DeliverySender,
    private readonly clock: Clock,
    @InjectConfig() private readonly config: AppConfig,
  ) {}

  start(): void {
    this.running = true;
  }

  /** Looks up nothing more; resolves once the lookup running now has ended. */
  async stop(): Promise<void> {
    this.running = false;
    this.lookUpCameOnline(); // stops the timer; with `running` false, looks up nothing
    await this.onlineRun;
  }

  /**
   * A device came online: soon, what it has not acknowledged goes out (never sent, or sent to an
   * earlier connection), and `stop` for what was cancelled while it was away.
   */
  queueOnline(deviceId: string, delayMs = this.config.broadcasts.onlineDelayMs): void {
    if (!this.running) return;
    this.cameOnline.add(deviceId);
    if (this.onlineTimer) return;
    this.onlineDue = new Promise((resolve) => (this.onlineFired = resolve));
    this.onlineTimer = setTimeout(() => this.lookUpCameOnline(), delayMs);
  }

  /** Looks up now, instead of after the delay, the devices queued so far (if any). */
  flushOnline(): void {
    if (this.onlineTimer) this.lookUpCameOnline();
  }

  /**
   * Resolves once no lookup is due or running; answers the run it waited for (wrapped, so that it
   * is not awaited again), which {@link settledSince} compares with the one running later.
   */
  async settled(): Promise<{ run: Promise<void> }> {
    for (;;) {
      if (this.onlineTimer) {
        await this.onlineDue;
        continue;
      }
      const run = this.onlineRun;
      await run;
      return { run };
    }
  }

  /** Whether nothing was queued or run since `settled` answered. */
  settledSince(settled: { run: Promise<void> }): boolean {
    return !this.onlineTimer && settled.run === this.onlineRun;
  }

  private lookUpCameOnline(): void {
    clearTimeout(this.onlineTimer);
    this.onlineTimer = undefined;
    if (this.running)
      this.onlineRun = this.onlineRun
        .then(() => this.sendToCameOnline())
        .catch((err: Error) =>
          this.logger.error(`resend to devices online failed: ${err.message}`),
        );
    this.onlineFired?.();
  }

  /**
   * Sends what is open for every device queued so far, a batch of devices at a time, and `stop`
   * for broadcasts cancelled while a device that holds them was away. A batch that fails is queued
   * again: a delivery parked until its device returns is sent by nothing else.
   */
  private async sendToCameOnline(): Promise<void> {
    const ids = [...this.cameOnline];
    this.cameOnline.clear();
    for (const batch of chunks(ids, ONLINE_BATCH)) {
      if (!this.running) return;
      try {
        await this.sendOnline(batch);
      } catch (err) {
        this.logger.error(
          `resend to ${batch.length} device(s) that came online failed (again in ${ONLINE_RETRY_MS} ms): ${(err as Error).message}`,
        );
        for (const id of batch) this.queueOnline(id, ONLINE_RETRY_MS);
      }
    }
  }

  private async sendOnline(deviceIds: string[]): Promise<void> {
    const now = this.clock.now().getTime();
    const open = await this.repo.unacknowledgedForDevices(deviceIds);
    if (open.length) {
      const sent = await this.sender.resendToReconnected(open, now);
      for (const id of sent.cameOnlineMeanwhile) this.queueOnline(id);
    }
    const held = await this.repo.cancelledHeldByDevices(deviceIds, now);
    const told = new Set<string>();
    for (const d of held) {
      const key = `${d.deviceId} ${d.broadcastId}`;
      if (told.has(key)) continue;
      told.add(key);
      // The reason the cancel gave, as in the first `stop`: it is the same command again.
      await this.sender
        .sendStop(d.deviceId, d.broadcastId, d.reason ?? 'cancelled', now)
        .catch(() => undefined);
    }
  }
}
