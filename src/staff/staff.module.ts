import { Module } from '@nestjs/common';
import { AuthModule } from '../auth/auth.module.js';
import { VillagesModule } from '../villages/villages.module.js';
import { AccountsService } from './accounts.service.js';
import { SessionController } from './session.controller.js';
import { StaffService } from './staff.service.js';
import { UsersController } from './users.controller.js';

/** People: signing in and out, and the admin's staff accounts (towns checked against villages). */
@Module({
  imports: [AuthModule, VillagesModule],
  controllers: [SessionController, UsersController],
  providers: [AccountsService, StaffService],
  exports: [StaffService],
})
export class StaffModule {}
