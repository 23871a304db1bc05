import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { BroadcastsModule } from '../broadcasts/broadcasts.module.js';
import { DevicesModule } from '../devices/devices.module.js';
import { VillagesModule } from '../villages/villages.module.js';
import { ScheduleEntity, ScheduleFiringEntity } from './schedule.entity.js';
import { SchedulesController } from './schedules.controller.js';
import { SchedulesRepository } from './schedules.repository.js';
import { SchedulesService } from './schedules.service.js';

@Module({
  imports: [
    TypeOrmModule.forFeature([ScheduleEntity, ScheduleFiringEntity]),
    BroadcastsModule,
    VillagesModule,
    DevicesModule,
  ],
  controllers: [SchedulesController],
  providers: [SchedulesRepository, SchedulesService],
  exports: [SchedulesService],
})
export class SchedulesModule {}
