/**
 * What the evidence chain adds to one ingest batch, measured in-process (no broker, no devices):
 * the batch's database work (a guarded update of 500 deliveries and the insert of their 500
 * events, one transaction, as DeliveryLedger writes it) with and without `EvidenceChain.append` of
 * its 500 entries, alternated. The whole-server A/B is the ingest scenario's chain-on/chain-off
 * rotation; on a shared machine its rounds spread more than the chain costs, so this isolates it.
 * Run: node dist/test/bench/evidence-append.js [--rounds 30] [--batch 500]
 */
import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import { DataSource } from 'typeorm';
import { DeliveryEntity, DeliveryEventEntity } from '../../src/broadcasts/broadcast.entity.js';
import { loadConfig } from '../../src/config/app-config.js';
import { insertMany, updateManyGuarded } from '../../src/database/batch.js';
import { dataSourceOptions } from '../../src/database/data-source-options.js';
import { ENTITIES } from '../../src/entities.js';
import { EvidenceChain } from '../../src/evidence/evidence-chain.js';
import { deliveryEventBody } from '../../src/evidence/evidence-hash.js';
import { tempDir } from '../support/server.js';

const { values } = parseArgs({
  options: { rounds: { type: 'string', default: '30' }, batch: { type: 'string', default: '500' } },
});
const rounds = Number(values.rounds);
const batch = Number(values.batch);

async function main(): Promise<void> {
  const config = loadConfig({ DATA_DIR: tempDir('dalaba-evidence-bench-'), PATH: '' });
  const ds = new DataSource(dataSourceOptions(config, ENTITIES));
  await ds.initialize();
  await ds.runMigrations();
  // Deliveries of a broadcast and devices that the bench does not make: only the writes count.
  await ds.query('PRAGMA foreign_keys = OFF');
  const chain = new EvidenceChain(ds);
  const broadcastId = randomUUID();
  const times: Record<'off' | 'on', number[]> = { off: [], on: [] };
  for (let round = 0; round <= rounds; round++) {
    for (const variant of round % 2 ? (['on', 'off'] as const) : (['off', 'on'] as const)) {
      const now = Date.now();
      const deliveries: DeliveryEntity[] = Array.from({ length: batch }, (_, i) => ({
        id: randomUUID(),
        broadcastId,
        deviceId: `bench-${i}`,
        villageCode: String(611026100000 + (i % 800)),
        deviceType: 'village_loudspeaker',
        state: 'received',
        reason: null,
        attempts: 1,
        commandSends: 1,
        resumes: 0,
        heldUntil: null,
        nextSendAt: null,
        sentAt: now,
        receivedAt: now,
        startedAt: null,
        playedAt: null,
        updatedAt: now,
      }));
      await ds.transaction((m) => insertMany(m, DeliveryEntity, deliveries));
      const t0 = performance.now();
      await ds.transaction(async (m) => {
        await updateManyGuarded(
          m,
          DeliveryEntity,
          'id',
          deliveries.map((d) => ({
            key: d.id,
            guard: { state: 'received' },
            patch: { state: 'played', playedAt: now, updatedAt: now },
          })),
        );
        const events = deliveries.map((d) => ({
          deliveryId: d.id,
          fromState: 'received' as const,
          toState: 'played' as const,
          source: 'mqtt' as const,
          deviceTs: now - 20,
          serverTs: now,
          reason: null,
          anomaly: 'skipped downloading, ready, playing',
        }));
        await insertMany(m, DeliveryEventEntity, events);
        if (variant === 'on')
          await chain.append(
            m,
            deliveries.map((d, i) => ({
              at: now,
              kind: 'delivery_event',
              broadcastId,
              subject: d.id,
              body: deliveryEventBody({
                ...events[i],
                deviceId: d.deviceId,
                villageCode: d.villageCode,
              }),
            })),
          );
      });
      if (round > 0) times[variant].push(performance.now() - t0); // round 0 warms up
    }
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const off = median(times.off);
  const on = median(times.on);
  process.stdout.write(
    `${batch}-event batch, median of ${rounds}: chain off ${off.toFixed(2)} ms, on ${on.toFixed(2)} ms ` +
      `(+${(on - off).toFixed(2)} ms, ${((on / off - 1) * 100).toFixed(0)}% of the batch's database work; ` +
      `${(((on - off) / batch) * 1000).toFixed(1)} µs an entry)\n`,
  );
  await ds.destroy();
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
