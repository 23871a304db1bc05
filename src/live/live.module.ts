import { Module } from '@nestjs/common';
import { AuthModule } from '../auth/auth.module.js';
import { BroadcastsModule } from '../broadcasts/broadcasts.module.js';
import { DevicesModule } from '../devices/devices.module.js';
import { VillagesModule } from '../villages/villages.module.js';
import { EventsController } from './events.controller.js';
import { LiveEvents } from './live-events.js';

/** The dashboard's live feed (Server-Sent Events) of broadcast, delivery and presence changes. */
@Module({
  imports: [AuthModule, BroadcastsModule, DevicesModule, VillagesModule],
  controllers: [EventsController],
  providers: [LiveEvents],
  exports: [LiveEvents],
})
export class LiveModule {}
