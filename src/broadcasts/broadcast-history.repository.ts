import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { ObjectLiteral, Repository, SelectQueryBuilder } from 'typeorm';
import { chunks, rawSql } from '../database/batch.js';
import { BroadcastHeader, HEADER, heldPastExpiry } from './broadcast-facts.repository.js';
import {
  BroadcastEntity,
  BroadcastVillageEntity,
  DeliveryEntity,
  ManualConfirmationEntity,
} from './broadcast.entity.js';

/** A (broadcast, village) pair, as the queries below answer it. */
type Pair = { broadcastId: string; villageCode: string };

/** Runs a pair query over the broadcasts 500 at a time (the IN list's size), as plain rows. */
async function pairsOf(
  broadcastIds: string[],
  query: (ids: string[]) => SelectQueryBuilder<ObjectLiteral>,
): Promise<Pair[]> {
  const out: Pair[] = [];
  for (const ids of chunks(broadcastIds, 500)) out.push(...(await query(ids).getRawMany<Pair>()));
  return out;
}

/**
 * Read-only queries over many broadcasts: a period's (for period reports) and each village's
 * latest (for the status board and a village's page), answered per (broadcast, village) pair on
 * indexes, never by loading deliveries. Like the facts repository, the coverage module's way in.
 */
@Injectable()
export class BroadcastHistoryRepository {
  constructor(
    @InjectRepository(BroadcastEntity) private readonly broadcasts: Repository<BroadcastEntity>,
    @InjectRepository(DeliveryEntity) private readonly deliveries: Repository<DeliveryEntity>,
    @InjectRepository(BroadcastVillageEntity)
    private readonly villages: Repository<BroadcastVillageEntity>,
    @InjectRepository(ManualConfirmationEntity)
    private readonly confirmations: Repository<ManualConfirmationEntity>,
  ) {}

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

  /**
   * The broadcasts made at this instant (IDX_broadcasts_created_at), by id, and those cancelled at
   * it (IDX_broadcasts_status): what an EBMID of Dalaba's names (reports up).
   */
  async madeOrCancelledAt(at: number): Promise<{ made: string[]; cancelled: string[] }> {
    const ids = async (where: string) =>
      (
        await this.broadcasts
          .createQueryBuilder('b')
          .select('b.id')
          .where(where, { at })
          .orderBy('b.id', 'ASC')
          .getMany()
      ).map((b) => b.id);
    const [made, cancelled] = await Promise.all([
      ids('b.created_at = :at'),
      ids("b.status = 'cancelled' AND b.ended_at = :at"),
    ]);
    return { made, cancelled };
  }

  /** The villages each of these broadcasts targeted, as (broadcast, village) pairs (primary key). */
  async targetPairs(broadcastIds: string[]): Promise<Pair[]> {
    // Plain rows: the board reads every pair of its latest broadcasts per request, and making
    // an entity of each would be a visible share of it.
    return pairsOf(broadcastIds, (ids) =>
      this.villages
        .createQueryBuilder('bv')
        .select('bv.broadcast_id', 'broadcastId')
        .addSelect('bv.village_code', 'villageCode')
        .where('bv.broadcast_id IN (:...ids)', { ids }),
    );
  }

  /**
   * (broadcast, village) pairs where at least one device played. Plan: each targeted pair (the
   * broadcast_villages primary key) probes IDX_deliveries_coverage on (broadcast_id,
   * village_code) and stops at its first `played` entry, so the cost follows the pairs, not the
   * deliveries (grouping every delivery of 30 days read the whole index: ~1,000,000 entries).
   */
  async playedPairs(broadcastIds: string[]): Promise<Pair[]> {
    const deliveries = rawSql(this.deliveries.manager, DeliveryEntity).table;
    return pairsOf(broadcastIds, (ids) =>
      this.villages
        .createQueryBuilder('bv')
        .select('bv.broadcast_id', 'broadcastId')
        .addSelect('bv.village_code', 'villageCode')
        .where('bv.broadcast_id IN (:...ids)', { ids })
        .andWhere(
          `EXISTS (SELECT 1 FROM ${deliveries} d WHERE d.broadcast_id = bv.broadcast_id
             AND d.village_code = bv.village_code AND d.state = :played)`,
          { played: 'played' },
        ),
    );
  }

  /** (broadcast, village) pairs confirmed by hand. */
  async confirmedPairs(broadcastIds: string[]): Promise<Pair[]> {
    return pairsOf(broadcastIds, (ids) =>
      this.confirmations
        .createQueryBuilder('c')
        .select('c.broadcast_id', 'broadcastId')
        .addSelect('c.village_code', 'villageCode')
        .where('c.broadcast_id IN (:...ids)', { ids })
        .andWhere('c.withdrawn_at IS NULL')
        .groupBy('c.broadcast_id')
        .addGroupBy('c.village_code'),
    );
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
