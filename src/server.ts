import type { INestApplication } from '@nestjs/common';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { ApiTokensService } from './auth/api-tokens.service.js';
import type { AppModuleOptions } from './app.module.js';
import type { AppConfig } from './config/app-config.js';
import { StartupError } from './common/startup-error.js';
import { Ticker } from './common/ticker.js';
import { describeDatabase } from './database/data-source-options.js';
import { ServerLock } from './database/server-lock.js';
import { createHttpApp } from './http-app.js';
import { BroadcastDispatcher } from './broadcasts/dispatcher.js';
import { ClipsService } from './clips/clips.service.js';
import { Ffmpeg } from './clips/ffmpeg.js';
import { MediaSigner } from './clips/media-signer.js';
import { DeviceGateway } from './devices/device-gateway.js';
import { LISTEN_BACKLOG } from './common/listen-backlog.js';
import { LiveEvents } from './live/live-events.js';
import { DraftsService } from './approvals/drafts.service.js';
import { AlertsService } from './alerts/alerts.service.js';
import { SchedulesService } from './schedules/schedules.service.js';
import { SeedResult, SeedService } from './seed/seed.service.js';
import { StaffService } from './staff/staff.service.js';
import { TtsService } from './tts/tts.service.js';

export interface RunningServer {
  app: INestApplication;
  /** Base URL the server listens on (loopback form). */
  url: string;
  port: number;
  /** The admin token generated on this start (first start without ADMIN_TOKEN), to print once. */
  generatedAdminToken?: string;
  /** The one-time password of the `admin` account made on this start (no account yet), to print once. */
  generatedAdminPassword?: string;
  /** Where devices connect: the embedded broker's address, or the external broker. */
  mqtt: string;
  /** The embedded broker's TCP port (undefined with an external broker). */
  mqttPort?: number;
  /** Which ffmpeg clips are made with, and where it was found (or why there is none). */
  ffmpeg: string;
  seeded: SeedResult | null;
  /** Stops taking requests, waits for those in flight, finishes queued writes, closes the database. */
  close(): Promise<void>;
}

/** Boots the whole server: migrations, sample seed, listeners, then the bootstrap admin token. */
export async function startServer(
  config: AppConfig,
  options: AppModuleOptions = {},
): Promise<RunningServer> {
  const app = await createHttpApp(config, options).catch((err: unknown) => {
    throw explainDatabaseError(err, config) ?? err;
  });
  const tokens = app.get(ApiTokensService);
  let firstAdmin = false;
  try {
    await app.init();
    // Before anything acts: a second server that may not share this database stops here.
    await app.get(ServerLock).acquire();
    firstAdmin = await tokens.willGenerateBootstrapAdmin(config.adminToken);
    const seeded = await app.get(SeedService).seedIfEmpty();
    await app.get(MediaSigner).load();
    await app.get(ClipsService).start();
    await app.get(TtsService).start();
    // The dispatcher listens before the broker accepts devices, so no confirmation is missed.
    app.get(BroadcastDispatcher).start();
    const gateway = app.get(DeviceGateway);
    await gateway.start();
    // Firings missed while the server was down run now if their window is still open.
    await app.get(SchedulesService).start();
    // A draft approved just before a stop gets its broadcast now, not never.
    await app.get(DraftsService).start();
    // Alerts a stop interrupted are acted on again (in the background).
    await app.get(AlertsService).start();
    await listen(app, config);
    // Periodic work begins once everything it touches has started.
    if (options.timers !== false) app.get(Ticker).start();
    // Only once nothing else can fail: a token made earlier would be lost with a failed start.
    const { generated } = await tokens.ensureBootstrapAdmin(config.adminToken);
    const { oneTimePassword } = await app.get(StaffService).ensureFirstAdmin();
    // In the background: the start does not wait for ffmpeg, and an emergency's work goes first.
    void app.get(SeedService).addSampleClipIfPending();
    const server = app.getHttpServer() as Server;
    const port = (server.address() as AddressInfo).port;
    if (!config.publicUrlGiven && config.port === 0) {
      // PORT=0 picked a free port: the clip URLs must carry the real one.
      const url = new URL(config.publicUrl);
      url.port = String(port);
      config.publicUrl = url.toString().replace(/\/$/, '');
    }
    return {
      app,
      url: `http://127.0.0.1:${port}`,
      port,
      generatedAdminToken: generated,
      generatedAdminPassword: oneTimePassword,
      mqtt: gateway.describe(),
      mqttPort: gateway.ports.mqtt,
      ffmpeg: app.get(Ffmpeg).summary(),
      seeded,
      close: () => closeServer(app),
    };
  } catch (err) {
    await app.close().catch(() => undefined);
    if (firstAdmin && err instanceof StartupError) {
      throw new StartupError(
        `${err.message}\nNo admin token was created yet: it will be shown once the server starts.`,
      );
    }
    throw err;
  }
}

/** Turns the usual reasons a database cannot be opened into a message that says what to do. */
function explainDatabaseError(err: unknown, config: AppConfig): StartupError | undefined {
  const code = (err as { code?: unknown }).code;
  const where = describeDatabase(config);
  const reasons: Record<string, string> = {
    ECONNREFUSED: 'nothing is listening there; is PostgreSQL running?',
    ENOTFOUND: 'the host name does not resolve; check DATABASE_URL',
    ETIMEDOUT: 'the connection timed out; check DATABASE_URL and the network',
    '28P01': 'the password was refused; check DATABASE_URL',
    '28000': 'the user is not allowed to connect; check DATABASE_URL and pg_hba.conf',
    '3D000': 'the database does not exist; create it or fix DATABASE_URL',
    EACCES: `no permission to write there; choose another DATA_DIR or fix the permissions`,
    EROFS: 'the file system is read-only; choose another DATA_DIR',
    ENOTDIR: 'part of the path is a file, not a directory; check DATA_DIR',
    SQLITE_CANTOPEN: 'the file cannot be opened; check DATA_DIR',
  };
  const reason = typeof code === 'string' ? reasons[code] : undefined;
  return reason ? new StartupError(`Cannot open the database (${where}): ${reason}`) : undefined;
}

async function listen(app: INestApplication, config: AppConfig): Promise<void> {
  try {
    // Nest passes extra arguments on to http.Server#listen(port, host, backlog, callback).
    const listenWith = app.listen.bind(app) as unknown as (
      port: number,
      host: string,
      backlog: number,
    ) => Promise<unknown>;
    await listenWith(config.port, config.host, LISTEN_BACKLOG);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE') {
      throw new StartupError(
        `HTTP port ${config.port} is already in use on ${config.host}. ` +
          `Stop the program using it, or start on another port, e.g. PORT=${config.port + 1} npm start`,
      );
    }
    if (code === 'EACCES') {
      throw new StartupError(
        `Not allowed to listen on port ${config.port}; choose a port above 1023 with PORT=…`,
      );
    }
    throw err;
  }
}

async function closeServer(app: INestApplication): Promise<void> {
  const server = app.getHttpServer() as Server;
  // Event streams never finish by themselves: end them first, or the wait below never ends.
  app.get(LiveEvents).endAll();
  if (server.listening) {
    // Stop accepting; resolve once the requests in flight have been answered.
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
  // Module hooks: queued writes drain (WriteQueue), then the database closes.
  await app.close();
}
