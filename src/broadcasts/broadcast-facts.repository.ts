import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { LRUCache } from 'lru-cache';
import { IsNull, Repository } from 'typeorm';
import type { DeviceType } from '../contract/device.js';
import type { DeliveryState } from '../contract/messages.js';
import { chunks } from '../database/batch.js';
import type { VillageTimes } from './broadcast-outcome.js';
import { hasOpenDelivery } from './broadcasts.repository.js';
import type {
  DeliveryFactsOf,
  DeliveryGroup,
  FailureGroup,
  ManualGroup,
} from './delivery-groups.js';
import {
  BroadcastEntity,
  BroadcastStatus,
  BroadcastVillageEntity,
  DeliveryEntity,
  ManualConfirmationEntity,
} from './broadcast.entity.js';

export type BroadcastHeader = Pick<BroadcastEntity, keyof typeof HEADER>;

/** Broadcast statuses after which no delivery opens again (checked against the rows too). */
const SETTLED: readonly BroadcastStatus[] = ['completed', 'cancelled', 'expired'];
/** Settled broadcasts whose facts are kept in memory (a few thousand groups each at most). */
const SETTLED_CACHE = 64;

/**
 * A delivery (alias `d`) that quiet hours held until its broadcast's expiry: only the send that
 * expired it for them sets held_until that late, so the state need not be asked.
 */
export const heldPastExpiry = (expiresAt: string) => `d.held_until >= ${expiresAt}`;

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
   * once and then served from memory; grouping a big broadcast reads an index entry per device,
   * which the coverage page and the status board would otherwise pay on every request. Open broadcasts are grouped on each request.
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
}

/** The columns of a broadcast that coverage and reports show. */
export const HEADER = {
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
  createdBy: true,
  createdAt: true,
  approvedBy: true,
  approvedAt: true,
  draftId: true,
  overrideReason: true,
  firstSoundP50Ms: true,
  firstSoundP90Ms: true,
  firstSoundP100Ms: true,
  playedP50Ms: true,
  playedP90Ms: true,
  playedP100Ms: true,
} as const;
