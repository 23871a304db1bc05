/**
 * npm run device -- --id ID --secret SECRET --url mqtt://HOST:1883 [options]
 * npm run fleet  -- --county [--credentials FILE] [--url …]   (defaults: the server's settings)
 * npm run fleet  -- --count N --api http://HOST:3000 --token TOKEN [--url …]
 */
import { AgentOptions, DeviceAgent, Faults } from './agent.js';
import { Fleet, readCredentialsFile, registerSyntheticDevices } from './fleet.js';
import { isDeviceType } from '../src/contract/index.js';
import {
  AppConfig,
  ConfigError,
  loadConfigFromProcess,
  localDeviceBrokerUrl,
} from '../src/config/app-config.js';

const USAGE = `Dalaba device agent

  npm run device -- --id ID --secret SECRET [--url mqtt://127.0.0.1:1883] [options]
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
                         only when resumed after preempted); log what the server sends against it
  --quiet                log only problems`;

function parse(argv: string[]): Map<string, string | true> {
  const flags = new Map<string, string | true>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith('--')) throw new Error(`unexpected argument ${arg}`);
    const next = argv[i + 1];
    if (next !== undefined && !next.startsWith('--')) flags.set(arg.slice(2), argv[++i]);
    else flags.set(arg.slice(2), true);
  }
  return flags;
}

function num(flags: Map<string, string | true>, name: string): number | undefined {
  const v = flags.get(name);
  if (v === undefined) return undefined;
  const n = Number(v);
  if (v === true || !Number.isFinite(n) || n < 0) throw new Error(`--${name} needs a number`);
  return n;
}

function str(flags: Map<string, string | true>, name: string): string | undefined {
  const v = flags.get(name);
  if (v === true) throw new Error(`--${name} needs a value`);
  return v;
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
  const quiet = flags.has('quiet');
  const faults: Faults = {
    dropCommands: (num(flags, 'drop-pct') ?? 0) / 100,
    failDownloads: (num(flags, 'fail-download-pct') ?? 0) / 100,
    downloadDelayMs: num(flags, 'download-delay-ms'),
    clockSkewMs: num(flags, 'clock-skew-ms'),
    rejectCodec: flags.has('reject-codec'),
  };
  const base: Omit<AgentOptions, 'id' | 'secret'> = {
    url: str(flags, 'url') ?? (server ? localDeviceBrokerUrl(server) : 'mqtt://127.0.0.1:1883'),
    prefix: str(flags, 'prefix') ?? server?.mqtt.topicPrefix,
    heartbeatIntervalS: num(flags, 'heartbeat'),
    speed: num(flags, 'speed'),
    player: str(flags, 'player'),
    cacheDir: str(flags, 'cache-dir'),
    strict: flags.has('strict'),
    faults,
    log: quiet ? undefined : (line) => console.log(line),
  };

  if (mode === 'device') {
    const id = str(flags, 'id');
    const secret = str(flags, 'secret');
    if (!id || !secret) throw new Error('--id and --secret are required');
    const type = str(flags, 'type');
    if (type !== undefined && !isDeviceType(type))
      throw new Error(`--type must be a device type, not ${type}`);
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
  if (flags.has('county')) {
    members = await readCredentialsFile(str(flags, 'credentials') ?? server!.sampleCredentialsFile);
  } else if (flags.has('count')) {
    const api = str(flags, 'api');
    const token = str(flags, 'token');
    if (!api || !token)
      throw new Error(
        '--count needs --api URL and --token TOKEN (an operator token) to register devices',
      );
    members = await registerSyntheticDevices(
      api,
      token,
      num(flags, 'count') ?? 0,
      str(flags, 'tag') ?? 'syn',
    );
  } else {
    throw new Error('fleet needs --county or --count N');
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
  process.exit(1);
});
