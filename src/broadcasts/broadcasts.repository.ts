import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { In, LessThan, LessThanOrEqual, Repository } from 'typeorm';
import type { DeliveryState } from '../contract/messages.js';
import { insertMany, rawSql, updateManyGuarded } from '../database/batch.js';
import { WriteQueue } from '../database/write-queue.js';
import { EvidenceChain } from '../evidence/evidence-chain.js';
import { cancelBody, deliveryEventBody, EvidenceDraft } from '../evidence/evidence-hash.js';
import {
  BroadcastEntity,
  BroadcastStatus,
  BroadcastVillageEntity,
  DeliveryEntity,
  DeliveryEventEntity,
} from './broadcast.entity.js';
import { OPEN_STATES, UNACKNOWLEDGED_STATES } from './delivery-state-machine.js';

export type NewDeliveryEvent = Omit<DeliveryEventEntity, 'id'>;

/** A change to one delivery (applied only if it is still in `expect`) and the event that records it. */
export interface DeliveryChange {
  id: string;
  expect: DeliveryState;
  /**
   * For a send: applied only if the delivery was sent this many times so far, so two senders that
   * read the same row (the tick, a device coming back) cannot both send it; only the applied one
   * publishes.
   */
  expectAttempts?: number;
  patch: Partial<DeliveryEntity>;
  event: NewDeliveryEvent;
  /** Whose delivery it is (for listeners; saves reading the rows back). */
  of: Pick<DeliveryEntity, 'broadcastId' | 'deviceId' | 'villageCode'>;
}

/** The columns of a delivery that applying a device event reads. */
const INGEST_COLUMNS = [
  'id',
  'broadcastId',
  'deviceId',
  'villageCode',
  'state',
  'resumes',
  'receivedAt',
  'startedAt',
] as const;

export type DeliveryToIngest = Pick<DeliveryEntity, (typeof INGEST_COLUMNS)[number]>;

export type BroadcastWindow = Pick<BroadcastEntity, 'status' | 'expiresAt'>;

/** The dispatch found its broadcast no longer `dispatching` (cancelled meanwhile). */
class DispatchOvertaken extends Error {}

/** The evidence entry of a delivery_events row (docs/evidence.md). */
function eventEvidence(
  e: NewDeliveryEvent,
  of: Pick<DeliveryEntity, 'broadcastId' | 'deviceId' | 'villageCode'>,
): EvidenceDraft {
  return {
    at: e.serverTs,
    kind: 'delivery_event',
    broadcastId: of.broadcastId,
    subject: e.deliveryId,
    body: deliveryEventBody({ ...e, deviceId: of.deviceId, villageCode: of.villageCode }),
  };
}

function guardOf(c: DeliveryChange): Partial<DeliveryEntity> {
  return c.expectAttempts === undefined
    ? { state: c.expect }
    : { state: c.expect, attempts: c.expectAttempts };
}

/** Whether any delivery of the broadcast is still open: one probe of IDX_deliveries_broadcast_state. */
export async function hasOpenDelivery(
  deliveries: Repository<DeliveryEntity>,
  broadcastId: string,
): Promise<boolean> {
  const row: unknown = await deliveries
    .createQueryBuilder('d')
    .select('1', 'one')
    .where('d.broadcast_id = :broadcastId', { broadcastId })
    .andWhere('d.state IN (:...states)', { states: OPEN_STATES })
    .limit(1)
    .getRawOne();
  return row !== undefined;
}

/** The only file that writes broadcasts, deliveries and their events (confirmations: ConfirmationsRepository). */
@Injectable()
export class BroadcastsRepository {
  constructor(
    @InjectRepository(BroadcastEntity) private readonly broadcasts: Repository<BroadcastEntity>,
    @InjectRepository(DeliveryEntity) private readonly deliveries: Repository<DeliveryEntity>,
    @InjectRepository(DeliveryEventEntity) private readonly events: Repository<DeliveryEventEntity>,
    @InjectRepository(BroadcastVillageEntity)
    private readonly villages: Repository<BroadcastVillageEntity>,
    private readonly writes: WriteQueue,
    private readonly evidence: EvidenceChain,
  ) {}

  // ---- broadcasts ----

  find(id: string): Promise<BroadcastEntity | null> {
    return this.broadcasts.findOneBy({ id });
  }

  findMany(ids: string[]): Promise<BroadcastEntity[]> {
    return ids.length ? this.broadcasts.findBy({ id: In(ids) }) : Promise.resolve([]);
  }

