import { DynamicModule, Module, NestApplicationOptions } from '@nestjs/common';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { APP_FILTER, APP_PIPE } from '@nestjs/core';
import type { DestinationStream } from 'pino';
import { AlertsModule } from './alerts/alerts.module.js';
import { ApprovalsModule } from './approvals/approvals.module.js';
import { AuditModule } from './audit/audit.module.js';
import { AuthModule } from './auth/auth.module.js';
import { BroadcastsModule } from './broadcasts/broadcasts.module.js';
import { ClipsModule } from './clips/clips.module.js';
import { CoverageModule } from './coverage/coverage.module.js';
import { Clock } from './common/clock.js';
import { CommonModule } from './common/common.module.js';
import { ErrorFilter } from './common/error.filter.js';
import { AppLogger, createRootLogger } from './common/logging.js';
import { LoggingModule } from './common/logging.module.js';
import { createValidationPipe } from './common/validation.js';
import type { AppConfig } from './config/app-config.js';
import { ConfigModule } from './config/config.module.js';
import { DatabaseModule } from './database/database.module.js';
import { DevicesModule } from './devices/devices.module.js';
import { ENTITIES } from './entities.js';
import { HealthModule } from './health/health.module.js';
import { LiveModule } from './live/live.module.js';
import { MetricsModule } from './metrics/metrics.module.js';
import { MqttModule } from './mqtt/mqtt.module.js';
import { SchedulesModule } from './schedules/schedules.module.js';
import { SeedModule } from './seed/seed.module.js';
import { ReportsModule } from './reports/reports.module.js';
import { SigningModule } from './signing/signing.module.js';
import { StaffModule } from './staff/staff.module.js';
import { StatusModule } from './status/status.module.js';
import { SuperiorModule } from './superior/superior.module.js';
import { TtsModule } from './tts/tts.module.js';
import { VillagesModule } from './villages/villages.module.js';

export interface AppModuleOptions {
  /** Where log lines go; stdout (JSON or pretty, per config) when absent. Tests capture it. */
  logStream?: DestinationStream;
  /** The clock every service reads; the system clock when absent. Tests drive time with their own. */
  clock?: Clock;
  /**
   * Whether the periodic jobs (dispatch, schedules, presence sweep) run on their own timers once
   * the server has started; tests turn them off and run them at their clock's time.
   */
  timers?: boolean;
  /**
   * Makes the Nest application of the root module (`NestFactory.create` when absent): a harness
   * that swaps providers, such as the benchmarks' naive baselines, compiles it with @nestjs/testing.
   */
  createApp?: (
    root: DynamicModule,
    options: NestApplicationOptions,
  ) => Promise<NestExpressApplication>;
}

/** The logger for one application, built before Nest so start-up failures are logged the same way. */
export function createAppLogger(config: AppConfig, options: AppModuleOptions = {}): AppLogger {
  return new AppLogger(createRootLogger(config, options.logStream));
}

@Module({})
export class AppModule {
  static forRoot(
    config: AppConfig,
    logger: AppLogger,
    options: AppModuleOptions = {},
  ): DynamicModule {
    return {
      module: AppModule,
      imports: [
        ConfigModule.forRoot(config),
        LoggingModule.forRoot(logger),
        CommonModule.forRoot(options.clock),
        HealthModule,
        MetricsModule,
        DatabaseModule.forRoot(ENTITIES),
        AuthModule,
        AuditModule,
        SigningModule,
        VillagesModule,
        StaffModule,
        DevicesModule,
        MqttModule,
        StatusModule,
        ClipsModule,
        BroadcastsModule,
        CoverageModule,
        LiveModule,
        SchedulesModule,
        ApprovalsModule,
        TtsModule,
        AlertsModule,
        ReportsModule,
        SuperiorModule,
        SeedModule,
      ],
      providers: [
        { provide: APP_FILTER, useClass: ErrorFilter },
        { provide: APP_PIPE, useFactory: createValidationPipe },
      ],
    };
  }
}
