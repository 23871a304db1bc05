import { Module } from '@nestjs/common';
import { ClipsModule } from '../clips/clips.module.js';
import { DevicesModule } from '../devices/devices.module.js';
import { VillagesModule } from '../villages/villages.module.js';
import { SeedService } from './seed.service.js';

@Module({
  imports: [VillagesModule, DevicesModule, ClipsModule],
  providers: [SeedService],
  exports: [SeedService],
})
export class SeedModule {}
