import { randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import { hostname, networkInterfaces } from 'node:os';
import { isAbsolute, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TIMING } from '../contract/messages.js';

/** The sample devices' secrets, in DATA_DIR: written by the seed, read by `npm run fleet -- --county`. */
export const SAMPLE_CREDENTIALS_FILE = 'sample-credentials.json';

/** Log levels accepted by `LOG_LEVEL`, most verbose first. */
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;

export type LogLevel = (typeof LOG_LEVELS)[number];

export type DatabaseConfig =
  | { type: 'sqlite'; path: string; busyTimeoutMs: number }
  | { type: 'postgres'; url: string; schema: string };

/** Every setting of the server, read from the environment once at boot (see README, "Configuration"). */
export interface AppConfig {
  port: number;
  host: string;
  /** Base of the URLs devices fetch clips from. */
  publicUrl: string;
  /** Whether PUBLIC_URL was given (otherwise the server fills in its real port after listening). */
  publicUrlGiven: boolean;
  dataDir: string;
  /** `DATA_DIR/sample-credentials.json`. */
  sampleCredentialsFile: string;
  database: DatabaseConfig;
  runMigrations: boolean;
  seedSample: boolean;
  /**
   * With the sample county, add `audio/sample-announcement.mp3` as a ready clip, so a first
   * broadcast needs no upload (no variable: SEED_SAMPLE=false turns both off; tests turn it off).
   */
  seedSampleClip: boolean;
  /** Bootstrap admin token from `ADMIN_TOKEN`; a secret, never logged. */
  adminToken: string | undefined;
  timeZone: string;
  log: { level: LogLevel; format: 'json' | 'pretty' };
  http: {
    bodyLimitBytes: number;
    importLimitBytes: number;
    /**
     * Which proxies' `X-Forwarded-For` to believe (Express `trust proxy`): none, the last n hops,
     * or these addresses. Never every hop: then a client chooses its own address.
     */
    trustProxy: false | number | string[];
    /** The dashboard's files (`web/`), served at `/`. */
    dashboardDir: string;
  };
  auth: { failLimit: number; failWindowMs: number };
  shutdownTimeoutMs: number;
  mqtt: MqttConfig;
  presence: { heartbeatIntervalS: number; missedHeartbeats: number };
  audio: AudioConfig;
  broadcasts: BroadcastConfig;
}

export interface BroadcastConfig {
  /** Default validity when a broadcast gives no expiresAt, per level family (ms). */
  defaultWindowMs: { emergency: number; routine: number; test: number };
  /** After expiresAt, how long a device may still report before open deliveries are expired. */
  graceMs: number;
  /** A broadcast starting later is dispatched this long before its start (devices download ahead). */
  prefetchMs: number;
  ackTimeoutMs: number;
  maxResends: number;
  /** Resumptions after `preempted` before a delivery interrupted again fails (at most the contract's). */
  maxResumes: number;
  tickMs: number;
  /** Devices that came online within this long are looked up together (no variable: 100 ms). */
  onlineDelayMs: number;
}

export interface AudioConfig {
  /** `FFMPEG_PATH`: when set, the only ffmpeg tried. */
  ffmpegPath: string | undefined;
  /**
   * Optional npm packages that carry an ffmpeg binary, tried in this order before PATH (no
   * variable; a test empties it to play a machine with no ffmpeg at all).
   */
  ffmpegPackages: FfmpegPackage[];
  /** Directories searched for `ffmpeg` (the process's PATH). */
  searchPath: string;
  concurrency: number;
  timeoutMs: number;
  maxUploadBytes: number;
  maxDurationMs: number;
  bitrateKbps: number;
  targetLufs: number;
  truePeakDb: number;
  /** HMAC key for signed media URLs; generated into DATA_DIR when unset. A secret. */
  signingKey: string | undefined;
  /** The shipped sounds (attention tones, sample announcement). */
  soundsDir: string;
}

/** ffmpeg-static downloads its binary when installed (fails offline); the installer ships it. */
export const FFMPEG_PACKAGES = ['ffmpeg-static', '@ffmpeg-installer/ffmpeg'] as const;
export type FfmpegPackage = (typeof FFMPEG_PACKAGES)[number];

export interface MqttConfig {
  /** External broker (`MQTT_URL`); undefined runs the embedded broker. */
  url: string | undefined;
  /** Embedded broker's TCP listener. */
  port: number;
  host: string;
  /** Embedded broker's optional WebSocket listener. */
  wsPort: number | undefined;
  /** The server's own credentials on an external broker (and in the exported Mosquitto files). */
  username: string;
  password: string | undefined;
  clientId: string;
  topicPrefix: string;
  maxPayloadBytes: number;
  /** Messages per second a device may send on average, and in a burst. */
  deviceRate: number;
  deviceBurst: number;
  /**
   * Failed logins per client id and address, and per address, within the window before that pair
   * or address backs off (its wrong logins are answered "retry later" unchecked against the
   * database); a right secret is let in whatever the count.
   */
  authFailLimit: number;
  authAddressFailLimit: number;
  authFailWindowMs: number;
  /** How long a frozen subscriber may hold up a topic before the broker drops it (ms). */
  drainTimeoutMs: number;
  /** Deliveries the embedded broker has in flight at once (Aedes `concurrency`). */
  concurrency: number;
}

/** Thrown when the environment holds a value the server cannot run with; names every bad variable. */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

type Env = Record<string, string | undefined>;

const SIZE_UNITS: Record<string, number> = { b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3 };

/** Reads variables and collects every problem instead of stopping at the first. */
class EnvReader {
  readonly problems: string[] = [];

  constructor(private readonly env: Env) {}

  raw(name: string): string | undefined {
    const value = this.env[name]?.trim();
    return value === undefined || value === '' ? undefined : value;
  }

  string(name: string, fallback: string): string {
    return this.raw(name) ?? fallback;
  }

  int(name: string, fallback: number, min: number, max: number): number {
    const value = this.raw(name);
    if (value === undefined) return fallback;
    if (!/^\d+$/.test(value) || Number(value) < min || Number(value) > max) {
      this.problems.push(
        `${name}=${JSON.stringify(value)}: must be a whole number from ${min} to ${max}`,
      );
      return fallback;
    }
    return Number(value);
  }

  bool(name: string, fallback: boolean): boolean {
    const value = this.raw(name)?.toLowerCase();
    if (value === undefined) return fallback;
    if (['true', '1', 'yes', 'on'].includes(value)) return true;
    if (['false', '0', 'no', 'off'].includes(value)) return false;
    this.problems.push(`${name}=${JSON.stringify(value)}: must be true or false`);
    return fallback;
  }

  number(name: string, fallback: number, min: number, max: number): number {
    const value = this.raw(name);
    if (value === undefined) return fallback;
    const n = Number(value);
    if (!/^-?\d+(\.\d+)?$/.test(value) || n < min || n > max) {
      this.problems.push(
        `${name}=${JSON.stringify(value)}: must be a number from ${min} to ${max}`,
      );
      return fallback;
    }
    return n;
  }

  oneOf<T extends string>(name: string, allowed: readonly T[], fallback: T): T {
    const value = this.raw(name)?.toLowerCase();
    if (value === undefined) return fallback;
    if ((allowed as readonly string[]).includes(value)) return value as T;
    this.problems.push(`${name}=${JSON.stringify(value)}: must be one of ${allowed.join(', ')}`);
    return fallback;
  }

  size(name: string, fallback: number): number {
    const value = this.raw(name);
    if (value === undefined) return fallback;
    const match = /^(\d+)\s*(b|kb|mb|gb)?$/i.exec(value);
    const bytes = match ? Number(match[1]) * SIZE_UNITS[(match[2] ?? 'b').toLowerCase()] : NaN;
    if (!Number.isSafeInteger(bytes) || bytes < 1024) {
      this.problems.push(
        `${name}=${JSON.stringify(value)}: must be a size of at least 1kb, like 512kb or 10mb`,
      );
      return fallback;
    }
    return bytes;
  }

  url(name: string, protocols: string[]): string | undefined {
    const value = this.raw(name);
    if (value === undefined) return undefined;
    try {
      const url = new URL(value);
      if (protocols.includes(url.protocol)) return value.replace(/\/+$/, '');
    } catch {
      // reported below
    }
    // The value may hold a password: name the variable, never echo it.
    this.problems.push(
      `${name}: must be a URL starting with ${protocols.map((p) => `${p}//`).join(' or ')}`,
    );
    return undefined;
  }
}

const PROXY_NAMES = ['loopback', 'linklocal', 'uniquelocal'];

function isProxyAddress(entry: string): boolean {
  if (PROXY_NAMES.includes(entry)) return true;
  const [address, bits, ...rest] = entry.split('/');
  const family = isIP(address);
  if (family === 0 || rest.length > 0) return false;
  return (
    bits === undefined || (/^\d{1,3}$/.test(bits) && Number(bits) <= (family === 4 ? 32 : 128))
  );
}

/** TRUST_PROXY: off, a number of proxy hops, or the proxies' addresses; never "trust everyone". */
function trustProxy(r: EnvReader): AppConfig['http']['trustProxy'] {
  const value = r.raw('TRUST_PROXY');
  if (value === undefined || ['false', '0', 'no', 'off'].includes(value.toLowerCase()))
    return false;
  if (/^\d{1,2}$/.test(value) && Number(value) <= 10) return Number(value);
  const entries = value.split(',').map((e) => e.trim());
  if (entries.every(isProxyAddress)) return entries;
  r.problems.push(
    `TRUST_PROXY=${JSON.stringify(value)}: must be the number of proxies in front of the server (1 to 10), ` +
      `or their addresses (IPs or CIDR ranges, comma-separated, or loopback, linklocal, uniquelocal); ` +
      `"true" is not accepted: it lets any client choose the address it is counted under`,
  );
  return false;
}

function isTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

/** The first non-internal IPv4 address, so the default PUBLIC_URL is reachable by devices on the LAN. */
function defaultHostAddress(): string {
  for (const addresses of Object.values(networkInterfaces())) {
    for (const address of addresses ?? []) {
      if (address.family === 'IPv4' && !address.internal) return address.address;
    }
  }
  return 'localhost';
}

/**
 * Validates the environment into an {@link AppConfig}. Throws {@link ConfigError} listing every
 * variable that is wrong and what it accepts; `cwd` anchors relative paths such as `DATA_DIR`.
 */
export function loadConfig(env: Env, cwd: string = process.cwd()): AppConfig {
  const r = new EnvReader(env);

  const port = r.int('PORT', 3000, 0, 65535);
  const host = r.string('HOST', '0.0.0.0');
  const dataDirRaw = r.string('DATA_DIR', './data');
  const dataDir = isAbsolute(dataDirRaw) ? dataDirRaw : resolve(cwd, dataDirRaw);

  const givenPublicUrl = r.url('PUBLIC_URL', ['http:', 'https:']);
  // Listening on one address: devices reach that one; on all of them: the first LAN address.
  const urlHost =
    host === '0.0.0.0' || host === '::'
      ? defaultHostAddress()
      : host.includes(':')
        ? `[${host}]`
        : host;
  const publicUrl = givenPublicUrl ?? `http://${urlHost}:${port}`;

  const databaseUrl = r.url('DATABASE_URL', ['postgres:', 'postgresql:']);
  const schema = r.string('DATABASE_SCHEMA', 'public');
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) {
    r.problems.push(
      `DATABASE_SCHEMA=${JSON.stringify(schema)}: must be a lower-case identifier (a-z, 0-9, _)`,
    );
  }
  const busyTimeoutMs = r.int('DB_BUSY_TIMEOUT_MS', 5000, 0, 600_000);
  const database: DatabaseConfig = databaseUrl
    ? { type: 'postgres', url: databaseUrl, schema }
    : { type: 'sqlite', path: resolve(dataDir, 'dalaba.db'), busyTimeoutMs };

  const adminToken = r.raw('ADMIN_TOKEN');
  if (adminToken !== undefined && !/^[\x21-\x7e]{24,256}$/.test(adminToken)) {
    // Never echo the value: it is a secret.
    r.problems.push('ADMIN_TOKEN: must be 24 to 256 printable characters without spaces');
  }

  const timeZone = r.string('TZ_DEFAULT', 'Asia/Shanghai');
  if (!isTimeZone(timeZone)) {
    r.problems.push(
      `TZ_DEFAULT=${JSON.stringify(timeZone)}: must be an IANA time zone such as Asia/Shanghai`,
    );
  }

  const logFormat = r.oneOf('LOG_FORMAT', ['auto', 'json', 'pretty'] as const, 'auto');

  const config: AppConfig = {
    port,
    host,
    publicUrl,
    publicUrlGiven: givenPublicUrl !== undefined,
    dataDir,
    sampleCredentialsFile: resolve(dataDir, SAMPLE_CREDENTIALS_FILE),
    database,
    runMigrations: r.bool('RUN_MIGRATIONS', true),
    seedSample: r.bool('SEED_SAMPLE', true),
    seedSampleClip: true,
    adminToken,
    timeZone,
    log: {
      level: r.oneOf('LOG_LEVEL', LOG_LEVELS, 'info'),
      format: logFormat === 'auto' ? (process.stdout.isTTY ? 'pretty' : 'json') : logFormat,
    },
    http: {
      bodyLimitBytes: r.size('BODY_LIMIT', 1024 ** 2),
      importLimitBytes: r.size('IMPORT_LIMIT', 10 * 1024 ** 2),
      trustProxy: trustProxy(r),
      dashboardDir: fileURLToPath(new URL('../../../web', import.meta.url)),
    },
    auth: {
      failLimit: r.int('AUTH_FAIL_LIMIT', 20, 1, 100_000),
      failWindowMs: r.int('AUTH_FAIL_WINDOW_S', 300, 1, 86_400) * 1000,
    },
    shutdownTimeoutMs: r.int('SHUTDOWN_TIMEOUT_MS', 10_000, 100, 600_000),
    mqtt: {
      url: r.url('MQTT_URL', ['mqtt:', 'mqtts:', 'ws:', 'wss:', 'tcp:']),
      port: r.int('MQTT_PORT', 1883, 0, 65535),
      host: r.string('MQTT_HOST', '0.0.0.0'),
      wsPort: r.raw('MQTT_WS_PORT') === undefined ? undefined : r.int('MQTT_WS_PORT', 0, 0, 65535),
      username: r.string('MQTT_USERNAME', 'dalaba-server'),
      password: r.raw('MQTT_PASSWORD'),
      // One per server (Mosquitto throws out the older of two sessions with one id) and the same
      // across restarts (its persistent session keeps QoS 1 messages); PORT=0 has no port to use.
      clientId: r.string(
        'MQTT_CLIENT_ID',
        `dalaba-server-${hostname()}-${port || randomBytes(4).toString('hex')}`,
      ),
      topicPrefix: r.string('MQTT_TOPIC_PREFIX', 'dalaba/v1'),
      maxPayloadBytes: r.size('MQTT_MAX_PAYLOAD', 4096),
      deviceRate: r.int('MQTT_DEVICE_RATE', 20, 1, 100_000),
      deviceBurst: r.int('MQTT_DEVICE_BURST', 60, 1, 1_000_000),
      authFailLimit: r.int('MQTT_AUTH_FAIL_LIMIT', 10, 1, 100_000),
      authAddressFailLimit: r.int('MQTT_AUTH_ADDRESS_FAIL_LIMIT', 1000, 1, 1_000_000),
      authFailWindowMs: r.int('MQTT_AUTH_FAIL_WINDOW_S', 60, 1, 86_400) * 1000,
      drainTimeoutMs: r.int('MQTT_DRAIN_TIMEOUT_MS', 5000, 100, 600_000),
      concurrency: r.int('MQTT_CONCURRENCY', 10_000, 1, 1_000_000),
    },
    audio: {
      ffmpegPath: r.raw('FFMPEG_PATH'),
      ffmpegPackages: [...FFMPEG_PACKAGES],
      searchPath: env.PATH ?? '',
      concurrency: r.int('FFMPEG_CONCURRENCY', 1, 1, 64),
      timeoutMs: r.int('FFMPEG_TIMEOUT_S', 600, 1, 86_400) * 1000,
      maxUploadBytes: r.size('CLIP_MAX_UPLOAD', 50 * 1024 ** 2),
      maxDurationMs: r.int('CLIP_MAX_DURATION_S', 1800, 1, 86_400) * 1000,
      bitrateKbps: r.int('CLIP_BITRATE_KBPS', 64, 32, 320),
      targetLufs: r.number('CLIP_TARGET_LUFS', -16, -40, -5),
      truePeakDb: r.number('CLIP_TRUE_PEAK_DB', -1.5, -9, 0),
      signingKey: r.raw('MEDIA_SIGNING_KEY'),
      soundsDir: r.string('SOUNDS_DIR', fileURLToPath(new URL('../../../audio', import.meta.url))),
    },
    broadcasts: {
      defaultWindowMs: {
        emergency: r.int('BROADCAST_WINDOW_EMERGENCY_MIN', 60, 1, 10_080) * 60_000,
        routine: r.int('BROADCAST_WINDOW_ROUTINE_MIN', 120, 1, 10_080) * 60_000,
        test: r.int('BROADCAST_WINDOW_TEST_MIN', 30, 1, 10_080) * 60_000,
      },
      graceMs: r.int('BROADCAST_GRACE_S', 60, 0, 86_400) * 1000,
      prefetchMs: r.int('BROADCAST_PREFETCH_S', 600, 0, 86_400) * 1000,
      ackTimeoutMs: r.int('ACK_TIMEOUT_S', 10, 1, 3600) * 1000,
      maxResends: r.int('MAX_RESENDS', 5, 0, 100),
      maxResumes: r.int('MAX_RESUMES', TIMING.maxResumes, 0, TIMING.maxResumes),
      tickMs: r.int('DISPATCH_TICK_MS', 1000, 50, 60_000),
      onlineDelayMs: 100,
    },
    presence: {
      heartbeatIntervalS: r.int('HEARTBEAT_INTERVAL_S', 30, 1, 3600),
      missedHeartbeats: r.int('OFFLINE_AFTER_MISSED_HEARTBEATS', 3, 1, 100),
    },
  };
  const m = config.mqtt;
  if (!/^[A-Za-z0-9_-]+(\/[A-Za-z0-9_-]+)*$/.test(m.topicPrefix)) {
    r.problems.push(
      `MQTT_TOPIC_PREFIX=${JSON.stringify(m.topicPrefix)}: must be topic levels of A-Z a-z 0-9 _ - separated by /, without wildcards`,
    );
  }
  if (!/^[\x21-\x7e]{1,128}$/.test(m.clientId) || /[+#/]/.test(m.clientId)) {
    r.problems.push(
      `MQTT_CLIENT_ID=${JSON.stringify(m.clientId)}: must be 1 to 128 printable characters without + # /`,
    );
  }
  if (m.password !== undefined && m.password.length < 8) {
    r.problems.push('MQTT_PASSWORD: must be at least 8 characters');
  }
  if (m.url === undefined && m.wsPort !== undefined && m.wsPort !== 0 && m.wsPort === m.port) {
    r.problems.push(`MQTT_WS_PORT=${m.wsPort}: must differ from MQTT_PORT`);
  }
  if (config.audio.signingKey !== undefined && config.audio.signingKey.length < 32) {
    r.problems.push('MEDIA_SIGNING_KEY: must be at least 32 characters');
  }
  if (m.maxPayloadBytes > 1024 * 1024) {
    r.problems.push('MQTT_MAX_PAYLOAD: must be at most 1mb');
  }

  if (r.problems.length > 0) throw new ConfigError(r.problems);
  return config;
}

/**
 * Where devices on this machine reach the server's broker: the embedded one on MQTT_PORT (via
 * loopback when it listens on every address), or, with MQTT_URL, that broker's device listener on
 * 1883 (`cli mosquitto export` keeps 1884 for servers).
 */
export function localDeviceBrokerUrl(config: AppConfig): string {
  const m = config.mqtt;
  if (m.url !== undefined) {
    const url = new URL(m.url);
    return `mqtt://${url.hostname}:1883`;
  }
  const host = m.host === '0.0.0.0' || m.host === '::' ? '127.0.0.1' : m.host;
  return `mqtt://${host.includes(':') ? `[${host}]` : host}:${m.port}`;
}

/** The one place that reads `process.env`: everything else receives the typed object. */
export function loadConfigFromProcess(): AppConfig {
  return loadConfig(process.env);
}
