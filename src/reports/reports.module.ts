import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AlertsModule } from '../alerts/alerts.module.js';
import { BroadcastsModule } from '../broadcasts/broadcasts.module.js';
import { ClipsModule } from '../clips/clips.module.js';
import { CoverageModule } from '../coverage/coverage.module.js';
import { DevicesModule } from '../devices/devices.module.js';
import { VillagesModule } from '../villages/villages.module.js';
import { CapMessageEntity } from './cap-message.entity.js';
import { CapMessagesRepository } from './cap-messages.repository.js';
import { CapOut } from './cap-out.js';
import { GytReports } from './gyt-reports.js';
import { ReportDocuments } from './report-documents.js';
import { ReportSources } from './report-sources.js';
import { ReportsController } from './reports.controller.js';

/** Reports up: CAP 1.2 and an Atom feed of broadcasts, GY/T-style XML for superior platforms. */
@Module({
  imports: [
    TypeOrmModule.forFeature([CapMessageEntity]),
    AlertsModule,
    BroadcastsModule,
    ClipsModule,
    CoverageModule,
    DevicesModule,
    VillagesModule,
  ],
  controllers: [ReportsController],
  providers: [ReportSources, GytReports, CapOut, ReportDocuments, CapMessagesRepository],
  exports: [GytReports, CapOut],
})
export class ReportsModule {}
