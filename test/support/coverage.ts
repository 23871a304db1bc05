import { randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import {
  BroadcastEntity,
  BroadcastVillageEntity,
  DeliveryEntity,
} from '../../src/broadcasts/broadcast.entity.js';
import type { DeliveryState } from '../../src/contract/messages.js';
import { UNSETTLED } from '../../src/broadcasts/broadcast-outcome.js';
import { chunks } from '../../src/database/batch.js';
import { WriteQueue } from '../../src/database/write-queue.js';
import { DeviceEntity } from '../../src/devices/device.entity.js';
import type { TestServer } from './server.js';

/** What the synthetic broadcast does in village `i` (0-based in code order), per delivery `k`. */
export type VillagePlan = (
  i: number,
  k: number,
) => {
  state: DeliveryState;
  sent: boolean;
  started: boolean;
  playedAt?: number;
  reason?: string;
  type: 'village_loudspeaker' | 'flood_pa';
};

/**
 * Writes one dispatched broadcast over every village with `total` deliveries (and as many
 * devices) straight into the database, spread as evenly as possible over the villages in code
 * order, each delivery shaped by `plan`. Returns the broadcast id and the per-village counts.
 */
export async function seedBigBroadcast(
  s: TestServer,
  options: {
    clipId: string;
    villageCodes: string[];
    total: number;
    startAt: number;
    plan: VillagePlan;
  },
): Promise<{ id: string; perVillage: number[] }> {
  const { villageCodes, total, startAt, plan } = options;
  const writes = s.server.app.get(WriteQueue);
  const id = randomUUID();
  const n = villageCodes.length;
  const perVillage = villageCodes.map((_, i) => Math.floor(total / n) + (i < total % n ? 1 : 0));
  const devices: DeviceEntity[] = [];
  const deliveries: DeliveryEntity[] = [];
  villageCodes.forEach((code, i) => {
    for (let k = 0; k < perVillage[i]; k++) {
      const p = plan(i, k);
      const deviceId = `big-${code}-${k}`;
      devices.push({
        id: deviceId,
        villageCode: code,
        type: p.type,
        enabled: true,
        label: null,
        notes: null,
        secretHash: 'scrypt$unused',
        mqttPasswordHash: null,
        secretRotatedAt: startAt,
        createdAt: startAt,
        updatedAt: startAt,
      });
      deliveries.push({
        id: randomUUID(),
        broadcastId: id,
        deviceId,
        villageCode: code,
        deviceType: p.type,
        state: p.state,
        reason: p.reason ?? null,
        attempts: p.sent ? 1 : 0,
        resumes: 0,
        commandSends: 0,
        heldUntil: null,
        nextSendAt: null,
        sentAt: p.sent ? startAt : null,
        receivedAt: p.sent && p.state !== 'sent' && p.state !== 'pending' ? startAt : null,
        startedAt: p.started ? startAt + 500 : null,
        playedAt: p.playedAt ?? null,
        updatedAt: startAt,
      });
    }
  });
  const broadcast = broadcastRow({
    id,
    title: '十万设备演练',
    clipId: options.clipId,
    startAt,
    expiresAt: startAt + 3_600_000,
  });
  await writes.run(async (m) => {
    for (const chunk of chunks(devices, 500)) await m.insert(DeviceEntity, chunk);
  });
  await writes.run(async (m) => {
    await m.insert(BroadcastEntity, broadcast);
    await m.insert(
      BroadcastVillageEntity,
      villageCodes.map((villageCode) => ({ broadcastId: id, villageCode })),
    );
    for (const chunk of chunks(deliveries, 400)) await m.insert(DeliveryEntity, chunk);
  });
  return { id, perVillage };
}

/** SQLite's plan for a query, one line per step. */
export async function sqlitePlan(s: TestServer, sql: string, params: unknown[]): Promise<string> {
  const rows = (await s.server.app.get(DataSource).query(`EXPLAIN QUERY PLAN ${sql}`, params)) as {
    detail: string;
  }[];
  return rows.map((r) => r.detail).join('\n');
}

/**
 * A broadcast row as the ledger writes one, for tests that write many straight to the table: an
 * `all` level II broadcast that went out at `startAt`, active, unless `over` says otherwise.
 */
export function broadcastRow(
  over: Pick<BroadcastEntity, 'id' | 'title' | 'clipId' | 'startAt' | 'expiresAt'> &
    Partial<BroadcastEntity>,
): BroadcastEntity {
  return {
    requestKey: null,
    resendOf: null,
    approvedBy: null,
    approvedAt: null,
    draftId: null,
    overrideReason: null,
    level: 'II',
    target: JSON.stringify({ all: true }),
    repeat: 1,
    volume: null,
    attentionTone: true,
    status: 'active',
    audioSha256: null,
    audioBytes: null,
    audioDurationMs: null,
    scheduleId: null,
    fireAt: null,
    createdBy: 'test',
    endReason: null,
    cancelledBy: null,
    createdAt: over.startAt,
    updatedAt: over.startAt,
    dispatchedAt: over.startAt,
    endedAt: null,
    ...UNSETTLED,
    ...over,
  };
}