  /** Whether these broadcasts take device events (status, expiry), as plain rows. */
  async openWindows(ids: string[]): Promise<Map<string, BroadcastWindow>> {
    if (!ids.length) return new Map();
    const m = this.broadcasts.manager;
    const { table, column, inList, list } = rawSql(m, BroadcastEntity);
    const rows: { id: string; status: BroadcastStatus; expiresAt: string | number }[] =
      await m.query(
        `SELECT ${column('id')} AS "id", ${column('status')} AS "status", ${column('expiresAt')} AS "expiresAt" FROM ${table} WHERE ${column('id')} ${inList(1)}`,
        [list(ids)],
      );
    return new Map(rows.map((r) => [r.id, { status: r.status, expiresAt: Number(r.expiresAt) }]));
  }

  list(
    filter: { status?: BroadcastStatus; level?: string },
    limit: number,
    offset: number,
  ): Promise<[BroadcastEntity[], number]> {
    const where: Record<string, unknown> = {};
    if (filter.status) where.status = filter.status;
    if (filter.level) where.level = filter.level;
    return this.broadcasts.findAndCount({
      where,
      order: { createdAt: 'DESC', id: 'ASC' },
      take: limit,
      skip: offset,
    });
  }

  /** Scheduled broadcasts whose dispatch time (start minus prefetch) has come. */
  dueForDispatch(dispatchBefore: number): Promise<BroadcastEntity[]> {
    return this.broadcasts.find({
      where: { status: 'scheduled', startAt: LessThanOrEqual(dispatchBefore) },
      order: { startAt: 'ASC' },
      take: 100,
    });
  }

  /** Active broadcasts past their expiry plus grace. */
  async pastDeadline(expiredBefore: number): Promise<BroadcastEntity[]> {
    return this.broadcasts.find({
      where: { status: 'active', expiresAt: LessThanOrEqual(expiredBefore) },
      take: 100,
    });
  }

  /**
   * Broadcasts never dispatched before their expiry: scheduled (the server was down), or
   * dispatching (a dispatch that never got saved stores nothing, so nothing was sent).
   */
  missedWindow(expiredBefore: number): Promise<BroadcastEntity[]> {
    return this.broadcasts.find({
      where: {
        status: In(['scheduled', 'dispatching']),
        expiresAt: LessThanOrEqual(expiredBefore),
      },
      take: 100,
    });
  }

  /** Broadcasts whose dispatch was claimed before this instant and never saved. */
  interruptedDispatches(claimedBefore: number): Promise<BroadcastEntity[]> {
    return this.broadcasts.find({
      where: { status: 'dispatching', updatedAt: LessThan(claimedBefore) },
      order: { startAt: 'ASC' },
      take: 100,
    });
  }

  /**
   * Back to `scheduled` a dispatch claimed at `claimedAt` and never saved; only that claim (a
   * server that claimed it again since keeps it). True if this call did it.
   */
  async reclaimDispatch(id: string, claimedAt: number, now: number): Promise<boolean> {
    const moved = await this.writes.run((m) =>
      m.update(
        BroadcastEntity,
        { id, status: 'dispatching', updatedAt: claimedAt },
        { status: 'scheduled', updatedAt: now },
      ),
    );
    return (moved.affected ?? 0) > 0;
  }

  async insert(b: BroadcastEntity): Promise<void> {
    await this.writes.run((m) => m.insert(BroadcastEntity, b));
  }

  async update(id: string, patch: Partial<BroadcastEntity>): Promise<void> {
    await this.writes.run((m) => m.update(BroadcastEntity, { id }, patch));
  }

  /** Moves a broadcast from one status to another only if it is still in `from`; true if this call did it. */
  async transitionStatus(
    id: string,
    from: BroadcastStatus[],
    patch: Partial<BroadcastEntity>,
  ): Promise<boolean> {
    return (await this.transitionWith(id, from, () => Promise.resolve(patch))) !== null;
  }

  /**
   * Like {@link transitionStatus}, with a patch worked out inside the write: whatever the writes
   * queued before it did (a manual confirmation, a delivery's last event) is in what it reads.
   * Returns the patch applied, or null when the broadcast was no longer in `from` or `work` said
   * null (nothing to change).
   */
  async transitionWith<P extends Partial<BroadcastEntity>>(
    id: string,
    from: BroadcastStatus[],
    work: () => Promise<P | null>,
  ): Promise<P | null> {
    return this.writes.run(async (m) => {
      const current = await m.findOne(BroadcastEntity, { select: { status: true }, where: { id } });
      if (!current || !from.includes(current.status)) return null;
      const patch = await work();
      if (!patch) return null;
      const moved = (await m.update(BroadcastEntity, { id, status: In(from) }, patch)).affected;
      if (!moved) return null;
      // A cancel is evidence wherever it comes from: appended with the status it set.
      if (patch.status === 'cancelled') {
        const at = patch.endedAt ?? patch.updatedAt ?? 0;
        await this.evidence.append(m, [
          {
            at,
            kind: 'cancel',
            broadcastId: id,
            subject: id,
            body: cancelBody({
              endReason: patch.endReason ?? null,
              cancelledBy: patch.cancelledBy ?? null,
              endedAt: patch.endedAt ?? null,
            }),
          },
        ]);
      }
      return patch;
    });
  }

