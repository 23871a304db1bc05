import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { VillagesModule } from '../villages/villages.module.js';
import { DeviceDirectory } from './device-directory.js';
import { DeviceEvents } from './device-events.js';
import { DeviceEntity } from './device.entity.js';
import { DevicesController } from './devices.controller.js';
import { DevicesRepository } from './devices.repository.js';
import { DevicesService } from './devices.service.js';
import { DevicePresenceEntity, PresenceIntervalEntity } from './presence.entity.js';
import { PresenceRepository } from './presence.repository.js';
import { PresenceService } from './presence.service.js';
import { TypeMismatchLog } from './type-mismatch-log.js';

@Module({
  imports: [
    TypeOrmModule.forFeature([DeviceEntity, DevicePresenceEntity, PresenceIntervalEntity]),
    VillagesModule,
  ],
  controllers: [DevicesController],
  providers: [
    DevicesRepository,
    DeviceDirectory,
    DevicesService,
    DeviceEvents,
    PresenceRepository,
    PresenceService,
    TypeMismatchLog,
  ],
  exports: [DevicesService, DeviceEvents, PresenceService],
})
export class DevicesModule {}
