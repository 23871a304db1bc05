import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AlertsModule } from '../alerts/alerts.module.js';
import { BroadcastsModule } from '../broadcasts/broadcasts.module.js';
import { DevicesModule } from '../devices/devices.module.js';
import { ReportsModule } from '../reports/reports.module.js';
import { SigningModule } from '../signing/signing.module.js';
import { SuperiorPackageEntity } from './superior-package.entity.js';
import { SuperiorPackagesRepository } from './superior-packages.repository.js';
import { SuperiorController, SuperiorEbdController } from './superior.controller.js';
import { SuperiorInbound } from './superior-inbound.js';
import { SuperiorLink } from './superior-link.js';

/** The optional live link to a superior (city or province) platform (docs/superior.md). */
@Module({
  imports: [
    TypeOrmModule.forFeature([SuperiorPackageEntity]),
    AlertsModule,
    BroadcastsModule,
    DevicesModule,
    ReportsModule,
    SigningModule,
  ],
  controllers: [SuperiorController, SuperiorEbdController],
  providers: [SuperiorPackagesRepository, SuperiorLink, SuperiorInbound],
})
export class SuperiorModule {}
