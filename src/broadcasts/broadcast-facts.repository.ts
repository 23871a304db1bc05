import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { LRUCache } from 'lru-cache';
import { IsNull, Repository } from 'typeorm';
import type { DeviceType } from '../contract/device.js';
import type { DeliveryState } from '../contract/messages.js';
import { chunks, rawSql } from '../database/batch.js';
import type { VillageTimes } from './broadcast-outcome.js';
import { hasOpenDelivery } from './broadcasts.repository.js';
import {
  BroadcastEntity,
  BroadcastStatus,
  BroadcastVillageEntity,
  ConfirmationMethod,
  DeliveryEntity,
  ManualConfirmationEntity,
} from './broadcast.entity.js';

/** The deliveries of one broadcast in one village, of one device type, in one state. */
export interface DeliveryGroup {
  villageCode: string;
  /** Null for deliveries made before the type was kept. */
  deviceType: DeviceType | null;
  state: DeliveryState;
  count: number;
  /** Of those, how many were never sent (their device was not online while the broadcast was open). */
  neverSent: number;
  /** Of those, how many began playing. */
  started: number;
  /**
   * Of those, how many quiet hours hold: waiting for the village's quiet hours to end, or held
   * until after the broadcast expired.
   */
  heldByQuiet: number;
  /** The first `playing` (or `played`, from a device that reported no `playing`). */
  firstSoundAt: number | null;
  /** The first `played`. */
  playedAt: number | null;
}

export interface FailureGroup {
  villageCode: string;
  deviceType: DeviceType | null;
  reason: string;
  count: number;
}

export interface ManualGroup {
  villageCode: string;
  firstAt: number;
  /** Who confirmed the first one, and how (null: recorded before the method was asked). */
  firstBy: string;
  firstMethod: ConfirmationMethod | null;
  count: number;
}

export type BroadcastHeader = Pick<BroadcastEntity, keyof typeof HEADER>;

/** What a broadcast's deliveries add up to: the input of every coverage figure. */
export interface DeliveryFactsOf {
  groups: DeliveryGroup[];
  failures: FailureGroup[];
}

/** Broadcast statuses after which no delivery opens again (checked against the rows too). */
const SETTLED: readonly BroadcastStatus[] = ['completed', 'cancelled', 'expired'];
/** Settled broadcasts whose facts are kept in memory (a few thousand groups each at most). */
const SETTLED_CACHE = 64;

/**
 * A delivery (alias `d`) that quiet hours held until its broadcast's expiry: only the send that
 * expired it for them sets held_until that late, so the state need not be asked.
 */
const heldPastExpiry = (expiresAt: string) => `d.held_until >= ${expiresAt}`;

const num = (v: string | number | null): number => Number(v ?? 0);
const numOrNull = (v: string | number | null): number | null => (v === null ? null : Number(v));

/**
 * Read-only aggregates over broadcasts, deliveries and manual confirmations for coverage and
 * period reports: every figure is grouped in SQL on an index, never by loading deliveries. The
 * broadcasts module owns these tables; this is the coverage module's only way into them.
 */
@Injectable()
export class BroadcastFactsRepository {
  constructor(
    @InjectRepository(BroadcastEntity) private readonly broadcasts: Repository<BroadcastEntity>,
    @InjectRepository(DeliveryEntity) private readonly deliveries: Repository<DeliveryEntity>,
    @InjectRepository(BroadcastVillageEntity)
    private readonly villages: Repository<BroadcastVillageEntity>,
    @InjectRepository(ManualConfirmationEntity)
    private readonly confirmations: Repository<ManualConfirmationEntity>,
  ) {}

  /** broadcastId → facts of a settled broadcast. */
  private readonly settled = new LRUCache<string, DeliveryFactsOf>({ max: SETTLED_CACHE });

  /**
   * The grouped facts of a broadcast, for all its villages or these. Once a broadcast is settled
   * (completed, cancelled or expired, with no delivery left open) its deliveries never change
   * again: a delivery that ended stays ended, in every server process. So its facts are grouped
   * once and then served from memory; grouping a 100,000-device broadcast reads 100,000 index
   * entries (~60 ms in SQLite here), which the coverage page and the status board would
   * otherwise pay on every request. Open broadcasts are grouped on each request.
   */
  async factsOf(
    header: BroadcastHeader,
    now: number,
    villageCodes?: string[],
  ): Promise<DeliveryFactsOf> {
    let facts = this.settled.get(header.id);
    if (!facts) {
      if (!SETTLED.includes(header.status) || (await hasOpenDelivery(this.deliveries, header.id))) {
        return {
          groups: await this.groups(header, now, villageCodes),
          failures: await this.failures(header.id, villageCodes),
        };
      }
      facts = {
        groups: await this.groups(header, now),
        failures: await this.failures(header.id),
      };
      this.settled.set(header.id, facts);
    }
    if (!villageCodes) return facts;
    const wanted = new Set(villageCodes);
    return {
      groups: facts.groups.filter((g) => wanted.has(g.villageCode)),
      failures: facts.failures.filter((f) => wanted.has(f.villageCode)),
    };
  }

