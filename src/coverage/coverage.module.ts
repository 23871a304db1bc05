import { Module } from '@nestjs/common';
import { AuthModule } from '../auth/auth.module.js';
import { BroadcastsModule } from '../broadcasts/broadcasts.module.js';
import { DevicesModule } from '../devices/devices.module.js';
import { EvidenceModule } from '../evidence/evidence.module.js';
import { VillagesModule } from '../villages/villages.module.js';
import { CoverageController } from './coverage.controller.js';
import { CoverageService } from './coverage.service.js';

@Module({
  imports: [AuthModule, BroadcastsModule, DevicesModule, EvidenceModule, VillagesModule],
  controllers: [CoverageController],
  providers: [CoverageService],
  exports: [CoverageService],
})
export class CoverageModule {}
