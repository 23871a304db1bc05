import { Module } from '@nestjs/common';
import { GytReports } from './gyt-reports.js';

/** Reports up: CAP 1.2 and an Atom feed of broadcasts, GY/T-style XML for superior platforms. */
@Module({
  providers: [GytReports],
  exports: [GytReports],
})
export class ReportsModule {}