  /**
   * What a broadcast's settlement needs: its targeted villages, each village's first sound and first
   * play by a device (grouped on IDX_deliveries_coverage, which holds both times), and the villages
   * confirmed by hand. A device that reported `played` without `playing` sounded by then at least.
   */
  async settlementFacts(
    broadcastId: string,
    expiresAt: number,
  ): Promise<{
    targeted: string[];
    times: Map<string, VillageTimes>;
    manual: Set<string>;
  }> {
    const [targeted, times, manual] = await Promise.all([
      this.villages.find({ select: { villageCode: true }, where: { broadcastId } }),
      this.deliveries
        .createQueryBuilder('d')
        .select('d.village_code', 'villageCode')
        .addSelect('MIN(COALESCE(d.started_at, d.played_at))', 'firstSoundAt')
        .addSelect('MIN(d.played_at)', 'playedAt')
        .addSelect(
          `MAX(CASE WHEN ${heldPastExpiry(':expiresAt')} THEN 1 ELSE 0 END)`,
          'heldByQuiet',
        )
        .where('d.broadcast_id = :broadcastId', { broadcastId })
        .setParameters({ expiresAt })
        .groupBy('d.village_code')
        .getRawMany<{
          villageCode: string;
          firstSoundAt: string | number | null;
          playedAt: string | number | null;
          heldByQuiet: string | number;
        }>(),
      this.confirmations
        .createQueryBuilder('c')
        .select('DISTINCT c.village_code', 'villageCode')
        .where('c.broadcast_id = :broadcastId', { broadcastId })
        .andWhere('c.withdrawn_at IS NULL')
        .getRawMany<{ villageCode: string }>(),
    ]);
    const n = (v: string | number | null) => (v === null ? null : Number(v));
    return {
      targeted: targeted.map((t) => t.villageCode),
      times: new Map(
        times.map((t) => [
          t.villageCode,
          {
            firstSoundAt: n(t.firstSoundAt),
            playedAt: n(t.playedAt),
            heldByQuiet: Number(t.heldByQuiet) > 0,
          },
        ]),
      ),
      manual: new Set(manual.map((m) => m.villageCode)),
    };
  }

  header(id: string): Promise<BroadcastHeader | null> {
    return this.broadcasts.findOne({ select: HEADER, where: { id } });
  }

  async targetedVillages(broadcastId: string): Promise<string[]> {
    const rows = await this.villages.find({
      select: { villageCode: true },
      where: { broadcastId },
    });
    return rows.map((r) => r.villageCode);
  }

  /** The same aggregate as {@link groups} as a query, for EXPLAIN in tests. */
  groupsQuery(
    header: Pick<BroadcastHeader, 'id' | 'expiresAt'>,
    now: number,
    villageCodes?: string[],
  ) {
    const q = this.deliveries
      .createQueryBuilder('d')
      .select('d.village_code', 'villageCode')
      .addSelect('d.device_type', 'deviceType')
      .addSelect('d.state', 'state')
      .addSelect('COUNT(*)', 'count')
      .addSelect('SUM(CASE WHEN d.sent_at IS NULL THEN 1 ELSE 0 END)', 'neverSent')
      .addSelect('SUM(CASE WHEN d.started_at IS NOT NULL THEN 1 ELSE 0 END)', 'started')
      .addSelect(
        `SUM(CASE WHEN d.held_until > :now OR ${heldPastExpiry(':expiresAt')} THEN 1 ELSE 0 END)`,
        'heldByQuiet',
      )
      .addSelect('MIN(COALESCE(d.started_at, d.played_at))', 'firstSoundAt')
      .addSelect('MIN(d.played_at)', 'playedAt')
      .where('d.broadcast_id = :broadcastId', { broadcastId: header.id })
      .setParameters({ now, expiresAt: header.expiresAt });
    if (villageCodes) q.andWhere('d.village_code IN (:...villageCodes)', { villageCodes });
    return q.groupBy('d.village_code').addGroupBy('d.device_type').addGroupBy('d.state');
  }

