import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { ApprovalsModule } from '../approvals/approvals.module.js';
import { BroadcastsModule } from '../broadcasts/broadcasts.module.js';
import { ClipsModule } from '../clips/clips.module.js';
import { LiveModule } from '../live/live.module.js';
import { TtsModule } from '../tts/tts.module.js';
import { VillagesModule } from '../villages/villages.module.js';
import { AlertContent } from './alert-content.js';
import { AlertEntity, AlertFeedEntity, AlertSenderEntity } from './alert.entity.js';
import { AlertsController, AlertSendersController } from './alerts.controller.js';
import { AlertsRepository } from './alerts.repository.js';
import { AlertsService } from './alerts.service.js';
import { CapFeedsService } from './feeds/cap-feeds.service.js';
import { FeedsController } from './feeds/feeds.controller.js';
import { FeedsRepository } from './feeds/feeds.repository.js';
import { FeedsService } from './feeds/feeds.service.js';
import { XmlPool } from './xml-pool.js';

/** Alerts in: CAP 1.2 / GB/T 35965.1 by API and feed, trusted senders, the alerts inbox. */
@Module({
  imports: [
    TypeOrmModule.forFeature([AlertEntity, AlertSenderEntity, AlertFeedEntity]),
    ApprovalsModule,
    BroadcastsModule,
    ClipsModule,
    LiveModule,
    TtsModule,
    VillagesModule,
  ],
  controllers: [AlertsController, AlertSendersController, FeedsController],
  providers: [
    AlertsRepository,
    AlertContent,
    AlertsService,
    FeedsRepository,
    CapFeedsService,
    FeedsService,
    XmlPool,
  ],
  exports: [AlertsService],
})
export class AlertsModule {}
