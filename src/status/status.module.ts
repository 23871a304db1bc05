import { Module } from '@nestjs/common';
import { CoverageModule } from '../coverage/coverage.module.js';
import { DevicesModule } from '../devices/devices.module.js';
import { VillagesModule } from '../villages/villages.module.js';
import { StatusController } from './status.controller.js';
import { StatusService } from './status.service.js';

@Module({
  imports: [VillagesModule, DevicesModule, CoverageModule],
  controllers: [StatusController],
  providers: [StatusService],
})
export class StatusModule {}
