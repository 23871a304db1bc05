import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { BroadcastsModule } from '../broadcasts/broadcasts.module.js';
import { ClipsModule } from '../clips/clips.module.js';
import { LiveModule } from '../live/live.module.js';
import { SchedulesModule } from '../schedules/schedules.module.js';
import { DraftEntity } from './draft.entity.js';
import { DraftsController } from './drafts.controller.js';
import { DraftsRepository } from './drafts.repository.js';
import { DraftsService } from './drafts.service.js';

/** Two-person approval: drafts of broadcasts and schedules waiting for a second person. */
@Module({
  imports: [
    TypeOrmModule.forFeature([DraftEntity]),
    BroadcastsModule,
    ClipsModule,
    LiveModule,
    SchedulesModule,
  ],
  controllers: [DraftsController],
  providers: [DraftsRepository, DraftsService],
  exports: [DraftsService],
})
export class ApprovalsModule {}
