import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { Repository } from 'typeorm';
import { DeliveryEntity, DeliveryEventEntity } from './broadcast.entity.js';

/** A device's signed `played` of one delivery, as stored by ingest (see device-proof.ts). */
export interface StoredPlayedProof {
  deliveryId: string;
  deviceId: string;
  villageCode: string;
  /** The stored proof text, to be read and checked again with readDeviceProof(). */
  proof: string;
}

/** Read-only: the device-signed `played` events of a broadcast, for its coverage certificate. */
@Injectable()
export class DeviceProofsRepository {
  constructor(
    @InjectRepository(DeliveryEventEntity)
    private readonly events: Repository<DeliveryEventEntity>,
  ) {}

  /** Only played deliveries' events are read: few next to all of a broadcast's events. */
  async playedProofs(broadcastId: string): Promise<StoredPlayedProof[]> {
    const rows = await this.events
      .createQueryBuilder('e')
      .innerJoin(DeliveryEntity, 'd', 'd.id = e.delivery_id')
      .select('d.id', 'deliveryId')
      .addSelect('d.device_id', 'deviceId')
      .addSelect('d.village_code', 'villageCode')
      .addSelect('e.device_proof', 'proof')
      .where('d.broadcast_id = :broadcastId', { broadcastId })
      .andWhere("d.state = 'played'")
      .andWhere("e.to_state = 'played'")
      .andWhere('e.device_proof IS NOT NULL')
      .orderBy('d.village_code', 'ASC')
      .addOrderBy('d.device_id', 'ASC')
      .getRawMany<StoredPlayedProof>();
    return rows;
  }
}
