import type { MqttClient } from 'mqtt';
import {
  type AnnouncedKey,
  applyKeyAnnouncement,
  type CommandCheck,
  checkCommand,
  type PublicKeyInfo,
} from '../../src/contract/signing.js';
import { mqttUrl, nextPresence, rawClient } from './mqtt.js';
import { api, type TestServer } from './server.js';

type HeldKeys = Map<string, PublicKeyInfo & { revoked?: boolean; until?: number }>;

/** One command as the device saw it, and what its checks (protocol section 9.3) said. */
export interface Received {
  message: Record<string, unknown>;
  check: CommandCheck;
}

/** The server's public keys as `GET /api/keys` lists them: what provisioning gives a device. */
export async function provisionedKeys(s: TestServer): Promise<PublicKeyInfo[]> {
  const body = (await api(s.url, s.adminToken).get('/api/keys').expect(200)).body as {
    items: { kid: string; alg: PublicKeyInfo['alg']; publicKey: string; status: string }[];
  };
  return body.items
    .filter((k) => k.status === 'active' || k.status === 'retiring')
    .map(({ kid, alg, publicKey }) => ({ kid, alg, publicKey }));
}

/**
 * A device that checks every command with the contract's `checkCommand` (and takes `keys`
 * announcements with `applyKeyAnnouncement`, keeping them only when the announcement itself
 * passes), as the protocol tells a verifying device to. It answers `ping` and `volume` only when
 * the command passed, and remembers the highest `seq` across connections (a device's flash).
 */
export class VerifyingDevice {
  readonly received: Received[] = [];
  keys: HeldKeys;
  lastSeq = 0;
  required = false;
  private client?: MqttClient;
  private readonly taken = new Set<number>();
  private readonly waiters = new Set<() => void>();
  private readonly answers: Promise<unknown>[] = [];

  constructor(
    private s: TestServer,
    readonly device: { id: string; secret: string },
    keys: PublicKeyInfo[],
  ) {
    this.keys = new Map(keys.map((k) => [k.kid, k]));
  }

  private topic(kind: 'cmd' | 'evt' | 'state'): string {
    return `dalaba/v1/d/${this.device.id}/${kind}`;
  }

  /** Connects to `s` (a restarted server too), subscribes and says hello; resolves once online. */
  async connect(s: TestServer = this.s, verifies: string[] = ['ed25519']): Promise<void> {
    this.s = s;
    const { id, secret } = this.device;
    const client = await rawClient(mqttUrl(s), { clientId: id, username: id, password: secret });
    this.client = client;
    client.on('message', (_topic, payload) => this.take(JSON.parse(payload.toString('utf8'))));
    await client.subscribeAsync(this.topic('cmd'), { qos: 1 });
    const online = nextPresence(s, (c) => c.deviceId === id && c.online);
    const session = `s-${Math.random().toString(36).slice(2, 10)}`;
    const hello = {
      deviceType: 'village_loudspeaker',
      firmware: 'verifier 1',
      codecs: ['mp3'],
      volume: 60,
      ...(verifies.length ? { verifies } : {}),
    };
    await client.publishAsync(
      this.topic('state'),
      JSON.stringify({
        v: 1,
        type: 'state',
        id: session,
        ts: Date.now(),
        status: 'online',
        session,
        hello,
      }),
      { qos: 1, retain: true },
    );
    await online;
  }

  /** Publishes an event as this device (e.g. a `rejected`). */
  async publishEvent(event: Record<string, unknown>): Promise<void> {
    await this.client!.publishAsync(this.topic('evt'), JSON.stringify(event), { qos: 1 });
  }

  /** Disconnects once its answers are acknowledged (mqtt.js fails those still in flight). */
  async close(): Promise<void> {
    await Promise.all(this.answers);
    await this.client?.endAsync(true);
  }

  /** The earliest command of `type` that no earlier call returned (fails after `ms`). */
  next(type: string, ms = 10_000): Promise<Received> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(new Error(`device=${this.device.id}: no ${type} command within ${ms} ms`));
      }, ms);
      const check = () => {
        const i = this.received.findIndex((r, n) => r.message.type === type && !this.taken.has(n));
        if (i < 0) return;
        this.taken.add(i);
        this.waiters.delete(check);
        clearTimeout(timer);
        resolve(this.received[i]);
      };
      this.waiters.add(check);
      check();
    });
  }

  /** Commands of `type` received so far. */
  all(type: string): Received[] {
    return this.received.filter((r) => r.message.type === type);
  }

  private state(keys: HeldKeys) {
    return {
      deviceId: this.device.id,
      keys,
      lastSeq: this.lastSeq,
      now: this.s.clock.now().getTime(),
      required: this.required,
    };
  }

  private take(message: Record<string, unknown>): void {
    let check: CommandCheck;
    if (message.type === 'keys') {
      const next = applyKeyAnnouncement(
        this.keys,
        message.keys as AnnouncedKey[],
        message.revoked as string[],
      );
      check = checkCommand(message, this.state(next));
      if (check.ok) this.keys = next;
    } else check = checkCommand(message, this.state(this.keys));
    if (check.ok && check.signed) this.lastSeq = check.seq;
    if (check.ok && message.type === 'config' && message.signing === 'required')
      this.required = true;
    this.received.push({ message, check });
    if (check.ok) this.answer(message);
    for (const w of [...this.waiters]) w();
  }

  private answer(message: Record<string, unknown>): void {
    const base = { v: 1, id: `r-${Math.random().toString(36).slice(2, 12)}`, ts: Date.now() };
    const send = (event: Record<string, unknown>) =>
      this.answers.push(this.publishEvent(event).catch(() => undefined));
    if (message.type === 'ping') send({ ...base, type: 'pong', ref: message.id });
    if (message.type === 'volume' || message.type === 'stop')
      send({ ...base, type: 'ack', ref: message.id, ok: true });
  }
}
