import { BeforeApplicationShutdown, Injectable, Logger } from '@nestjs/common';
import { createHash, randomUUID } from 'node:crypto';
import { readFile, unlink, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { DataSource, QueryRunner } from 'typeorm';
import type { AppConfig } from '../config/app-config.js';
import { InjectConfig } from '../config/config.module.js';
import { StartupError } from '../common/startup-error.js';
import { WriteQueue } from './write-queue.js';

/** How long a start waits for a lock before refusing: a killed server's session takes a moment to end. */
const WAIT_MS = 3000;
const POLL_MS = 200;
/** The second key of the lock every server holds: shared by external-broker servers, exclusive by an embedded one. */
const BROKER_MODE_KEY = 1;

/** A positive 31-bit key from a name (advisory lock keys are two int4). */
function keyOf(name: string): number {
  return createHash('sha256').update(name).digest().readUInt32BE(0) & 0x7fffffff;
}

/**
 * Which servers share the database, held as PostgreSQL session advisory locks on a connection kept
 * for the server's life. A server with its own embedded broker must be alone (devices on its
 * broker would never hear broadcasts sent through another server); servers on one external broker
 * may be many, each with its own MQTT client id. A lock ends with its session, so a killed server
 * leaves nothing behind to expire. The lock connection's `application_name` says who holds it.
 * SQLite is for one server: a lock file next to the database names its process, and a file whose
 * process is gone (killed) is taken over.
 */
@Injectable()
export class ServerLock implements BeforeApplicationShutdown {
  private readonly logger = new Logger('servers');
  private runner?: QueryRunner;
  private lockFile?: { path: string; token: string };

  constructor(
    private readonly dataSource: DataSource,
    private readonly writes: WriteQueue,
    @InjectConfig() private readonly config: AppConfig,
  ) {}

  /** Takes this server's place on the database, or throws a StartupError naming who is in the way. */
  async acquire(): Promise<void> {
    const db = this.config.database;
    if (db.type === 'sqlite') return this.acquireFile(join(dirname(db.path), 'server.lock'));
    if (this.runner) return;
    const embedded = this.config.mqtt.url === undefined;
    const space = keyOf(`dalaba:${db.schema}`);
    const runner = this.dataSource.createQueryRunner();
    await runner.connect();
    const me = `dalaba ${hostname()} pid ${process.pid} ${embedded ? 'embedded broker' : `client ${this.config.mqtt.clientId}`}`;
    await runner.query(`SELECT set_config('application_name', $1, false)`, [me.slice(0, 63)]);
    const deadline = Date.now() + WAIT_MS;
    for (;;) {
      const problem = await this.tryLocks(runner, space, embedded).catch(async (err: unknown) => {
        await runner.release();
        throw err;
      });
      if (!problem) break;
      await runner.query('SELECT pg_advisory_unlock_all()');
      if (Date.now() >= deadline) {
        await runner.release();
        throw new StartupError(problem);
      }
      await sleep(POLL_MS);
    }
    this.runner = runner;
  }

  private async acquireFile(path: string): Promise<void> {
    if (this.lockFile) return;
    const token = randomUUID();
    const me = JSON.stringify({ pid: process.pid, host: hostname(), token });
    for (let attempt = 0; ; attempt++) {
      try {
        await writeFile(path, me, { flag: 'wx', mode: 0o600 });
        this.lockFile = { path, token };
        return;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 2) throw err;
      }
      const holder = await readFile(path, 'utf8').then(
        (text) => JSON.parse(text) as { pid?: number; host?: string },
        () => ({}) as { pid?: number; host?: string },
      );
      // This process itself (tests run several servers in one) or a process that is gone.
      const stale =
        holder.pid === undefined ||
        holder.pid === process.pid ||
        (holder.host === hostname() && !processAlive(holder.pid));
      if (!stale) {
        throw new StartupError(
          `Another Dalaba server (pid ${holder.pid} on ${holder.host}) uses this SQLite database ` +
            `(${path.replace(/server\.lock$/, '')}). SQLite is for one server; several servers ` +
            `need PostgreSQL (DATABASE_URL) and one MQTT broker for all (docs/operations.md, ` +
            `"Several servers"). If that process is gone, delete ${path}.`,
        );
      }
      await unlink(path).catch(() => undefined);
    }
  }

  /** Null when every lock was taken; otherwise why this server may not run here. */
  private async tryLocks(
    runner: QueryRunner,
    space: number,
    embedded: boolean,
  ): Promise<string | null> {
    const fn = embedded ? 'pg_try_advisory_lock' : 'pg_try_advisory_lock_shared';
    const [mode] = (await runner.query(`SELECT ${fn}($1, $2) AS ok`, [space, BROKER_MODE_KEY])) as {
      ok: boolean;
    }[];
    const supported =
      'Several servers on one database need one MQTT broker for all of them: run Mosquitto ' +
      'configured by `npm run cli -- mosquitto export` and set MQTT_URL on every server ' +
      '(docs/operations.md, "Several servers"); or give each server its own database or DATABASE_SCHEMA.';
    if (!mode.ok) {
      const others = await this.holders(runner, space, BROKER_MODE_KEY);
      return embedded
        ? `Another Dalaba server (${others}) uses this database (${this.where()}). A server with ` +
            `its own embedded MQTT broker must be the only one on its database: devices connected ` +
            `to it would never hear broadcasts sent through another server. ${supported}`
        : `Another Dalaba server (${others}) with its own embedded MQTT broker uses this database ` +
            `(${this.where()}): its devices would never hear broadcasts sent through this one. ${supported}`;
    }
    if (embedded) return null;
    const clientKey = keyOf(`client:${this.config.mqtt.clientId}`);
    const [client] = (await runner.query(`SELECT pg_try_advisory_lock($1, $2) AS ok`, [
      space,
      clientKey,
    ])) as { ok: boolean }[];
    if (client.ok) return null;
    return (
      `MQTT_CLIENT_ID=${this.config.mqtt.clientId} is in use by another Dalaba server on this ` +
      `database (${await this.holders(runner, space, clientKey)}); the broker would keep throwing ` +
      `one of them out for the other. Give each server its own MQTT_CLIENT_ID (the default, ` +
      `dalaba-server-<host>-<PORT>, differs unless host name and port are the same).`
    );
  }

  /** Who holds a lock, as their lock connections name themselves. */
  private async holders(runner: QueryRunner, space: number, key: number): Promise<string> {
    const rows = (await runner.query(
      `SELECT DISTINCT a.application_name AS name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
       WHERE l.locktype = 'advisory' AND l.granted AND l.pid <> pg_backend_pid()
         AND l.classid::int8 = $1 AND l.objid::int8 = $2 AND l.objsubid = 2`,
      [space, key],
    )) as { name: string }[];
    return rows.map((r) => r.name).join(', ') || 'unknown';
  }

  private where(): string {
    const db = this.config.database;
    return db.type === 'postgres' ? `schema ${db.schema}` : 'SQLite';
  }

  async beforeApplicationShutdown(): Promise<void> {
    const file = this.lockFile;
    this.lockFile = undefined;
    if (file) {
      await this.writes.drain();
      // Only our own: another server in this process may have taken the file over.
      const text = await readFile(file.path, 'utf8').catch(() => '');
      if (text.includes(file.token)) await unlink(file.path).catch(() => undefined);
    }
    const runner = this.runner;
    if (!runner) return;
    this.runner = undefined;
    // Held until the last write is in: a successor that starts meanwhile must not overlap it.
    await this.writes.drain();
    try {
      await runner.query('SELECT pg_advisory_unlock_all()');
    } catch (err) {
      this.logger.warn(`releasing the server lock: ${(err as Error).message}`);
    }
    await runner.release();
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
