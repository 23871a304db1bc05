import { Logger } from '@nestjs/common';
import mqtt, { MqttClient } from 'mqtt';
import type { MqttConfig } from '../config/app-config.js';
import {
  BrokerPolicy,
  MessageHandler,
  MqttTransport,
  PublishOptions,
  topicMatches,
} from './transport.js';

const BACKOFF_MIN_MS = 1000;
const BACKOFF_MAX_MS = 30_000;

/**
 * The server as a privileged client of an external broker (Mosquitto, EMQX) at `MQTT_URL`. The
 * broker authenticates devices (see `npm run cli -- mosquitto export`); this side reconnects with
 * jittered exponential back-off, keeps a persistent session so QoS 1 messages wait while it is away,
 * and subscribes again after every reconnect. Each server subscribes on its own (no shared
 * subscription): every server hears every device, in order, retained `state` messages included.
 */
export class ExternalBroker extends MqttTransport {
  readonly mode = 'external' as const;
  private readonly logger = new Logger('mqtt');
  private client?: MqttClient;
  private readonly handlers: { filter: string; handler: MessageHandler }[] = [];
  private failures = 0;
  private connects = 0;

  constructor(private readonly config: MqttConfig) {
    super();
  }

  async start(_policy: BrokerPolicy): Promise<void> {
    const client = mqtt.connect(this.config.url!, {
      clientId: this.config.clientId,
      username: this.config.username,
      password: this.config.password,
      protocolVersion: 4,
      clean: false,
      keepalive: 30,
      connectTimeout: 10_000,
      reconnectPeriod: BACKOFF_MIN_MS,
      resubscribe: false,
      queueQoSZero: false,
    });
    this.client = client;
    client.on('connect', (connack) => {
      this.connects++;
      this.failures = 0;
      client.options.reconnectPeriod = BACKOFF_MIN_MS;
      this.logger.log(
        `connected to ${this.describe()} (session ${connack.sessionPresent ? 'resumed' : 'new'})`,
      );
      void this.subscribeAll();
    });
    // Runs before mqtt.js schedules its reconnect, so the new period applies to this attempt.
    client.prependListener('close', () => {
      if (!this.client) return;
      // Jittered exponential back-off, so many servers (or a restart) do not reconnect in lock-step.
      const ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** this.failures++);
      client.options.reconnectPeriod = Math.round(ceiling / 2 + Math.random() * (ceiling / 2));
    });
    client.on('offline', () =>
      this.logger.warn(`lost the broker at ${this.describe()}; reconnecting`),
    );
    client.on('error', (err) => this.logger.warn(`broker ${this.describe()}: ${err.message}`));
    client.on('message', (topic, payload) => {
      for (const { filter, handler } of this.handlers) {
        if (topicMatches(filter, topic))
          handler(topic, payload).catch((err: Error) =>
            this.logger.warn(`message on ${topic} not stored: ${err.message}`),
          );
      }
    });
    // Do not block start-up on the broker: the server runs (and reports not ready) until it connects.
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, 5000);
      client.once('connect', () => {
        clearTimeout(timer);
        resolve();
      });
    });
    if (!client.connected)
      this.logger.warn(`broker ${this.describe()} not reachable yet; still trying`);
  }

  async stop(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    if (client) await client.endAsync();
  }

  async publish(topic: string, payload: Buffer, options: PublishOptions): Promise<void> {
    if (!this.client) throw new Error('not connected to the broker');
    await this.client.publishAsync(topic, payload, {
      qos: options.qos,
      retain: options.retain ?? false,
    });
  }

  async subscribe(filter: string, handler: MessageHandler): Promise<void> {
    this.handlers.push({ filter, handler });
    if (this.client?.connected) await this.subscribeOne(filter);
  }

  /** Connections made since start: more than one means the broker or the network dropped this server. */
  get connections(): number {
    return this.connects;
  }

  isConnected(): boolean {
    return this.client?.connected === true;
  }

  disconnect(): boolean {
    return false;
  }

  get port(): number | undefined {
    return undefined;
  }

  get wsPort(): number | undefined {
    return undefined;
  }

  describe(): string {
    const url = new URL(this.config.url!);
    return `${url.protocol}//${url.host}`;
  }

  private async subscribeAll(): Promise<void> {
    for (const { filter } of this.handlers) await this.subscribeOne(filter);
  }

  private async subscribeOne(filter: string): Promise<void> {
    try {
      const granted = await this.client!.subscribeAsync(filter, { qos: 1 });
      if (granted.some((g) => g.qos === 128))
        this.logger.error(`broker refused the subscription ${filter}: check the server user's ACL`);
    } catch (err) {
      this.logger.warn(
        `subscribing to ${filter} failed: ${(err as Error).message}; will retry on reconnect`,
      );
    }
  }
}
