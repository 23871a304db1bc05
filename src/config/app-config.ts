import { randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import { hostname, networkInterfaces } from 'node:os';
import { isAbsolute, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import Type from 'typebox';
import { TIMING } from '../contract/messages.js';
import { SIGNATURE_ALGORITHMS, type SignatureAlgorithm } from '../contract/signing.js';
import {
  choice,
  custom,
  decimal,
  decodeEnv,
  flag,
  optionalText,
  secret,
  size,
  text,
  url,
  whole,
} from './env-schema.js';

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
  auth: {
    failLimit: number;
    failWindowMs: number;
    /** A signed-in browser quiet this long must sign in again. */
    sessionIdleMs: number;
    /** However active, a session ends this long after sign-in. */
    sessionMaxMs: number;
    /** Wrong passwords an account takes from unknown browsers before they wait. */
    loginFreeFailures: number;
    /** The longest such a wait grows (it doubles from 30 s): nobody is locked out for longer. */
    loginMaxLockMs: number;
    passwordMinLength: number;
  };
  shutdownTimeoutMs: number;
  mqtt: MqttConfig;
  presence: { heartbeatIntervalS: number; missedHeartbeats: number };
  audio: AudioConfig;
  broadcasts: BroadcastConfig;
  signing: SigningConfig;
  superior: SuperiorConfig;
  reports: ReportsConfig;
  alerts: AlertsConfig;
  tts: TtsConfig;
}

/** What the station's reports up say of it (docs/reports.md). */
export interface ReportsConfig {
  /**
   * CAP `sender` of the broadcasts it publishes (`STATION_SENDER`); undefined: `dalaba@<county
   * code>`, the county code read from its villages.
   */
  stationSender: string | undefined;
}

/**
 * The optional live link to a superior platform (docs/superior.md); `url` undefined: the link is
 * off and nothing of it runs.
 */
export interface SuperiorConfig {
  url: string | undefined;
  /** This platform's resource code (EBRID, 18 digits). */
  ebrId: string;
  /** The superior platform's resource code. */
  superiorEbrId: string;
  heartbeatMs: number;
  /** What the superior verifies: the link signs with the server's active key of this algorithm. */
  signature: SignatureAlgorithm;
  /** The superior's public key (raw, as base64url) its packages and receipts are checked with. */
  publicKey: string;
}

/** The alerts intake (docs/alerts.md). */
export interface AlertsConfig {
  /** Largest CAP message taken (API body and feed entry); 413 / `xml.too-large` beyond. */
  maxBytes: number;
  /** Largest audio `resource` fetched or decoded from an alert. */
  resourceMaxBytes: number;
  /** The `info` language used first (then any zh, then the first). */
  stationLanguage: string;
  /**
   * `ALERT_FETCH_PRIVATE`: whether feeds, their linked messages and audio resources may be fetched
   * from this machine or a private network (a station whose servers are on its own network).
   * Off: only public addresses, checked at every redirect.
   */
  fetchPrivate: boolean;
}

/** `TTS_ENGINE`: `auto` takes the HTTP engine when TTS_HTTP_URL is set, else espeak-ng if found. */
export const TTS_ENGINES = ['auto', 'espeak-ng', 'http', 'none'] as const;
export type TtsEngineChoice = (typeof TTS_ENGINES)[number];

export const TTS_HTTP_FORMATS = ['json', 'form'] as const;
export type TtsHttpFormat = (typeof TTS_HTTP_FORMATS)[number];

/** Text to speech (docs/tts.md). */
export interface TtsConfig {
  engine: TtsEngineChoice;
  /** `TTS_ESPEAK_PATH`: when set, the only espeak-ng tried. */
  espeakPath: string | undefined;
  /** Directories searched for `espeak-ng` (the process's PATH). */
  searchPath: string;
  /** The voice when a request names none; undefined: the engine's own (espeak-ng: `cmn`). */
  voice: string | undefined;
  http: {
    url: string | undefined;
    /** Sent as `Authorization: Bearer …`; a secret, never logged. */
    token: string | undefined;
    format: TtsHttpFormat;
    /** The voices the HTTP engine offers (empty: any voice name is passed on). */
    voices: string[];
  };
  /** One synthesis (a run of espeak-ng, a request to the HTTP engine) is given up after this. */
  timeoutMs: number;
  /** Syntheses at once; more wait, urgent ones first. */
  concurrency: number;
}

/** A voice name as it may reach an engine's command line or request: no spaces, no leading dash. */
export const TTS_VOICE = /^[A-Za-z0-9_][A-Za-z0-9_.:+/-]{0,63}$/;

/** Signed commands (docs/operations.md, "Command signing and keys"). */
export interface SigningConfig {
  /** `off`: nothing signed, no `keys`; `optional`: all signed; `required`: devices must refuse unsigned. */
  mode: SigningMode;
  /** Algorithm of keys created from now on (the first key, each rotation). */
  alg: SignatureAlgorithm;
  /** A command's `exp` is its send time plus this. */
  ttlMs: number;
  /** After a rotation the previous key is still announced (and accepted) this long. */
  keyOverlapMs: number;
}

export const SIGNING_MODES = ['off', 'optional', 'required'] as const;
export type SigningMode = (typeof SIGNING_MODES)[number];

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
  /**
   * The broker URL devices are given in their provisioning bundles (`MQTT_PUBLIC_URL`); undefined:
   * derived from the embedded broker's port or the external broker's device listener.
   */
  publicUrl: string | undefined;
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
function trustProxy(value: string): AppConfig['http']['trustProxy'] | undefined {
  if (FALSE_WORDS.includes(value.toLowerCase())) return false;
  if (/^\d{1,2}$/.test(value) && Number(value) <= 10) return Number(value);
  const entries = value.split(',').map((e) => e.trim());
  return entries.every(isProxyAddress) ? entries : undefined;
}
const FALSE_WORDS = ['false', '0', 'no', 'off'];

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

const PRINTABLE = /^[\x21-\x7e]+$/;

/** The server's variables: each one's default, type and limits (README, "Configuration"). */
const SERVER_VARIABLES = {
  PORT: whole(3000, 0, 65535),
  HOST: text('0.0.0.0'),
  PUBLIC_URL: url(['http:', 'https:']),
  DATA_DIR: text('./data'),
  DATABASE_URL: url(['postgres:', 'postgresql:']),
  DATABASE_SCHEMA: text('public', {
    pattern: /^[a-z_][a-z0-9_]{0,62}$/,
    accepts: 'a lower-case identifier (a-z, 0-9, _)',
  }),
  DB_BUSY_TIMEOUT_MS: whole(5000, 0, 600_000),
  RUN_MIGRATIONS: flag(true),
  SEED_SAMPLE: flag(true),
  ADMIN_TOKEN: secret(/^[\x21-\x7e]{24,256}$/, '24 to 256 printable characters without spaces'),
  TZ_DEFAULT: text('Asia/Shanghai', {
    check: isTimeZone,
    accepts: 'an IANA time zone such as Asia/Shanghai',
  }),
  LOG_LEVEL: choice(LOG_LEVELS, 'info'),
  LOG_FORMAT: choice(['auto', 'json', 'pretty'], 'auto'),
  BODY_LIMIT: size('1mb'),
  IMPORT_LIMIT: size('10mb'),
  TRUST_PROXY: custom(
    'false',
    'the number of proxies in front of the server (1 to 10), ' +
      'or their addresses (IPs or CIDR ranges, comma-separated, or loopback, linklocal, uniquelocal); ' +
      '"true" is not accepted: it lets any client choose the address it is counted under',
    trustProxy,
  ),
  AUTH_FAIL_LIMIT: whole(20, 1, 100_000),
  AUTH_FAIL_WINDOW_S: whole(300, 1, 86_400),
  SESSION_IDLE_S: whole(1800, 60, 86_400),
  SESSION_MAX_S: whole(43_200, 60, 2_592_000),
  LOGIN_FREE_FAILURES: whole(5, 1, 1000),
  LOGIN_MAX_LOCK_S: whole(900, 30, 86_400),
  PASSWORD_MIN_LENGTH: whole(10, 8, 128),
  SHUTDOWN_TIMEOUT_MS: whole(10_000, 100, 600_000),

  MQTT_URL: url(['mqtt:', 'mqtts:', 'ws:', 'wss:', 'tcp:']),
  MQTT_PUBLIC_URL: url(['mqtt:', 'mqtts:', 'ws:', 'wss:', 'tcp:']),
  MQTT_PORT: whole(1883, 0, 65535),
  MQTT_HOST: text('0.0.0.0'),
  MQTT_WS_PORT: Type.Optional(whole(undefined, 0, 65535)),
  MQTT_USERNAME: text('dalaba-server'),
  MQTT_PASSWORD: secret(/^.{8,}$/su, 'at least 8 characters'),
  MQTT_CLIENT_ID: optionalText({
    check: (s) => s.length <= 128 && PRINTABLE.test(s) && !/[+#/]/.test(s),
    accepts: '1 to 128 printable characters without + # /',
  }),
  MQTT_TOPIC_PREFIX: text('dalaba/v1', {
    pattern: /^[A-Za-z0-9_-]+(\/[A-Za-z0-9_-]+)*$/,
    accepts: 'topic levels of A-Z a-z 0-9 _ - separated by /, without wildcards',
  }),
  MQTT_MAX_PAYLOAD: size('4kb', '1mb'),
  MQTT_DEVICE_RATE: whole(20, 1, 100_000),
  MQTT_DEVICE_BURST: whole(60, 1, 1_000_000),
  MQTT_AUTH_FAIL_LIMIT: whole(10, 1, 100_000),
  MQTT_AUTH_ADDRESS_FAIL_LIMIT: whole(1000, 1, 1_000_000),
  MQTT_AUTH_FAIL_WINDOW_S: whole(60, 1, 86_400),
  MQTT_DRAIN_TIMEOUT_MS: whole(5000, 100, 600_000),
  MQTT_CONCURRENCY: whole(10_000, 1, 1_000_000),
  HEARTBEAT_INTERVAL_S: whole(30, 1, 3600),
  OFFLINE_AFTER_MISSED_HEARTBEATS: whole(3, 1, 100),

  FFMPEG_PATH: optionalText(),
  FFMPEG_CONCURRENCY: whole(1, 1, 64),
  FFMPEG_TIMEOUT_S: whole(600, 1, 86_400),
  CLIP_MAX_UPLOAD: size('50mb'),
  CLIP_MAX_DURATION_S: whole(1800, 1, 86_400),
  CLIP_BITRATE_KBPS: whole(64, 32, 320),
  CLIP_TARGET_LUFS: decimal(-16, -40, -5),
  CLIP_TRUE_PEAK_DB: decimal(-1.5, -9, 0),
  MEDIA_SIGNING_KEY: secret(/^.{32,}$/su, 'at least 32 characters'),
  SOUNDS_DIR: optionalText(),

  BROADCAST_WINDOW_EMERGENCY_MIN: whole(60, 1, 10_080),
  BROADCAST_WINDOW_ROUTINE_MIN: whole(120, 1, 10_080),
  BROADCAST_WINDOW_TEST_MIN: whole(30, 1, 10_080),
  BROADCAST_GRACE_S: whole(60, 0, 86_400),
  BROADCAST_PREFETCH_S: whole(600, 0, 86_400),
  ACK_TIMEOUT_S: whole(10, 1, 3600),
  MAX_RESENDS: whole(5, 0, 100),
  MAX_RESUMES: whole(TIMING.maxResumes, 0, TIMING.maxResumes),
  DISPATCH_TICK_MS: whole(1000, 50, 60_000),

  COMMAND_SIGNING: choice(SIGNING_MODES, 'optional'),
  COMMAND_SIGNING_ALG: choice(SIGNATURE_ALGORITHMS, 'ed25519'),
  COMMAND_TTL_S: whole(300, 10, 86_400),
  KEY_OVERLAP_H: whole(168, 1, 8760),

  STATION_SENDER: optionalText({
    accepts: 'a CAP sender: no spaces, commas, < or &',
    check: (s) => /^[^\s,<&]{1,255}$/u.test(s),
  }),

  SUPERIOR_URL: url(['http:', 'https:']),
  EBR_ID: optionalText({ accepts: '18 digits (GY/T resource code)', check: isEbrId }),
  SUPERIOR_EBR_ID: optionalText({ accepts: '18 digits (GY/T resource code)', check: isEbrId }),
  SUPERIOR_HEARTBEAT_S: whole(60, 5, 3600),
  SUPERIOR_SIGNATURE: choice(SIGNATURE_ALGORITHMS, 'sm2'),
  SUPERIOR_PUBLIC_KEY: optionalText({
    accepts:
      'the public key as hex, base64 or a PEM SPKI (SM2: the 65-byte point, Ed25519: 32 bytes)',
    check: (s) => rawPublicKey(s) !== undefined,
  }),
  ALERT_MAX_BYTES: size('256kb', '10mb'),
  ALERT_RESOURCE_MAX_BYTES: size('20mb', '200mb'),
  ALERT_FETCH_PRIVATE: flag(false),
  STATION_LANGUAGE: text('zh-CN', {
    pattern: /^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$/,
    accepts: 'a language tag such as zh-CN',
  }),
  TTS_ENGINE: choice(TTS_ENGINES, 'auto'),
  TTS_ESPEAK_PATH: optionalText(),
  TTS_VOICE: optionalText({
    accepts: 'a voice name of 1 to 64 letters, digits and _ . : + / - (not starting with -)',
    check: (s) => TTS_VOICE.test(s),
  }),
  TTS_HTTP_URL: url(['http:', 'https:']),
  TTS_HTTP_TOKEN: secret(/^[\x21-\x7e]{1,4096}$/, 'printable characters without spaces'),
  TTS_HTTP_FORMAT: choice(TTS_HTTP_FORMATS, 'json'),
  TTS_HTTP_VOICES: optionalText({
    accepts: 'voice names separated by commas',
    check: (s) =>
      s
        .split(',')
        .map((v) => v.trim())
        .every((v) => TTS_VOICE.test(v)),
  }),
  TTS_TIMEOUT_S: whole(60, 1, 3600),
  TTS_CONCURRENCY: whole(2, 1, 16),
};

function isEbrId(value: string): boolean {
  return /^\d{18}$/.test(value);
}

/**
 * The raw public key in a SUPERIOR_PUBLIC_KEY: hex, base64(url), or a PEM SPKI whose last bytes
 * are the key (SM2: 04 ‖ x ‖ y, 65 bytes; Ed25519: 32 bytes).
 */
export function rawPublicKey(value: string): Buffer | undefined {
  const pem = /-----BEGIN PUBLIC KEY-----([\s\S]+?)-----END PUBLIC KEY-----/.exec(value);
  let bytes: Buffer;
  if (pem) {
    const der = Buffer.from(pem[1].replace(/\s+/g, ''), 'base64');
    bytes = der.length > 65 && der[der.length - 65] === 4 ? der.subarray(-65) : der.subarray(-32);
  } else if (/^[0-9a-f]+$/i.test(value) && value.length % 2 === 0) {
    bytes = Buffer.from(value, 'hex');
  } else if (/^[A-Za-z0-9+/_-]+={0,2}$/.test(value)) {
    bytes = Buffer.from(value.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
  } else {
    return undefined;
  }
  return (bytes.length === 65 && bytes[0] === 4) || bytes.length === 32 ? bytes : undefined;
}

/** Every environment variable the server reads, with its default, type and limits. */
export const ENV_SCHEMA = Type.Object(SERVER_VARIABLES);

/**
 * Validates the environment into an {@link AppConfig}. Throws {@link ConfigError} listing every
 * variable that is wrong and what it accepts; `cwd` anchors relative paths such as `DATA_DIR`.
 */
export function loadConfig(env: Env, cwd: string = process.cwd()): AppConfig {
  const decoded = decodeEnv(ENV_SCHEMA, env);
  if (!decoded.ok) throw new ConfigError(decoded.problems);
  const e = decoded.value;

  const port = e.PORT;
  const host = e.HOST;
  const dataDir = isAbsolute(e.DATA_DIR) ? e.DATA_DIR : resolve(cwd, e.DATA_DIR);

  // Listening on one address: devices reach that one; on all of them: the first LAN address.
  const urlHost =
    host === '0.0.0.0' || host === '::'
      ? defaultHostAddress()
      : host.includes(':')
        ? `[${host}]`
        : host;
  const publicUrl = e.PUBLIC_URL ?? `http://${urlHost}:${port}`;

  const database: DatabaseConfig = e.DATABASE_URL
    ? { type: 'postgres', url: e.DATABASE_URL, schema: e.DATABASE_SCHEMA }
    : { type: 'sqlite', path: resolve(dataDir, 'dalaba.db'), busyTimeoutMs: e.DB_BUSY_TIMEOUT_MS };

  const config: AppConfig = {
    port,
    host,
    publicUrl,
    publicUrlGiven: e.PUBLIC_URL !== undefined,
    dataDir,
    sampleCredentialsFile: resolve(dataDir, SAMPLE_CREDENTIALS_FILE),
    database,
    runMigrations: e.RUN_MIGRATIONS,
    seedSample: e.SEED_SAMPLE,
    seedSampleClip: true,
    adminToken: e.ADMIN_TOKEN,
    timeZone: e.TZ_DEFAULT,
    log: {
      level: e.LOG_LEVEL,
      format: e.LOG_FORMAT === 'auto' ? (process.stdout.isTTY ? 'pretty' : 'json') : e.LOG_FORMAT,
    },
    http: {
      bodyLimitBytes: e.BODY_LIMIT,
      importLimitBytes: e.IMPORT_LIMIT,
      trustProxy: e.TRUST_PROXY,
      dashboardDir: fileURLToPath(new URL('../../../web', import.meta.url)),
    },
    auth: {
      failLimit: e.AUTH_FAIL_LIMIT,
      failWindowMs: e.AUTH_FAIL_WINDOW_S * 1000,
      sessionIdleMs: e.SESSION_IDLE_S * 1000,
      sessionMaxMs: e.SESSION_MAX_S * 1000,
      loginFreeFailures: e.LOGIN_FREE_FAILURES,
      loginMaxLockMs: e.LOGIN_MAX_LOCK_S * 1000,
      passwordMinLength: e.PASSWORD_MIN_LENGTH,
    },
    shutdownTimeoutMs: e.SHUTDOWN_TIMEOUT_MS,
    mqtt: {
      url: e.MQTT_URL,
      publicUrl: e.MQTT_PUBLIC_URL,
      port: e.MQTT_PORT,
      host: e.MQTT_HOST,
      wsPort: e.MQTT_WS_PORT,
      username: e.MQTT_USERNAME,
      password: e.MQTT_PASSWORD,
      // One per server (Mosquitto throws out the older of two sessions with one id) and the same
      // across restarts (its persistent session keeps QoS 1 messages); PORT=0 has no port to use.
      clientId:
        e.MQTT_CLIENT_ID ?? `dalaba-server-${hostname()}-${port || randomBytes(4).toString('hex')}`,
      topicPrefix: e.MQTT_TOPIC_PREFIX,
      maxPayloadBytes: e.MQTT_MAX_PAYLOAD,
      deviceRate: e.MQTT_DEVICE_RATE,
      deviceBurst: e.MQTT_DEVICE_BURST,
      authFailLimit: e.MQTT_AUTH_FAIL_LIMIT,
      authAddressFailLimit: e.MQTT_AUTH_ADDRESS_FAIL_LIMIT,
      authFailWindowMs: e.MQTT_AUTH_FAIL_WINDOW_S * 1000,
      drainTimeoutMs: e.MQTT_DRAIN_TIMEOUT_MS,
      concurrency: e.MQTT_CONCURRENCY,
    },
    audio: {
      ffmpegPath: e.FFMPEG_PATH,
      ffmpegPackages: [...FFMPEG_PACKAGES],
      searchPath: env.PATH ?? '',
      concurrency: e.FFMPEG_CONCURRENCY,
      timeoutMs: e.FFMPEG_TIMEOUT_S * 1000,
      maxUploadBytes: e.CLIP_MAX_UPLOAD,
      maxDurationMs: e.CLIP_MAX_DURATION_S * 1000,
      bitrateKbps: e.CLIP_BITRATE_KBPS,
      targetLufs: e.CLIP_TARGET_LUFS,
      truePeakDb: e.CLIP_TRUE_PEAK_DB,
      signingKey: e.MEDIA_SIGNING_KEY,
      soundsDir: e.SOUNDS_DIR ?? fileURLToPath(new URL('../../../audio', import.meta.url)),
    },
    broadcasts: {
      defaultWindowMs: {
        emergency: e.BROADCAST_WINDOW_EMERGENCY_MIN * 60_000,
        routine: e.BROADCAST_WINDOW_ROUTINE_MIN * 60_000,
        test: e.BROADCAST_WINDOW_TEST_MIN * 60_000,
      },
      graceMs: e.BROADCAST_GRACE_S * 1000,
      prefetchMs: e.BROADCAST_PREFETCH_S * 1000,
      ackTimeoutMs: e.ACK_TIMEOUT_S * 1000,
      maxResends: e.MAX_RESENDS,
      maxResumes: e.MAX_RESUMES,
      tickMs: e.DISPATCH_TICK_MS,
      onlineDelayMs: 100,
    },
    signing: {
      mode: e.COMMAND_SIGNING,
      alg: e.COMMAND_SIGNING_ALG,
      ttlMs: e.COMMAND_TTL_S * 1000,
      keyOverlapMs: e.KEY_OVERLAP_H * 3_600_000,
    },
    reports: { stationSender: e.STATION_SENDER },
    alerts: {
      maxBytes: e.ALERT_MAX_BYTES,
      resourceMaxBytes: e.ALERT_RESOURCE_MAX_BYTES,
      stationLanguage: e.STATION_LANGUAGE,
      fetchPrivate: e.ALERT_FETCH_PRIVATE,
    },
    presence: {
      heartbeatIntervalS: e.HEARTBEAT_INTERVAL_S,
      missedHeartbeats: e.OFFLINE_AFTER_MISSED_HEARTBEATS,
    },
    superior: {
      url: e.SUPERIOR_URL,
      ebrId: e.EBR_ID ?? '',
      superiorEbrId: e.SUPERIOR_EBR_ID ?? '',
      heartbeatMs: e.SUPERIOR_HEARTBEAT_S * 1000,
      signature: e.SUPERIOR_SIGNATURE,
      publicKey: e.SUPERIOR_PUBLIC_KEY
        ? rawPublicKey(e.SUPERIOR_PUBLIC_KEY)!.toString('base64url')
        : '',
    },
    tts: {
      engine: e.TTS_ENGINE,
      espeakPath: e.TTS_ESPEAK_PATH,
      searchPath: env.PATH ?? '',
      voice: e.TTS_VOICE,
      http: {
        url: e.TTS_HTTP_URL,
        token: e.TTS_HTTP_TOKEN,
        format: e.TTS_HTTP_FORMAT,
        voices: (e.TTS_HTTP_VOICES ?? '')
          .split(',')
          .map((v) => v.trim())
          .filter(Boolean),
      },
      timeoutMs: e.TTS_TIMEOUT_S * 1000,
      concurrency: e.TTS_CONCURRENCY,
    },
  };
  if (config.tts.engine === 'http' && !config.tts.http.url) {
    throw new ConfigError([
      'TTS_ENGINE=http: needs TTS_HTTP_URL (the speech server to POST text to)',
    ]);
  }
  if (config.superior.url !== undefined) {
    // The link is useless half-configured: say everything that is missing at once, at boot.
    const missing = [
      e.EBR_ID === undefined && 'EBR_ID',
      e.SUPERIOR_EBR_ID === undefined && 'SUPERIOR_EBR_ID',
      e.SUPERIOR_PUBLIC_KEY === undefined && 'SUPERIOR_PUBLIC_KEY',
    ].filter((n): n is string => typeof n === 'string');
    const problems = missing.map((n) => `${n}: must be set when SUPERIOR_URL is`);
    const keyBytes = config.superior.publicKey
      ? Buffer.from(config.superior.publicKey, 'base64url')
      : null;
    if (keyBytes && (keyBytes.length === 65) !== (config.superior.signature === 'sm2'))
      problems.push(
        `SUPERIOR_PUBLIC_KEY: must be a${config.superior.signature === 'sm2' ? 'n SM2' : 'n Ed25519'} key (SUPERIOR_SIGNATURE=${config.superior.signature})`,
      );
    if (config.superior.signature !== config.signing.alg)
      problems.push(
        `SUPERIOR_SIGNATURE=${config.superior.signature}: the link signs with the server's key, so COMMAND_SIGNING_ALG must be ${config.superior.signature} too`,
      );
    if (problems.length) throw new ConfigError(problems);
  }
  const m = config.mqtt;
  if (m.url === undefined && m.wsPort !== undefined && m.wsPort !== 0 && m.wsPort === m.port) {
    throw new ConfigError([`MQTT_WS_PORT=${m.wsPort}: must differ from MQTT_PORT`]);
  }
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
