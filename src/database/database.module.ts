import { DynamicModule, Global, Module, OnModuleInit } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import type { AppConfig } from '../config/app-config.js';
import { APP_CONFIG } from '../config/config.module.js';
import { ReadinessChecks } from '../common/readiness-checks.js';
import { AppMetaRepository } from './app-meta.repository.js';
import { dataSourceOptions, EntityList } from './data-source-options.js';
import { MigrationRunner } from './migration-runner.js';
import { ServerLock } from './server-lock.js';
import { WriteQueue } from './write-queue.js';

@Global()
@Module({})
export class DatabaseModule implements OnModuleInit {
  constructor(
    private readonly migrations: MigrationRunner,
    private readonly readiness: ReadinessChecks,
    private readonly dataSource: DataSource,
  ) {}

  /** `entities`: every feature's, named by the composition root (src/entities.ts). */
  static forRoot(entities: EntityList): DynamicModule {
    return {
      module: DatabaseModule,
      imports: [
        TypeOrmModule.forRootAsync({
          inject: [APP_CONFIG],
          useFactory: (config: AppConfig) => ({
            ...dataSourceOptions(config, entities),
            retryAttempts: 3,
            retryDelay: 1000,
          }),
        }),
      ],
      providers: [WriteQueue, AppMetaRepository, MigrationRunner, ServerLock],
      exports: [WriteQueue, AppMetaRepository, ServerLock],
    };
  }

  async onModuleInit(): Promise<void> {
    await this.migrations.run();
    this.readiness.register('database', async () => {
      await this.dataSource.query('SELECT 1');
    });
  }
}
