/**
 * The benchmark's naive baselines: the real server with the delivery pipeline's sender and ingest
 * swapped for the simplest correct versions (provider overrides), so `npm run bench` can compare
 * the product with them. Started by BenchServer in place of `dist/src/main.js`, with
 * BENCH_BASELINE=naive (both), per-device-dispatch or per-event-ingest; no-evidence is the product
 * with the evidence chain appending nothing (what the chain costs). Never part of the product.
 */
import 'reflect-metadata';
import { Inject, Injectable } from '@nestjs/common';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { Test } from '@nestjs/testing';
import { DeliveryEntity } from '../../src/broadcasts/broadcast.entity.js';
import { DeliveryIngest, QueuedEvent } from '../../src/broadcasts/delivery-ingest.js';
import type { DispatchWrite } from '../../src/broadcasts/delivery-ledger.js';
import { DeliverySender, SendResult } from '../../src/broadcasts/delivery-sender.js';
import { loadConfigFromProcess } from '../../src/config/app-config.js';
import { WriteQueue } from '../../src/database/write-queue.js';
import { ChainHead, EvidenceChain } from '../../src/evidence/evidence-chain.js';
import { startServer } from '../../src/server.js';

const BASELINES = ['naive', 'per-device-dispatch', 'per-event-ingest', 'no-evidence'] as const;
type Baseline = (typeof BASELINES)[number];

/**
 * The simplest correct dispatch: save each delivery row on its own, then for each device in turn
 * publish its command, wait for the broker and record it sent.
 */
@Injectable()
class PerDeviceSender extends DeliverySender {
  @Inject(WriteQueue) private readonly writes!: WriteQueue;

  override async sendFirst(
    deliveries: DeliveryEntity[],
    now: number,
    dispatch: DispatchWrite,
  ): Promise<SendResult | null> {
    if (!deliveries.length) return super.sendFirst(deliveries, now, dispatch);
    const started = performance.now();
    // Not due for the tick (which would send them in batches): the loop below sends each.
    for (const d of deliveries)
      await this.writes.run((m) => m.insert(DeliveryEntity, { ...d, nextSendAt: null }));
    const b = dispatch.broadcast;
    if (!(await this.repo.saveDispatch(b.id, dispatch.villageCodes, [], dispatch.patch)))
      return null;
    this.ledger.emitStatus(b.id, b.status, now);
    const saved = performance.now();
    const result: SendResult = {
      savedMs: Math.round(saved - started),
      publishedMs: 0,
      published: 0,
      cameOnlineMeanwhile: [],
    };
    for (const d of deliveries) {
      const sent = await this.resend([d], this.clock.now().getTime());
      result.published += sent.published;
      result.cameOnlineMeanwhile.push(...sent.cameOnlineMeanwhile);
    }
    result.publishedMs = Math.round(performance.now() - saved);
    return result;
  }
}

/** Each device event applied in its own transaction. */
@Injectable()
class PerEventIngest extends DeliveryIngest {
  protected override async ingestQueued(batch: QueuedEvent[]): Promise<void> {
    for (const e of batch) await super.ingestQueued([e]);
  }
}

/** The evidence chain off: the same transactions without the entries (the ingest's A/B of the chain). */
@Injectable()
class NoEvidenceChain extends EvidenceChain {
  override append(): Promise<ChainHead | null> {
    return Promise.resolve(null);
  }
}

async function main(): Promise<void> {
  const baseline = process.env.BENCH_BASELINE as Baseline;
  if (!BASELINES.includes(baseline))
    throw new Error(`BENCH_BASELINE must be one of ${BASELINES.join(', ')}`);
  const config = loadConfigFromProcess();
  const server = await startServer(config, {
    createApp: async (root, options) => {
      const builder = Test.createTestingModule({ imports: [root] });
      if (baseline === 'no-evidence')
        builder.overrideProvider(EvidenceChain).useClass(NoEvidenceChain);
      if (baseline === 'naive' || baseline === 'per-device-dispatch')
        builder.overrideProvider(DeliverySender).useClass(PerDeviceSender);
      if (baseline === 'naive' || baseline === 'per-event-ingest')
        builder.overrideProvider(DeliveryIngest).useClass(PerEventIngest);
      return (await builder.compile()).createNestApplication<NestExpressApplication>(options);
    },
  });
  process.once('SIGTERM', () => {
    server.close().then(
      () => process.exit(0),
      (err: unknown) => {
        process.stderr.write(`shutdown failed: ${(err as Error).stack ?? String(err)}\n`);
        process.exit(1);
      },
    );
  });
  // BenchServer waits for this line, as for the product's banner.
  process.stdout.write(`Dalaba is running on ${server.url} (baseline ${baseline})\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`baseline server cannot start: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