  /** Of these broadcasts, the ids of those still active (read just before publishing to them). */
  async activeAmong(ids: string[]): Promise<Set<string>> {
    if (!ids.length) return new Set();
    const rows = await this.broadcasts.find({
      select: { id: true },
      where: { id: In(ids), status: 'active' },
    });
    return new Set(rows.map((r) => r.id));
  }

  /**
   * A dispatch in one transaction: the targeted villages, the deliveries (already in the state
   * their first send leaves them, with those events) and the broadcast's new status. Only while
   * the broadcast is still `dispatching`: when something else moved it meanwhile (a cancel), the
   * transaction is rolled back and this answers false, so nothing of it is stored or sent.
   */
  async saveDispatch(
    broadcastId: string,
    villageCodes: string[],
    deliveries: DeliveryEntity[],
    patch: Partial<BroadcastEntity>,
    events: NewDeliveryEvent[] = [],
  ): Promise<boolean> {
    return this.writes
      .run(async (m) => {
        const moved = await m.update(
          BroadcastEntity,
          { id: broadcastId, status: 'dispatching' },
          patch,
        );
        if ((moved.affected ?? 0) === 0) throw new DispatchOvertaken();
        await insertMany(
          m,
          BroadcastVillageEntity,
          villageCodes.map((villageCode) => ({ broadcastId, villageCode })),
        );
        await insertMany(m, DeliveryEntity, deliveries);
        await insertMany(m, DeliveryEventEntity, events);
        const of = new Map(deliveries.map((d) => [d.id, d]));
        await this.evidence.append(
          m,
          events.map((e) => eventEvidence(e, of.get(e.deliveryId)!)),
        );
        return true;
      })
      .catch((err: unknown) => {
        if (err instanceof DispatchOvertaken) return false;
        throw err;
      });
  }

  // ---- deliveries ----

  /** Deliveries by id, as entities (tests look rows up by id). */
  findDeliveries(ids: string[]): Promise<DeliveryEntity[]> {
    return ids.length ? this.deliveries.findBy({ id: In(ids) }) : Promise.resolve([]);
  }

  /**
   * What applying device events needs of their deliveries, as plain rows from one cached
   * statement: hydrating entities through the query builder was most of an ingest batch's reads.
   */
  async deliveriesToIngest(ids: string[]): Promise<DeliveryToIngest[]> {
    if (!ids.length) return [];
    const m = this.deliveries.manager;
    const { table, column, inList, list } = rawSql(m, DeliveryEntity);
    const select = INGEST_COLUMNS.map((p) => `${column(p)} AS "${p}"`).join(', ');
    const rows: Record<(typeof INGEST_COLUMNS)[number], unknown>[] = await m.query(
      `SELECT ${select} FROM ${table} WHERE ${column('id')} ${inList(1)}`,
      [list(ids)],
    );
    return rows.map((r) => ({
      id: r.id as string,
      broadcastId: r.broadcastId as string,
      deviceId: r.deviceId as string,
      villageCode: r.villageCode as string,
      state: r.state as DeliveryState,
      resumes: Number(r.resumes),
      receivedAt: r.receivedAt === null ? null : Number(r.receivedAt),
      startedAt: r.startedAt === null ? null : Number(r.startedAt),
    }));
  }

  /** Deliveries of active broadcasts that are due to be sent (or resent). */
  dueToSend(now: number, limit: number): Promise<DeliveryEntity[]> {
    return this.deliveries
      .createQueryBuilder('d')
      .innerJoin(BroadcastEntity, 'b', 'b.id = d.broadcast_id')
      .where('d.state IN (:...states)', { states: UNACKNOWLEDGED_STATES })
      .andWhere('d.next_send_at <= :now', { now })
      .andWhere('b.status = :active', { active: 'active' })
      .orderBy('d.next_send_at', 'ASC')
      .take(limit)
      .getMany();
  }

  /**
   * The deliveries of these devices in an active broadcast that they have not acknowledged
   * (pending or sent): what a device coming back may still need. What it acknowledged it keeps.
   */
  unacknowledgedForDevices(deviceIds: string[]): Promise<DeliveryEntity[]> {
    if (!deviceIds.length) return Promise.resolve([]);
    return this.deliveries
      .createQueryBuilder('d')
      .innerJoin(BroadcastEntity, 'b', 'b.id = d.broadcast_id')
      .where('d.device_id IN (:...deviceIds)', { deviceIds })
      .andWhere('d.state IN (:...states)', { states: UNACKNOWLEDGED_STATES })
      .andWhere('b.status = :active', { active: 'active' })
      .getMany();
  }

