import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { Brackets, In, Repository } from 'typeorm';
import type { DeliveryState } from '../contract/messages.js';
import {
  BroadcastEntity,
  BroadcastVillageEntity,
  DeliveryEntity,
  DeliveryEventEntity,
} from './broadcast.entity.js';

/**
 * What the API and the other services read of broadcasts and deliveries, one at a time or counted;
 * BroadcastsRepository keeps the pipeline's queries and every write.
 */
@Injectable()
export class BroadcastReadsRepository {
  constructor(
    @InjectRepository(BroadcastEntity) private readonly broadcasts: Repository<BroadcastEntity>,
    @InjectRepository(DeliveryEntity) private readonly deliveries: Repository<DeliveryEntity>,
    @InjectRepository(DeliveryEventEntity) private readonly events: Repository<DeliveryEventEntity>,
    @InjectRepository(BroadcastVillageEntity)
    private readonly villages: Repository<BroadcastVillageEntity>,
  ) {}

  /** Delivery counts by state; with `villageCodes` (a town official's), over those villages only. */
  async countsByState(
    broadcastIds: string[],
    villageCodes?: string[],
  ): Promise<Map<string, Partial<Record<DeliveryState, number>>>> {
    const out = new Map<string, Partial<Record<DeliveryState, number>>>();
    if (!broadcastIds.length || villageCodes?.length === 0) return out;
    // Answered from IDX_deliveries_broadcast_state (broadcast_id, state): an index-only group count.
    const q = this.deliveries
      .createQueryBuilder('d')
      .select('d.broadcast_id', 'broadcastId')
      .addSelect('d.state', 'state')
      .addSelect('COUNT(*)', 'n')
      .where('d.broadcast_id IN (:...ids)', { ids: broadcastIds });
    if (villageCodes) q.andWhere('d.village_code IN (:...villageCodes)', { villageCodes });
    const rows = await q
      .groupBy('d.broadcast_id')
      .addGroupBy('d.state')
      .getRawMany<{ broadcastId: string; state: DeliveryState; n: string | number }>();
    for (const r of rows) {
      const counts = out.get(r.broadcastId) ?? {};
      counts[r.state] = Number(r.n);
      out.set(r.broadcastId, counts);
    }
    return out;
  }

  /** Targeted villages per broadcast; with `villageCodes`, only those among them. */
  async villageCount(
    broadcastIds: string[],
    villageCodes?: string[],
  ): Promise<Map<string, number>> {
    if (!broadcastIds.length || villageCodes?.length === 0) return new Map();
    const q = this.villages
      .createQueryBuilder('v')
      .select('v.broadcast_id', 'broadcastId')
      .addSelect('COUNT(*)', 'n')
      .where('v.broadcast_id IN (:...ids)', { ids: broadcastIds });
    if (villageCodes) q.andWhere('v.village_code IN (:...villageCodes)', { villageCodes });
    const rows = await q
      .groupBy('v.broadcast_id')
      .getRawMany<{ broadcastId: string; n: string | number }>();
    return new Map(rows.map((r) => [r.broadcastId, Number(r.n)]));
  }

  isVillageTargeted(broadcastId: string, villageCode: string): Promise<boolean> {
    return this.villages.existsBy({ broadcastId, villageCode });
  }

  /** Whether a dispatched broadcast targeted any of these villages. */
  targetsAnyVillage(broadcastId: string, villageCodes: string[]): Promise<boolean> {
    if (!villageCodes.length) return Promise.resolve(false);
    return this.villages.existsBy({ broadcastId, villageCode: In(villageCodes) });
  }

  /** Broadcasts never dispatched, with their targets: no villages are stored for them yet. */
  async undispatched(): Promise<{ id: string; target: string }[]> {
    return this.broadcasts
      .createQueryBuilder('b')
      .select(['b.id', 'b.target'])
      .where('b.dispatched_at IS NULL')
      .getMany();
  }

  /**
   * A town official's list: broadcasts that targeted one of `villageCodes`, or are among `ids`
   * (those not yet dispatched whose target reaches their towns), newest first as the county's.
   */
  listReaching(
    filter: { status?: string; level?: string },
    villageCodes: string[],
    ids: string[],
    limit: number,
    offset: number,
  ): Promise<[BroadcastEntity[], number]> {
    if (!villageCodes.length && !ids.length) return Promise.resolve([[], 0]);
    const q = this.broadcasts.createQueryBuilder('b');
    q.where(
      new Brackets((w) => {
        if (villageCodes.length) {
          const sub = q
            .subQuery()
            .select('1')
            .from(BroadcastVillageEntity, 'bv')
            .where('bv.broadcast_id = b.id')
            .andWhere('bv.village_code IN (:...villageCodes)')
            .getQuery();
          w.where(`EXISTS ${sub}`, { villageCodes });
        }
        if (ids.length) w.orWhere('b.id IN (:...ids)', { ids });
      }),
    );
    if (filter.status) q.andWhere('b.status = :status', { status: filter.status });
    if (filter.level) q.andWhere('b.level = :level', { level: filter.level });
    return q
      .orderBy('b.created_at', 'DESC')
      .addOrderBy('b.id', 'ASC')
      .take(limit)
      .skip(offset)
      .getManyAndCount();
  }

  /** With `villageCodes` (a town official's), only deliveries in those villages. */
  listDeliveries(
    broadcastId: string,
    filter: { state?: DeliveryState; village?: string },
    limit: number,
    offset: number,
    villageCodes?: string[],
  ): Promise<[DeliveryEntity[], number]> {
    const where: Record<string, unknown> = { broadcastId };
    if (filter.state) where.state = filter.state;
    const codes = filter.village
      ? villageCodes && !villageCodes.includes(filter.village)
        ? []
        : [filter.village]
      : villageCodes;
    if (codes?.length === 0) return Promise.resolve([[], 0]);
    if (codes) where.villageCode = codes.length === 1 ? codes[0] : In(codes);
    return this.deliveries.findAndCount({
      where,
      order: { villageCode: 'ASC', deviceId: 'ASC' },
      take: limit,
      skip: offset,
    });
  }

  findDelivery(broadcastId: string, id: string): Promise<DeliveryEntity | null> {
    return this.deliveries.findOneBy({ broadcastId, id });
  }

  eventsOf(deliveryId: string): Promise<DeliveryEventEntity[]> {
    return this.events.find({ where: { deliveryId }, order: { id: 'ASC' } });
  }

  openResendOf(originalId: string): Promise<BroadcastEntity | null> {
    return this.broadcasts.findOneBy({
      resendOf: originalId,
      status: In(['scheduled', 'dispatching', 'active']),
    });
  }

  /** Whether some scheduled, dispatching or active broadcast plays this clip. */
  async liveBroadcastOfClip(clipId: string): Promise<BroadcastEntity | null> {
    return this.broadcasts.findOneBy({
      clipId,
      status: In(['scheduled', 'dispatching', 'active']),
    });
  }

  /** Broadcasts created by a schedule firing (for the exactly-once guard). */
  findByRequestKey(requestKey: string): Promise<BroadcastEntity | null> {
    return this.broadcasts.findOneBy({ requestKey });
  }

  findByFiring(scheduleId: string, fireAt: number): Promise<BroadcastEntity | null> {
    return this.broadcasts.findOneBy({ scheduleId, fireAt });
  }
}
