import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AlertEntity, AlertFeedEntity, AlertSenderEntity } from './alert.entity.js';
import { AlertsService } from './alerts.service.js';
import { CapFeedsService } from './feeds/cap-feeds.service.js';
import { FeedsController } from './feeds/feeds.controller.js';
import { FeedsRepository } from './feeds/feeds.repository.js';

/** Alerts in: CAP 1.2 / GB/T 35965.1 by API and feed, trusted senders, the alerts inbox. */
@Module({
  imports: [TypeOrmModule.forFeature([AlertEntity, AlertSenderEntity, AlertFeedEntity])],
  controllers: [FeedsController],
  providers: [AlertsService, FeedsRepository, CapFeedsService],
  exports: [AlertsService],
})
export class AlertsModule {}