  /** Deliveries cancelled while their device may still hold the command (to send `stop` when it returns). */
  cancelledHeldByDevices(deviceIds: string[], now: number): Promise<DeliveryEntity[]> {
    if (!deviceIds.length) return Promise.resolve([]);
    return this.deliveries
      .createQueryBuilder('d')
      .innerJoin(BroadcastEntity, 'b', 'b.id = d.broadcast_id')
      .where('d.device_id IN (:...deviceIds)', { deviceIds })
      .andWhere('d.state = :cancelled', { cancelled: 'cancelled' })
      .andWhere('d.sent_at IS NOT NULL')
      .andWhere('b.expires_at > :now', { now })
      .getMany();
  }

  openOfBroadcast(broadcastId: string): Promise<DeliveryEntity[]> {
    return this.deliveries.findBy({ broadcastId, state: In([...OPEN_STATES]) });
  }

  /**
   * Deliveries waiting for their device (no send time) do not need the tick; this keeps them so.
   * Guarded like a send (state and attempts as read): one that a device coming back was sent
   * meanwhile keeps its resend time.
   */
  async parkUntilOnline(deliveries: DeliveryEntity[]): Promise<void> {
    if (!deliveries.length) return;
    await this.writes.run((m) =>
      updateManyGuarded(
        m,
        DeliveryEntity,
        'id',
        deliveries.map((d) => ({
          key: d.id,
          guard: { state: d.state, attempts: d.attempts },
          patch: { nextSendAt: null },
        })),
      ),
    );
  }

  /**
   * Applies changes and appends their events, all in one transaction. A change whose delivery is no
   * longer in the state it was computed from (something else moved it meanwhile) is skipped, so two
   * writers never undo each other. Returns the ids applied.
   */
  async applyChanges(changes: DeliveryChange[]): Promise<Set<string>> {
    const applied = new Set<string>();
    if (!changes.length) return applied;
    // One statement per set of patched columns (not one per delivery): a batch of acks is a few
    // statements.
    // Successive changes of one delivery in a batch (received, then played…) each expect the state
    // the one before left: fold them into one update with all their events.
    const folded = new Map<
      string,
      {
        guard: Partial<DeliveryEntity>;
        state: DeliveryState;
        patch: Partial<DeliveryEntity>;
        events: NewDeliveryEvent[];
        of: DeliveryChange['of'];
      }
    >();
    const leftovers: DeliveryChange[] = [];
    const brokenChains = new Set<string>();
    for (const c of changes) {
      const f = folded.get(c.id);
      if (!f) {
        folded.set(c.id, {
          guard: guardOf(c),
          state: c.patch.state ?? c.expect,
          patch: { ...c.patch },
          events: [c.event],
          of: c.of,
        });
      } else if (c.expect === f.state && !brokenChains.has(c.id)) {
        Object.assign(f.patch, c.patch);
        f.state = c.patch.state ?? f.state;
        f.events.push(c.event);
      } else {
        brokenChains.add(c.id);
        leftovers.push(c); // does not follow on: applied on its own below, in order
      }
    }
    await this.writes.run(async (m) => {
      applied.clear(); // a run that failed and is run again starts afresh
      const updated = await updateManyGuarded(
        m,
        DeliveryEntity,
        'id',
        [...folded].map(([key, f]) => ({ key, guard: f.guard, patch: f.patch })),
      );
      const events: NewDeliveryEvent[] = [];
      const proofs: EvidenceDraft[] = [];
      for (const [id, f] of folded) {
        if (!updated.has(id)) continue;
        applied.add(id);
        for (const e of f.events) {
          if (e.fromState === e.toState) continue;
          events.push(e);
          proofs.push(eventEvidence(e, f.of));
        }
      }
      for (const c of leftovers) {
        const result = await m.update(DeliveryEntity, { id: c.id, ...guardOf(c) }, c.patch);
        if ((result.affected ?? 0) === 0) continue;
        applied.add(c.id);
        if (c.event.fromState === c.event.toState) continue;
        events.push(c.event);
        proofs.push(eventEvidence(c.event, c.of));
      }
      await insertMany(m, DeliveryEventEntity, events);
      // In the rows' order: verify pairs a delivery's events and its entries in sequence.
      await this.evidence.append(m, proofs);
    });
    return applied;
  }

  /**
   * Of these broadcasts, those with a delivery still open. One probe of
   * IDX_deliveries_broadcast_state per broadcast and open state, stopping at the first row; counting
   * every state instead read all 10,000 index entries of a big broadcast after each ingest batch.
   */
  async withOpenDeliveries(broadcastIds: string[]): Promise<Set<string>> {
    const out = new Set<string>();
    for (const id of broadcastIds) if (await hasOpenDelivery(this.deliveries, id)) out.add(id);
    return out;
  }
}
