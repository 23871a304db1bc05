/**
 * npm run device -- --id ID --secret SECRET --url mqtt://HOST:1883 [options]
 * npm run device -- --provisioning bundle.json [--secret SECRET] [options]
 * npm run fleet  -- --county [--credentials FILE] [--url …]   (defaults: the server's settings)
 * npm run fleet  -- --count N --api http://HOST:3000 --token TOKEN [--url …]
 */
import { parseArgs } from 'node:util';
import { AgentOptions, DeviceAgent, Faults } from './agent.js';
import { Fleet, readCredentialsFile, registerSyntheticDevices } from './fleet.js';
import {
  parseServerKey,
  ProvisioningBundle,
  ProvisioningError,
  readProvisioningBundle,
} from './provisioning.js';
import { isDeviceType, isSignatureAlgorithm, PublicKeyInfo } from '../src/contract/index.js';
import {
  AppConfig,
  ConfigError,
  loadConfigFromProcess,
  localDeviceBrokerUrl,
} from '../src/config/app-config.js';

const USAGE = `Dalaba device agent

  npm run device -- --id ID --secret SECRET [--url mqtt://127.0.0.1:1883] [options]
  npm run device -- --provisioning FILE [--secret SECRET] [options]
  npm run fleet  -- --county [--credentials FILE] [options]
  npm run fleet  -- --count N --api http://127.0.0.1:3000 --token TOKEN [options]

A fleet reads the server's settings (the same environment: DATA_DIR, MQTT_PORT, MQTT_HOST,
MQTT_URL, MQTT_TOPIC_PREFIX) for what is not given: --credentials DATA_DIR/sample-credentials.json,
--url the server's broker, --prefix its topic prefix.

Options:
  --url URL              the broker (device: mqtt://127.0.0.1:1883)
  --prefix P             topic prefix (device: dalaba/v1)
  --type T               device type to announce (device mode)
  --heartbeat S          telemetry every S seconds (default 30)
  --speed X              playback speed: 1 real time (default), 0 instant
  --player "CMD {file}"  play through a real player, e.g. "mpg123 -q {file}" (needs --cache-dir)
  --cache-dir DIR        keep downloaded clips here
  --drop-pct P           ignore P% of commands
  --fail-download-pct P  fail P% of downloads
  --download-delay-ms MS wait before each download request
  --clock-skew-ms MS     skew this device's clock
  --reject-codec         announce no usable codec (every play is rejected)
  --strict               follow docs/protocol.md to the letter (a known delivery plays again
                         only when resumed after preempted); log what the server sends against it;
                         with server keys, refuse unsigned commands (required mode)
  --provisioning FILE    the device's provisioning bundle (dalaba-provisioning/1): its id, secret,
                         broker, prefix and the server keys it trusts; a fleet takes only the keys
                         and the signing mode
  --server-key K         a server key to trust, kid:alg:publicKey (may be repeated); with any key
                         the agent checks every command's signature (docs/protocol.md section 9)
  --state-dir DIR        keep the highest accepted seq, the keys and the device key in DIR/<id>.json
  --device-key           protocol 1.1: hold an own key pair (kept in --state-dir) and sign the
                         playing and played events with it
  --device-key-alg A     ed25519 (default) or sm2
  --quiet                log only problems`;

const OPTIONS = {
  id: { type: 'string' },
  secret: { type: 'string' },
  url: { type: 'string' },
  prefix: { type: 'string' },
  type: { type: 'string' },
  heartbeat: { type: 'string' },
  speed: { type: 'string' },
  player: { type: 'string' },
  'cache-dir': { type: 'string' },
  'drop-pct': { type: 'string' },
  'fail-download-pct': { type: 'string' },
  'download-delay-ms': { type: 'string' },
  'clock-skew-ms': { type: 'string' },
  'reject-codec': { type: 'boolean' },
  strict: { type: 'boolean' },
  provisioning: { type: 'string' },
  'server-key': { type: 'string', multiple: true },
  'state-dir': { type: 'string' },
  'device-key': { type: 'boolean' },
  'device-key-alg': { type: 'string' },
  quiet: { type: 'boolean' },
  county: { type: 'boolean' },
  credentials: { type: 'string' },
  count: { type: 'string' },
  api: { type: 'string' },
  token: { type: 'string' },
  tag: { type: 'string' },
} as const;

type Flags = ReturnType<typeof parseOptions>['values'];
type NumberOption =
  | 'heartbeat'
  | 'speed'
  | 'drop-pct'
  | 'fail-download-pct'
  | 'download-delay-ms'
  | 'clock-skew-ms'
  | 'count';

/** A mistake on the command line: the message and the usage text, exit code 2. */
class UsageError extends Error {}

function parseOptions(argv: string[]) {
  return parseArgs({ args: argv, options: OPTIONS, strict: true, allowPositionals: false });
}

function parse(argv: string[]): Flags {
  try {
    return parseOptions(argv).values;
  } catch (err) {
    if (err instanceof TypeError && 'code' in err && String(err.code).startsWith('ERR_PARSE_ARGS'))
      throw new UsageError(err.message);
    throw err;
  }
}

