import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AlertEntity, AlertFeedEntity, AlertSenderEntity } from './alert.entity.js';
import { AlertsService } from './alerts.service.js';

/** Alerts in: CAP 1.2 / GB/T 35965.1 by API and feed, trusted senders, the alerts inbox. */
@Module({
  imports: [TypeOrmModule.forFeature([AlertEntity, AlertSenderEntity, AlertFeedEntity])],
  providers: [AlertsService],
  exports: [AlertsService],
})
export class AlertsModule {}
