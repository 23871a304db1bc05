import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { Clock } from '../../src/common/clock.js';
import { Ticker } from '../../src/common/ticker.js';
import { AppConfig, loadConfig } from '../../src/config/app-config.js';
import { RunningServer, startServer } from '../../src/server.js';
import { approvalsOffIn } from './approvals.js';

export interface LogLine {
  level: number;
  msg: string;
  context?: string;
  [key: string]: unknown;
}

export interface TestServer {
  url: string;
  dataDir: string;
  adminToken: string;
  server: RunningServer;
  /** Every raw log line the server wrote. */
  rawLogs: string[];
  logs(): LogLine[];
  /** The server's clock: real time unless the test passed its own, moved by {@link advance}. */
  clock: MovableClock;
  /**
   * Runs the server's periodic jobs (dispatch tick, schedules, presence sweep) once, at the clock's
   * time: the server's own timers are off unless the test asked for them.
   */
  tick(): Promise<void>;
  /** Moves the clock `ms` forward, then runs the periodic jobs at the new time. */
  advance(ms: number): Promise<void>;
  close(): Promise<void>;
}

export interface TestServerOptions {
  /** Reuse a data directory (to prove a restart keeps data); a new temp dir otherwise. */
  dataDir?: string;
  /** Seed the sample county on first start (off by default to keep tests fast and independent). */
  seed?: boolean;
  /** With `seed`, also add the sample announcement as a clip (off by default: ffmpeg work). */
  sampleClip?: boolean;
  /** A fixed admin token; a random one otherwise. */
  adminToken?: string;
  env?: Record<string, string>;
  /** A clock the test controls (schedules, deadlines); real time that `advance` moves otherwise. */
  clock?: MovableClock;
  /**
   * Runs the periodic jobs on the server's own timers, as `npm start` does (DISPATCH_TICK_MS…).
   * Off by default: the test runs them with `tick()` and `advance(ms)`, so nothing happens between
   * two steps of a test unless a device or a request causes it.
   */
  timers?: boolean;
  /**
   * Keep the station's default two-person rule (levels I and II need a second person). Off
   * otherwise: most tests send emergencies to test something else.
   */
  approvals?: boolean;
  /** Changes the loaded configuration before the server starts (what no variable sets). */
  configure?: (config: AppConfig) => void;
}

/** A clock a test can move forward. */
export abstract class MovableClock extends Clock {
  abstract advance(ms: number): void;
}

/** A clock that stands still until the test moves it. */
export class TestClock extends MovableClock {
  constructor(private ms: number) {
    super();
  }
  now(): Date {
    return new Date(this.ms);
  }
  set(ms: number): void {
    this.ms = ms;
  }
  advance(ms: number): void {
    this.ms += ms;
  }
}

/**
 * Real time, moved forward by what the test has advanced it: the devices' own timing (a clip
 * playing for two seconds) stays real, while an acknowledgement timeout or a deadline is reached
 * at once.
 */
export class ShiftedClock extends MovableClock {
  private offsetMs = 0;
  now(): Date {
    return new Date(Date.now() + this.offsetMs);
  }
  advance(ms: number): void {
    this.offsetMs += ms;
  }
}

/** A temp directory removed when the process exits. */
export function tempDir(prefix = 'dalaba-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** The whole server in this process on an ephemeral port, with a real SQLite file in a temp dir. */
export async function startTestServer(options: TestServerOptions = {}): Promise<TestServer> {
  const dataDir = options.dataDir ?? tempDir();
  const adminToken = options.adminToken ?? `test-admin-${randomBytes(16).toString('hex')}`;
  const config = loadConfig({
    PORT: '0',
    HOST: '127.0.0.1',
    DATA_DIR: dataDir,
    LOG_FORMAT: 'json',
    LOG_LEVEL: 'info',
    ADMIN_TOKEN: adminToken,
    SEED_SAMPLE: options.seed ? 'true' : 'false',
    MQTT_PORT: '0',
    MQTT_HOST: '127.0.0.1',
    PATH: process.env.PATH ?? '',
    // Lets a run check another ffmpeg: FFMPEG_PATH=… npm test -- clips
    ...(process.env.FFMPEG_PATH ? { FFMPEG_PATH: process.env.FFMPEG_PATH } : {}),
    ...options.env,
  });
  // The sample clip's transcoding would load every seeded test; the seed test asks for it.
  config.seedSampleClip = options.sampleClip ?? false;
  options.configure?.(config);
  const rawLogs: string[] = [];
  const clock = options.clock ?? new ShiftedClock();
  const server = await startServer(config, {
    logStream: { write: (line: string) => void rawLogs.push(line) },
    clock,
    timers: options.timers ?? false,
  });
  if (!options.approvals) await approvalsOffIn(server);
  const tick = () => server.app.get(Ticker).runAll(clock.now());
  return {
    url: server.url,
    dataDir,
    adminToken,
    server,
    rawLogs,
    clock,
    tick,
    advance: async (ms) => {
      clock.advance(ms);
      await tick();
    },
    logs: () =>
      rawLogs.flatMap((l) =>
        l
          .split('\n')
          .filter(Boolean)
          .map((s) => JSON.parse(s) as LogLine),
      ),
    close: () => server.close(),
  };
}

/** supertest calls with a bearer token already set. */
export function api(url: string, token?: string) {
  const withAuth = (t: request.Test) => (token ? t.set('Authorization', `Bearer ${token}`) : t);
  const r = request(url);
  return {
    get: (path: string) => withAuth(r.get(path)),
    post: (path: string) => withAuth(r.post(path)),
    patch: (path: string) => withAuth(r.patch(path)),
    put: (path: string) => withAuth(r.put(path)),
    delete: (path: string) => withAuth(r.delete(path)),
  };
}

/** Creates a token of `role` through the API and returns it. */
export async function tokenFor(
  server: TestServer,
  role: 'viewer' | 'operator' | 'admin',
): Promise<string> {
  const res = await api(server.url, server.adminToken)
    .post('/api/tokens')
    .send({ name: `test ${role}`, role })
    .expect(201);
  return res.body.token as string;
}