function num(flags: Flags, name: NumberOption): number | undefined {
  const v = flags[name];
  if (v === undefined) return undefined;
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || n < 0)
    throw new UsageError(`--${name} needs a number`);
  return n;
}

async function main(): Promise<void> {
  const [mode, ...rest] = process.argv.slice(2);
  if (mode !== 'device' && mode !== 'fleet') {
    console.log(USAGE);
    process.exit(mode ? 2 : 0);
  }
  const flags = parse(rest);
  // A fleet runs beside the server, so it reads the server's settings the way the server does.
  const server: AppConfig | undefined = mode === 'fleet' ? loadConfigFromProcess() : undefined;
  const quiet = flags.quiet === true;
  const faults: Faults = {
    dropCommands: (num(flags, 'drop-pct') ?? 0) / 100,
    failDownloads: (num(flags, 'fail-download-pct') ?? 0) / 100,
    downloadDelayMs: num(flags, 'download-delay-ms'),
    clockSkewMs: num(flags, 'clock-skew-ms'),
    rejectCodec: flags['reject-codec'] === true,
  };
  let bundle: ProvisioningBundle | undefined;
  let serverKeys: PublicKeyInfo[];
  try {
    bundle = flags.provisioning ? await readProvisioningBundle(flags.provisioning) : undefined;
    serverKeys = [
      ...(bundle?.signing.keys ?? []),
      ...(flags['server-key'] ?? []).map(parseServerKey),
    ];
  } catch (err) {
    if (err instanceof ProvisioningError) throw new UsageError(err.message);
    throw err;
  }
  const keyAlg = flags['device-key-alg'];
  if (keyAlg !== undefined && !isSignatureAlgorithm(keyAlg))
    throw new UsageError(`--device-key-alg must be ed25519 or sm2, not ${keyAlg}`);
  const base: Omit<AgentOptions, 'id' | 'secret'> = {
    url:
      flags.url ??
      (mode === 'device' ? bundle?.mqttUrl : undefined) ??
      (server ? localDeviceBrokerUrl(server) : 'mqtt://127.0.0.1:1883'),
    prefix:
      flags.prefix ??
      (mode === 'device' ? bundle?.topicPrefix : undefined) ??
      server?.mqtt.topicPrefix,
    heartbeatIntervalS: num(flags, 'heartbeat'),
    speed: num(flags, 'speed'),
    player: flags.player,
    cacheDir: flags['cache-dir'],
    strict: flags.strict === true,
    serverKeys,
    signingRequired: bundle?.signing.mode === 'required',
    stateDir: flags['state-dir'],
    deviceKey: flags['device-key'] === true || keyAlg ? (keyAlg ?? 'ed25519') : undefined,
    faults,
    log: quiet ? undefined : (line) => console.log(line),
  };

  if (mode === 'device') {
    const id = flags.id ?? bundle?.deviceId;
    const secret = flags.secret ?? bundle?.secret;
    if (!id || !secret)
      throw new UsageError('--id and --secret are required (or a --provisioning bundle with them)');
    const type = flags.type;
    if (type !== undefined && !isDeviceType(type))
      throw new UsageError(`--type must be a device type, not ${type}`);
    const agent = new DeviceAgent({
      ...base,
      id,
      secret,
      deviceType: type,
      log: (line) => console.log(line),
    });
    agent.on('delivery', (deliveryId: string, state: string) =>
      console.log(`delivery ${deliveryId}: ${state}`),
    );
    await agent.start();
    const stop = async () => {
      await agent.stop();
      process.exit(0);
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
    return;
  }

  let members;
  if (flags.county === true) {
    members = await readCredentialsFile(flags.credentials ?? server!.sampleCredentialsFile);
  } else if (flags.count !== undefined) {
    const api = flags.api;
    const token = flags.token;
    if (!api || !token)
      throw new UsageError(
        '--count needs --api URL and --token TOKEN (an operator token) to register devices',
      );
    members = await registerSyntheticDevices(
      api,
      token,
      num(flags, 'count') ?? 0,
      flags.tag ?? 'syn',
    );
  } else {
    throw new UsageError('fleet needs --county or --count N');
  }
  console.log(`fleet: ${members.length} devices to ${base.url}`);
  const fleet = new Fleet(members, { ...base, log: quiet ? undefined : base.log });
  const started = performance.now();
  const result = await fleet.start();
  console.log(
    `fleet: ${result.connected} of ${members.length} devices online in ${Math.round(performance.now() - started)} ms` +
      (result.failed.length
        ? `; ${result.failed.length} refused (first: ${result.failed[0].id}: ${result.failed[0].error})`
        : ''),
  );
  const stop = async () => {
    await fleet.stop();
    process.exit(0);
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

main().catch((err: unknown) => {
  // A bad setting is not a usage mistake: say which variable, without the usage text.
  if (err instanceof ConfigError) console.error(err.message);
  else console.error(`${(err as Error).message}\n\n${USAGE}`);
  process.exit(err instanceof UsageError ? 2 : 1);
});