  /**
   * A broadcast's deliveries grouped by village, device type and state.
   *
   * Plan: the WHERE and GROUP BY follow IDX_deliveries_coverage (broadcast_id, village_code,
   * device_type, state, sent_at, started_at, played_at, held_until), which holds every column
   * read, so SQLite answers "SEARCH d USING COVERING INDEX IDX_deliveries_coverage
   * (broadcast_id=?)" without a temporary B-tree (test/coverage.test.ts checks this) and
   * PostgreSQL with an index-only scan once the table is vacuumed. Cost: one index entry per
   * delivery of this broadcast, none of other broadcasts; memory: one row per (village, type,
   * state). `now` decides which held deliveries are still waiting for quiet hours to end.
   */
  async groups(
    header: Pick<BroadcastHeader, 'id' | 'expiresAt'>,
    now: number,
    villageCodes?: string[],
  ): Promise<DeliveryGroup[]> {
    if (villageCodes && villageCodes.length === 0) return [];
    const out: DeliveryGroup[] = [];
    for (const codes of villageCodes ? chunks(villageCodes, 500) : [undefined]) {
      const rows = await this.groupsQuery(header, now, codes).getRawMany<{
        villageCode: string;
        deviceType: DeviceType | null;
        state: DeliveryState;
        count: string | number;
        neverSent: string | number;
        started: string | number;
        heldByQuiet: string | number;
        firstSoundAt: string | number | null;
        playedAt: string | number | null;
      }>();
      for (const r of rows) {
        out.push({
          villageCode: r.villageCode,
          deviceType: r.deviceType,
          state: r.state,
          count: num(r.count),
          neverSent: num(r.neverSent),
          started: num(r.started),
          heldByQuiet: num(r.heldByQuiet),
          firstSoundAt: numOrNull(r.firstSoundAt),
          playedAt: numOrNull(r.playedAt),
        });
      }
    }
    return out;
  }

  /** Why deliveries failed or were rejected, by village and type (IDX_deliveries_broadcast_state; failures are few). */
  async failures(broadcastId: string, villageCodes?: string[]): Promise<FailureGroup[]> {
    if (villageCodes && villageCodes.length === 0) return [];
    const out: FailureGroup[] = [];
    for (const codes of villageCodes ? chunks(villageCodes, 500) : [undefined]) {
      const q = this.deliveries
        .createQueryBuilder('d')
        .select('d.village_code', 'villageCode')
        .addSelect('d.device_type', 'deviceType')
        .addSelect('d.reason', 'reason')
        .addSelect('COUNT(*)', 'count')
        .where('d.broadcast_id = :broadcastId', { broadcastId })
        .andWhere('d.state IN (:...states)', { states: ['failed', 'rejected'] });
      if (codes) q.andWhere('d.village_code IN (:...codes)', { codes });
      const rows = await q
        .groupBy('d.village_code')
        .addGroupBy('d.device_type')
        .addGroupBy('d.reason')
        .getRawMany<{
          villageCode: string;
          deviceType: DeviceType | null;
          reason: string | null;
          count: string | number;
        }>();
      for (const r of rows) {
        out.push({
          villageCode: r.villageCode,
          deviceType: r.deviceType,
          reason: r.reason ?? 'failed',
          count: num(r.count),
        });
      }
    }
    return out;
  }

  /**
   * Manual confirmations that stand (not withdrawn) by village: the first one's time, method and
   * who, and how many (IDX_manual_confirmations_broadcast; a broadcast has a few at most per village).
   */
  async manual(broadcastId: string): Promise<ManualGroup[]> {
    const rows = await this.confirmations.find({
      select: { villageCode: true, confirmedAt: true, confirmedBy: true, method: true, id: true },
      where: { broadcastId, withdrawnAt: IsNull() },
      order: { confirmedAt: 'ASC', id: 'ASC' },
    });
    const out = new Map<string, ManualGroup>();
    for (const r of rows) {
      const g = out.get(r.villageCode);
      if (g) g.count++;
      else
        out.set(r.villageCode, {
          villageCode: r.villageCode,
          firstAt: r.confirmedAt,
          firstBy: r.confirmedBy,
          firstMethod: r.method,
          count: 1,
        });
    }
    return [...out.values()];
  }

  // ---- period reports ----

