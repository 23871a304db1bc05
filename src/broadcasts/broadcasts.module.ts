import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { ClipsModule } from '../clips/clips.module.js';
import { DevicesModule } from '../devices/devices.module.js';
import { VillagesModule } from '../villages/villages.module.js';
import { BroadcastEvents } from './broadcast-events.js';
import {
  BroadcastEntity,
  BroadcastVillageEntity,
  DeliveryEntity,
  DeliveryEventEntity,
  ManualConfirmationEntity,
} from './broadcast.entity.js';
import { BroadcastFactsRepository } from './broadcast-facts.repository.js';
import { BroadcastsController } from './broadcasts.controller.js';
import { BroadcastsRepository } from './broadcasts.repository.js';
import { BroadcastsService } from './broadcasts.service.js';
import { BroadcastDispatcher } from './dispatcher.js';

@Module({
  imports: [
    TypeOrmModule.forFeature([
      BroadcastEntity,
      BroadcastVillageEntity,
      DeliveryEntity,
      DeliveryEventEntity,
      ManualConfirmationEntity,
    ]),
    ClipsModule,
    DevicesModule,
    VillagesModule,
  ],
  controllers: [BroadcastsController],
  providers: [
    BroadcastsRepository,
    BroadcastFactsRepository,
    BroadcastsService,
    BroadcastDispatcher,
    BroadcastEvents,
  ],
  // The facts repository is read-only: how coverage reads these tables without owning them.
  exports: [BroadcastsService, BroadcastDispatcher, BroadcastEvents, BroadcastFactsRepository],
})
export class BroadcastsModule {}
