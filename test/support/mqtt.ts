import { spawn, ChildProcess } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import mqtt, { MqttClient } from 'mqtt';
import { firstValueFrom, filter, Observable, take, timeout } from 'rxjs';
import { DeviceAgent, AgentOptions } from '../../devices/agent.js';
import { PresenceChange, PresenceService } from '../../src/devices/presence.service.js';
import { MetricsService, MqttRejection } from '../../src/metrics/metrics.service.js';
import type { TestServer } from './server.js';

export function mqttUrl(s: TestServer): string {
  if (s.server.mqttPort === undefined) throw new Error('this server runs no embedded broker');
  return `mqtt://127.0.0.1:${s.server.mqttPort}`;
}

/** A real device agent connected to the test server's broker. */
export async function startAgent(
  url: string,
  device: { id: string; secret: string },
  options: Partial<AgentOptions> = {},
): Promise<DeviceAgent> {
  const agent = new DeviceAgent({
    url,
    id: device.id,
    secret: device.secret,
    speed: 0,
    ...options,
  });
  await agent.start();
  return agent;
}

/** The SUBACK return code for one subscription (mqtt.js rejects on 0x80, with the packet attached). */
export async function subackCode(client: MqttClient, topic: string): Promise<number> {
  try {
    return (await client.subscribeAsync(topic, { qos: 1 }))[0].qos;
  } catch (err) {
    const granted = (err as { packet?: { granted?: (number | { qos: number })[] } }).packet
      ?.granted?.[0];
    if (granted === undefined) throw err;
    return typeof granted === 'number' ? granted : granted.qos;
  }
}

/** Starts an agent and waits until the server has it online. */
export async function startAgentOnline(
  s: TestServer,
  url: string,
  device: { id: string; secret: string },
  options: Partial<AgentOptions> = {},
): Promise<DeviceAgent> {
  const online = nextPresence(s, (c) => c.deviceId === device.id && c.online);
  const agent = await startAgent(url, device, options);
  await online;
  return agent;
}

/** A bare MQTT client, for sending what no well-behaved device would. */
export function rawClient(url: string, options: mqtt.IClientOptions): Promise<MqttClient> {
  return new Promise((resolve, reject) => {
    const client = mqtt.connect(url, {
      protocolVersion: 4,
      reconnectPeriod: 0,
      connectTimeout: 5000,
      ...options,
    });
    client.once('connect', () => resolve(client));
    client.once('error', (err) => {
      client.end(true);
      reject(err);
    });
    client.once('close', () => reject(new Error('closed before connecting')));
  });
}

/** Resolves with the next presence change matching `predicate` (fails after `ms`). */
export function nextPresence(
  s: TestServer,
  predicate: (c: PresenceChange) => boolean,
  ms = 10_000,
): Promise<PresenceChange> {
  return firstValueFrom(
    s.server.app.get(PresenceService).changes.pipe(filter(predicate), take(1), timeout(ms)),
  );
}

export function next<T>(
  source: Observable<T>,
  predicate: (v: T) => boolean,
  ms = 10_000,
): Promise<T> {
  return firstValueFrom(source.pipe(filter(predicate), take(1), timeout(ms)));
}

export function rejected(s: TestServer, reason: MqttRejection): Promise<number> {
  return s.server.app.get(MetricsService).rejected(reason);
}

/** Polls `check` until it returns true (for state with no event to await); fails after `ms`. */
export async function eventually(
  check: () => boolean | Promise<boolean>,
  ms = 10_000,
  what = 'condition',
): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

export interface PrivateMosquitto {
  port: number;
  /** Where devices connect. */
  url: string;
  /** Where servers connect (MQTT_URL): the exported server listener. */
  serverUrl: string;
  stop(): Promise<void>;
  start(): Promise<void>;
}

/**
 * A private Mosquitto (the machine's binary) run from the mosquitto.conf that
 * `npm run cli -- mosquitto export` wrote into `dir`, its listeners moved to free loopback ports.
 */