  /** Broadcasts starting in [from, to), oldest first (IDX_broadcasts_start_at). */
  inPeriod(from: number, to: number): Promise<BroadcastHeader[]> {
    return this.broadcasts
      .createQueryBuilder('b')
      .select(Object.keys(HEADER).map((k) => `b.${k}`))
      .where('b.start_at >= :from AND b.start_at < :to', { from, to })
      .orderBy('b.start_at', 'ASC')
      .addOrderBy('b.id', 'ASC')
      .getMany();
  }

  /** The villages each of these broadcasts targeted, as (broadcast, village) pairs (primary key). */
  async targetPairs(
    broadcastIds: string[],
  ): Promise<{ broadcastId: string; villageCode: string }[]> {
    const out: { broadcastId: string; villageCode: string }[] = [];
    for (const ids of chunks(broadcastIds, 500)) {
      // Plain rows: the board reads 20 broadcasts' pairs (20,000 in a 1,000-village county) per
      // request, and making an entity of each was ~1 ms of it.
      out.push(
        ...(await this.villages
          .createQueryBuilder('bv')
          .select('bv.broadcast_id', 'broadcastId')
          .addSelect('bv.village_code', 'villageCode')
          .where('bv.broadcast_id IN (:...ids)', { ids })
          .getRawMany<{ broadcastId: string; villageCode: string }>()),
      );
    }
    return out;
  }

  /**
   * (broadcast, village) pairs where at least one device played. Plan: each targeted pair (the
   * broadcast_villages primary key) probes IDX_deliveries_coverage on (broadcast_id,
   * village_code) and stops at its first `played` entry, so the cost follows the pairs, not the
   * deliveries (grouping every delivery of 30 days read the whole index: ~1,000,000 entries).
   */
  async playedPairs(
    broadcastIds: string[],
  ): Promise<{ broadcastId: string; villageCode: string }[]> {
    const out: { broadcastId: string; villageCode: string }[] = [];
    for (const ids of chunks(broadcastIds, 500)) {
      out.push(
        ...(await this.villages
          .createQueryBuilder('bv')
          .select('bv.broadcast_id', 'broadcastId')
          .addSelect('bv.village_code', 'villageCode')
          .where('bv.broadcast_id IN (:...ids)', { ids })
          .andWhere(
            `EXISTS (SELECT 1 FROM ${rawSql(this.deliveries.manager, DeliveryEntity).table} d WHERE d.broadcast_id = bv.broadcast_id
               AND d.village_code = bv.village_code AND d.state = :played)`,
            { played: 'played' },
          )
          .getRawMany<{ broadcastId: string; villageCode: string }>()),
      );
    }
    return out;
  }

  /** (broadcast, village) pairs confirmed by hand. */
  async confirmedPairs(
    broadcastIds: string[],
  ): Promise<{ broadcastId: string; villageCode: string }[]> {
    const out: { broadcastId: string; villageCode: string }[] = [];
    for (const ids of chunks(broadcastIds, 500)) {
      out.push(
        ...(await this.confirmations
          .createQueryBuilder('c')
          .select('c.broadcast_id', 'broadcastId')
          .addSelect('c.village_code', 'villageCode')
          .where('c.broadcast_id IN (:...ids)', { ids })
          .andWhere('c.withdrawn_at IS NULL')
          .groupBy('c.broadcast_id')
          .addGroupBy('c.village_code')
          .getRawMany<{ broadcastId: string; villageCode: string }>()),
      );
    }
    return out;
  }

  /**
   * (broadcast, village) pairs that the village's quiet hours held until the broadcast expired:
   * per broadcast one range of IDX_deliveries_held (held_until at or after its expiry), which holds
   * only the few such deliveries; not the broadcast's expired deliveries, of which there may be many.
   */
  async quietHeldPairs(
    broadcastIds: string[],
  ): Promise<{ broadcastId: string; villageCode: string }[]> {
    const out: { broadcastId: string; villageCode: string }[] = [];
    for (const ids of chunks(broadcastIds, 500))
      out.push(
        ...(await this.quietHeldQuery(ids).getRawMany<{
          broadcastId: string;
          villageCode: string;
        }>()),
      );
    return out;
  }

