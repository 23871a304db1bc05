import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { DataSourceOptions } from 'typeorm';
import type { AppConfig } from '../config/app-config.js';
import { AppMetaEntity } from './app-meta.entity.js';
import { MIGRATIONS } from './schema.js';

/** Entity classes, as the composition root lists them (src/entities.ts). */
export type EntityList = readonly (new () => object)[];

/**
 * TypeORM options for the configured database. `synchronize` is always off: the schema changes
 * only through migrations (tests that want a throw-away schema say so explicitly). The features'
 * entities come from the caller, so this layer names none of them.
 */
export function dataSourceOptions(config: AppConfig, entities: EntityList): DataSourceOptions {
  const allEntities: (new () => object)[] = [AppMetaEntity, ...entities];
  const common = {
    entities: allEntities,
    migrations: MIGRATIONS,
    migrationsRun: false,
    migrationsTableName: 'migrations',
    synchronize: false,
    logging: false,
  } as const;

  const db = config.database;
  if (db.type === 'sqlite') {
    mkdirSync(dirname(db.path), { recursive: true });
    return {
      ...common,
      type: 'better-sqlite3',
      database: db.path,
      enableWAL: true,
      timeout: db.busyTimeoutMs,
      prepareDatabase: (conn: { pragma(sql: string): unknown }) => {
        conn.pragma('foreign_keys = ON');
        conn.pragma(`busy_timeout = ${db.busyTimeoutMs}`);
      },
    };
  }
  return {
    ...common,
    type: 'postgres',
    url: db.url,
    schema: db.schema,
    extra: { max: 10, connectionTimeoutMillis: 5000 },
  };
}

/** A short description of where data lives, safe to log (no credentials). */
export function describeDatabase(config: AppConfig): string {
  const db = config.database;
  if (db.type === 'sqlite') return `SQLite ${db.path} (WAL)`;
  const url = new URL(db.url);
  return `PostgreSQL ${url.hostname}:${url.port || 5432}${url.pathname} schema ${db.schema}`;
}
