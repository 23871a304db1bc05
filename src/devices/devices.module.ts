import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { VillagesModule } from '../villages/villages.module.js';
import { DeviceEvents } from './device-events.js';
import { DeviceEntity } from './device.entity.js';
import { DevicesController } from './devices.controller.js';
import { DevicesRepository } from './devices.repository.js';
import { DevicesService } from './devices.service.js';

@Module({
  imports: [TypeOrmModule.forFeature([DeviceEntity]), VillagesModule],
  controllers: [DevicesController],
  providers: [DevicesRepository, DevicesService, DeviceEvents],
  exports: [DevicesService, DeviceEvents],
})
export class DevicesModule {}