  /**
   * The query behind {@link quietHeldPairs}, for EXPLAIN in tests. Only a delivery expired for
   * its quiet hours is held until at or after its broadcast's expiry, so the state need not be
   * asked (asking it would steer the planner to IDX_deliveries_broadcast_state).
   */
  quietHeldQuery(broadcastIds: string[]) {
    return this.deliveries
      .createQueryBuilder('d')
      .innerJoin(BroadcastEntity, 'b', 'b.id = d.broadcast_id')
      .select('d.broadcast_id', 'broadcastId')
      .addSelect('d.village_code', 'villageCode')
      .distinct(true)
      .where('b.id IN (:...ids)', { ids: broadcastIds })
      .andWhere(heldPastExpiry('b.expires_at'));
  }

  /**
   * Of these villages, those where some device played anything in [from, to). Plan: per village
   * one probe of IDX_deliveries_village_played (village_code, played_at), stopping at the first
   * play in range, so the cost follows the villages, not the plays of the period.
   */
  async villagesPlayedBetween(
    villageCodes: string[],
    from: number,
    to: number,
  ): Promise<Set<string>> {
    const { table, placeholder: p } = rawSql(this.deliveries.manager, DeliveryEntity);
    const out = new Set<string>();
    for (const codes of chunks(villageCodes, 500)) {
      const params: unknown[] = [...codes, from, to];
      const values = codes.map((_, i) => `(${p(i + 1)})`).join(', ');
      const rows: { code: string }[] = await this.deliveries.manager.query(
        `WITH v(code) AS (VALUES ${values})
         SELECT v.code AS code FROM v WHERE EXISTS (SELECT 1 FROM ${table} d
           WHERE d.village_code = v.code AND d.played_at >= ${p(codes.length + 1)}
             AND d.played_at < ${p(codes.length + 2)})`,
        params,
      );
      for (const r of rows) out.add(r.code);
    }
    return out;
  }

  /** The latest dispatched broadcasts that targeted a village, newest first (IDX_broadcast_villages_village). */
  ofVillage(villageCode: string, limit: number): Promise<BroadcastHeader[]> {
    return this.broadcasts
      .createQueryBuilder('b')
      .select(Object.keys(HEADER).map((k) => `b.${k}`))
      .innerJoin(BroadcastVillageEntity, 'bv', 'bv.broadcast_id = b.id')
      .where('bv.village_code = :villageCode', { villageCode })
      .andWhere('b.dispatched_at IS NOT NULL')
      .orderBy('b.start_at', 'DESC')
      .addOrderBy('b.id', 'ASC')
      .take(limit)
      .getMany();
  }

  /**
   * The most recent dispatched broadcasts, newest start first, each with the villages it
   * targeted, until every village in `villageCodes` has one or `maxBroadcasts` were read
   * (IDX_broadcasts_start_at, then the broadcast_villages primary key).
   */
  async latestPerVillage(
    villageCodes: string[],
    maxBroadcasts: number,
  ): Promise<Map<string, BroadcastHeader>> {
    const wanted = new Set(villageCodes);
    const out = new Map<string, BroadcastHeader>();
    const page = 20;
    for (let offset = 0; offset < maxBroadcasts && out.size < wanted.size; offset += page) {
      const batch = await this.broadcasts
        .createQueryBuilder('b')
        .select(Object.keys(HEADER).map((k) => `b.${k}`))
        .where('b.dispatched_at IS NOT NULL')
        // A test called off says nothing about a village: its latest real outcome stays shown.
        .andWhere("NOT (b.level = 'test' AND b.status = 'cancelled')")
        .orderBy('b.start_at', 'DESC')
        .addOrderBy('b.id', 'ASC')
        .skip(offset)
        .take(page)
        .getMany();
      if (batch.length === 0) break;
      const rank = new Map(batch.map((b, i) => [b.id, i]));
      // Pairs come in no particular order: newest broadcast first, so each village keeps its latest.
      const pairs = (await this.targetPairs(batch.map((b) => b.id))).sort(
        (a, b) => rank.get(a.broadcastId)! - rank.get(b.broadcastId)!,
      );
      for (const pair of pairs) {
        if (wanted.has(pair.villageCode) && !out.has(pair.villageCode))
          out.set(pair.villageCode, batch[rank.get(pair.broadcastId)!]);
      }
    }
    return out;
  }
}

const HEADER = {
  id: true,
  title: true,
  level: true,
  status: true,
  outcome: true,
  startAt: true,
  expiresAt: true,
  dispatchedAt: true,
  endReason: true,
  cancelledBy: true,
  firstSoundP50Ms: true,
  firstSoundP90Ms: true,
  firstSoundP100Ms: true,
  playedP50Ms: true,
  playedP90Ms: true,
  playedP100Ms: true,
} as const;
