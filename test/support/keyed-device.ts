import type { MqttClient } from 'mqtt';
import { signOwnMessage, type KeyPair } from '../../src/contract/signing.js';
import { mqttUrl, nextPresence, rawClient } from './mqtt.js';
import type { TestServer } from './server.js';

export interface PlayCommand {
  id: string;
  deliveryId: string;
  broadcastId: string;
}

/** How an event is signed: with the device's key, another key, a broken signature, or not at all. */
export type Signing = 'own' | 'none' | 'broken' | KeyPair;

/**
 * A protocol 1.1 device whose every event the test writes: it comes online with its own public key
 * in its hello (or none), hands over the `play` commands it gets, and publishes exactly the
 * delivery events the test asks for, signed as asked. Each publish resolves on its PUBACK, which
 * the server sends once the event is stored or refused: no waiting is needed after it.
 */
export class KeyedDevice {
  private readonly plays: PlayCommand[] = [];
  private readonly waiters: ((p: PlayCommand) => void)[] = [];
  private n = 0;
  private session = '';

  private constructor(
    private readonly client: MqttClient,
    readonly device: { id: string; secret: string },
    public key: KeyPair | null,
  ) {
    client.on('message', (_topic, payload) => {
      const cmd = JSON.parse(payload.toString()) as Record<string, unknown>;
      if (cmd.type !== 'play') return;
      const play = cmd as unknown as PlayCommand;
      const waiter = this.waiters.shift();
      if (waiter) waiter(play);
      else this.plays.push(play);
    });
  }

  /** Connects and says hello with `key`'s public half (none when null); resolves once online. */
  static async connect(
    s: TestServer,
    device: { id: string; secret: string },
    key: KeyPair | null,
  ): Promise<KeyedDevice> {
    const online = nextPresence(s, (c) => c.deviceId === device.id && c.online);
    const client = await rawClient(mqttUrl(s), {
      clientId: device.id,
      username: device.id,
      password: device.secret,
    });
    const d = new KeyedDevice(client, device, key);
    await client.subscribeAsync(d.topic('cmd'), { qos: 1 });
    await d.hello(key);
    await online;
    return d;
  }

  /** Publishes a hello (a new session) offering `key`; resolves once the server has handled it. */
  async hello(key: KeyPair | null): Promise<void> {
    this.key = key;
    this.session = `k${Math.random().toString(36).slice(2, 10)}`;
    await this.client.publishAsync(
      this.topic('state'),
      JSON.stringify({
        v: 1,
        type: 'state',
        id: `${this.session}-hello`,
        ts: Date.now(),
        status: 'online',
        session: this.session,
        hello: {
          deviceType: 'village_loudspeaker',
          firmware: 'keyed/1.1',
          codecs: ['mp3'],
          volume: 80,
          ...(key ? { keyAlg: key.alg, publicKey: key.publicKey } : {}),
        },
      }),
      { qos: 1, retain: true },
    );
  }

  /** The next `play` command (one already received, or the next to come). */
  nextPlay(): Promise<PlayCommand> {
    const ready = this.plays.shift();
    if (ready) return Promise.resolve(ready);
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Publishes one delivery event; resolves once the server stored or refused it. */
  async report(deliveryId: string, state: string, signing: Signing = 'own'): Promise<void> {
    const event = {
      v: 1,
      type: 'delivery',
      id: `${this.session}-${this.n++}`,
      ts: Date.now(),
      deliveryId,
      state,
      resume: 0,
    };
    let message: Record<string, unknown> = event;
    if (signing === 'own' || signing === 'broken') {
      if (!this.key) throw new Error('this device has no key to sign with');
      const signed = signOwnMessage(event, this.key);
      // One character of the signature changed: the canonical form of a different signature.
      message =
        signing === 'own'
          ? signed
          : { ...signed, sig: (signed.sig[0] === 'A' ? 'B' : 'A') + signed.sig.slice(1) };
    } else if (signing !== 'none') {
      message = signOwnMessage(event, signing);
    }
    await this.client.publishAsync(this.topic('evt'), JSON.stringify(message), { qos: 1 });
  }

  /** Reports every step up to `played`; `playing` and `played` signed as asked. */
  async playThrough(deliveryId: string, signing: Signing = 'own'): Promise<void> {
    for (const state of ['received', 'downloading', 'ready'])
      await this.report(deliveryId, state, 'none');
    await this.report(deliveryId, 'playing', signing);
    await this.report(deliveryId, 'played', signing);
  }

  close(): void {
    this.client.end(true);
  }

  private topic(kind: string): string {
    return `dalaba/v1/d/${this.device.id}/${kind}`;
  }
}
