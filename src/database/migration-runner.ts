import { Injectable, Logger } from '@nestjs/common';
import { DataSource } from 'typeorm';
import type { AppConfig } from '../config/app-config.js';
import { InjectConfig } from '../config/config.module.js';
import { StartupError } from '../common/startup-error.js';
import { describeDatabase } from './data-source-options.js';

/** Brings the schema up to date at start (unless `RUN_MIGRATIONS=false`) and says what it did. */
@Injectable()
export class MigrationRunner {
  private readonly logger = new Logger('database');

  constructor(
    private readonly dataSource: DataSource,
    @InjectConfig() private readonly config: AppConfig,
  ) {}

  async run(): Promise<void> {
    this.logger.log(`using ${describeDatabase(this.config)}`);
    const db = this.config.database;
    if (db.type === 'postgres' && db.schema !== 'public') {
      await this.dataSource.query(`CREATE SCHEMA IF NOT EXISTS "${db.schema}"`);
    }
    if (!this.config.runMigrations) {
      if (await this.dataSource.showMigrations()) {
        throw new StartupError(
          'The database schema is behind this version (pending migrations) and RUN_MIGRATIONS=false. ' +
            'Apply them first with "npm run cli -- migrate", or start with RUN_MIGRATIONS=true.',
        );
      }
      this.logger.log('schema is up to date');
      return;
    }
    const ran = await this.dataSource.runMigrations({ transaction: 'each' });
    this.logger.log(
      ran.length
        ? `applied ${ran.length} migration(s): ${ran.map((m) => m.name).join(', ')}`
        : 'schema is up to date',
    );
  }
}