export async function startMosquitto(dir: string): Promise<PrivateMosquitto> {
  const port = await freePort();
  const serverPort = await freePort();
  const conf = join(dir, 'test-mosquitto.conf');
  const exported = await readFile(join(dir, 'mosquitto.conf'), 'utf8');
  const ports = new Map([
    ['1883', port],
    ['1884', serverPort],
  ]);
  const lines = [
    ...exported
      .split('\n')
      .map((line) =>
        line.replace(
          /^listener (\d+)$/,
          (_, p: string) => `listener ${ports.get(p) ?? p} 127.0.0.1`,
        ),
      ),
    'persistence false',
  ];
  const serverListener = lines.some((l) => l.startsWith(`listener ${serverPort} `));
  // Run as root (CI), Mosquitto would switch to its own user, which cannot read the 0600 files.
  if (process.getuid?.() === 0) lines.push('user root');
  await writeFile(conf, `${lines.join('\n')}\n`);
  let child: ChildProcess | undefined;
  const start = async () => {
    const proc = spawn('mosquitto', ['-c', conf], { stdio: ['ignore', 'pipe', 'pipe'] });
    child = proc;
    process.once('exit', () => proc.kill('SIGKILL'));
    await new Promise<void>((resolve, reject) => {
      let out = '';
      const onData = (d: Buffer) => {
        out += d.toString();
        if (out.includes('running')) resolve();
      };
      proc.stdout!.on('data', onData);
      proc.stderr!.on('data', onData);
      proc.once('exit', (code) => reject(new Error(`mosquitto exited (${code}): ${out}`)));
    });
  };
  await start();
  return {
    port,
    url: `mqtt://127.0.0.1:${port}`,
    serverUrl: `mqtt://127.0.0.1:${serverListener ? serverPort : port}`,
    start,
    stop: async () => {
      const proc = child;
      child = undefined;
      if (!proc || proc.exitCode !== null) return;
      const exited = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGTERM');
      await exited;
    },
  };
}

/**
 * A device that comes online properly (retained `state` with a hello) and answers each play
 * command with exactly the delivery states given, then says nothing more: for coverage cases a
 * well-behaved agent never produces (stuck after `received`, cut off while `playing`).
 */
export async function scriptedDevice(
  s: TestServer,
  device: { id: string; secret: string },
  states: string[],
  deviceType = 'village_loudspeaker',
): Promise<MqttClient> {
  const topic = (kind: string) => `dalaba/v1/d/${device.id}/${kind}`;
  const session = `s${Math.random().toString(36).slice(2, 10)}`;
  const online = nextPresence(s, (c) => c.deviceId === device.id && c.online);
  const client = await rawClient(mqttUrl(s), {
    clientId: device.id,
    username: device.id,
    password: device.secret,
  });
  let n = 0;
  client.on('message', (_topic, payload) => {
    const cmd = JSON.parse(payload.toString()) as { type: string; deliveryId?: string };
    if (cmd.type !== 'play') return;
    void (async () => {
      for (const state of states) {
        await client.publishAsync(
          topic('evt'),
          JSON.stringify({
            v: 1,
            type: 'delivery',
            id: `${session}-${n++}`,
            ts: Date.now(),
            deliveryId: cmd.deliveryId,
            state,
          }),
          { qos: 1 },
        );
      }
    })();
  });
  await client.subscribeAsync(topic('cmd'), { qos: 1 });
  await client.publishAsync(
    topic('state'),
    JSON.stringify({
      v: 1,
      type: 'state',
      id: `${session}-hello`,
      ts: Date.now(),
      status: 'online',
      session,
      hello: { deviceType, firmware: 'scripted/1', codecs: ['mp3'], volume: 80 },
    }),
    { qos: 1, retain: true },
  );
  await online;
  return client;
}
