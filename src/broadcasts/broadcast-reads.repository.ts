import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { In, Repository } from 'typeorm';
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

  async countsByState(
    broadcastIds: string[],
  ): Promise<Map<string, Partial<Record<DeliveryState, number>>>> {
    const out = new Map<string, Partial<Record<DeliveryState, number>>>();
    if (!broadcastIds.length) return out;
    // Answered from IDX_deliveries_broadcast_state (broadcast_id, state): an index-only group count.
    const rows = await this.deliveries
      .createQueryBuilder('d')
      .select('d.broadcast_id', 'broadcastId')
      .addSelect('d.state', 'state')
      .addSelect('COUNT(*)', 'n')
      .where('d.broadcast_id IN (:...ids)', { ids: broadcastIds })
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

  async villageCount(broadcastIds: string[]): Promise<Map<string, number>> {
    if (!broadcastIds.length) return new Map();
    const rows = await this.villages
      .createQueryBuilder('v')
      .select('v.broadcast_id', 'broadcastId')
      .addSelect('COUNT(*)', 'n')
      .where('v.broadcast_id IN (:...ids)', { ids: broadcastIds })
      .groupBy('v.broadcast_id')
      .getRawMany<{ broadcastId: string; n: string | number }>();
    return new Map(rows.map((r) => [r.broadcastId, Number(r.n)]));
  }

  isVillageTargeted(broadcastId: string, villageCode: string): Promise<boolean> {
    return this.villages.existsBy({ broadcastId, villageCode });
  }

  listDeliveries(
    broadcastId: string,
    filter: { state?: DeliveryState; village?: string },
    limit: number,
    offset: number,
  ): Promise<[DeliveryEntity[], number]> {
    const where: Record<string, unknown> = { broadcastId };
    if (filter.state) where.state = filter.state;
    if (filter.village) where.villageCode = filter.village;
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
