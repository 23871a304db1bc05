import { Logger } from '@nestjs/common';
import { Aedes, type AuthErrorCode, type AuthenticateError, type Client } from 'aedes';
import { createServer, Server, Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { createWebSocketStream, WebSocketServer } from 'ws';
import type { MqttConfig } from '../config/app-config.js';
import { LISTEN_BACKLOG } from '../common/listen-backlog.js';
import { StartupError } from '../common/startup-error.js';
import { canGuardPacketSize, guardPacketSize } from './packet-size-guard.js';
import { indexRetained, RetainedStore } from './retained-index.js';
import {
  BrokerPolicy,
  LoginVerdict,
  MessageHandler,
  MqttTransport,
  PublishOptions,
} from './transport.js';

/** Bytes an MQTT packet may carry beyond its payload (topic, ids, properties). */
const PACKET_OVERHEAD = 1024;

function authError(code: AuthErrorCode, message: string): AuthenticateError {
  return Object.assign(new Error(message), { returnCode: code });
}

/** CONNACK return codes of MQTT 3.1.1 (section 3.2.2.3) that a refused login gets. */
const SERVER_UNAVAILABLE = 3 as AuthErrorCode;
const BAD_USERNAME_OR_PASSWORD = 4 as AuthErrorCode;

/** The CONNACK refusal for a verdict; null lets the client in. */
function refusalOf(verdict: LoginVerdict): AuthenticateError | null {
  switch (verdict) {
    case 'accepted':
      return null;
    case 'bad_credentials':
      return authError(BAD_USERNAME_OR_PASSWORD, 'Bad user name or password');
    case 'retry_later':
      // Not 4: nothing says the device is misconfigured, it should wait and try again.
      return authError(SERVER_UNAVAILABLE, 'Server unavailable: retry later');
  }
}

/**
 * The embedded broker: Aedes in this process, on a TCP port (and optionally WebSocket). Devices
 * authenticate against the registry; each may publish and subscribe only on its own topics.
 * Sessions live in memory: the database, not the broker, is the truth about what must be sent.
 */
export class EmbeddedBroker extends MqttTransport {
  readonly mode = 'embedded' as const;
  private readonly logger = new Logger('mqtt');
  private aedes?: Aedes;
  private tcp?: Server;
  private ws?: WebSocketServer;
  private running = false;
  private stopping = false;
  /** Payloads taken in authorizePublish: the subscription must not handle them a second time. */
  private readonly accepted = new WeakSet<Buffer>();

  constructor(private readonly config: MqttConfig) {
    super();
  }

  async start(policy: BrokerPolicy): Promise<void> {
    this.stopping = false;
    try {
      await this.listen(policy);
    } catch (err) {
      await this.stop();
      throw err;
    }
    this.running = true;
    this.logger.log(`embedded broker listening on ${this.describe()}`);
  }

  private async listen(policy: BrokerPolicy): Promise<void> {
    const subscriptions = new WeakMap<Client, number>();
    const refused = new WeakSet<Client>();
    const aedes = await Aedes.createBroker({
      drainTimeout: this.config.drainTimeoutMs,
      concurrency: this.config.concurrency,
      connectTimeout: 10_000,
      maxClientsIdLength: 64,
      heartbeatInterval: 60_000,
      authenticate: (client, username, password, done) => {
        const address = remoteAddress(client);
        policy.authenticate(client.id, username, password, address).then(
          (verdict) => {
            const refusal = refusalOf(verdict);
            done(refusal, refusal === null);
          },
          (err: Error) => {
            this.logger.error(
              `device=${client.id} authentication failed with an error: ${err.message}`,
            );
            done(authError(SERVER_UNAVAILABLE, 'Server unavailable'), false);
          },
        );
      },
      authorizePublish: (client, packet, done) => {
        // client is null for the Will of a client that is gone: it was authorised when it connected.
        if (client === null) return done(null);
        if (!policy.mayPublish(client.id, packet.topic))
          return done(new Error(`publish to ${packet.topic} refused`));
        // Handled here, the one hook Aedes runs before its PUBACK: the device keeps an event until
        // the server has stored it. The same payload Buffer reaches the subscription (Aedes' Packet
        // copies the reference), which then skips it.
        const payload = packet.payload;
        if (!Buffer.isBuffer(payload)) return done(null);
        this.accepted.add(payload);
        policy.accept(packet.topic, payload).then(
          () => done(null),
          (err: Error) => {
            this.logger.warn(
              `device=${client.id} message on ${packet.topic} not stored (${err.message}): closing the connection unacknowledged, the device sends it again`,
            );
            done(err);
          },
        );
      },
      authorizeSubscribe: (client, sub, done) => {
        // An error closes the connection. Packets already read behind the refused one still come
        // here: they are refused unchecked, so a flood costs one check and one log line.
        if (refused.has(client)) return done(new Error('connection already refused'));
        const previous = subscriptions.get(client) ?? 0;
        if (!policy.maySubscribe(client.id, sub.topic, previous)) {
          refused.add(client);
          return done(new Error(`subscription to ${sub.topic.slice(0, 200)} refused`));
        }
        subscriptions.set(client, previous + 1);
        done(null, sub);
      },
    });
    // Aedes' default persistence wraps its async, in-memory one; give that an exact-topic index.
    const persistence = (aedes as unknown as { persistence?: { asyncPersistence?: RetainedStore } })
      .persistence;
    if (persistence?.asyncPersistence) indexRetained(persistence.asyncPersistence);
    else this.logger.warn('Aedes persistence changed shape: retained lookups stay a full scan');
    this.aedes = aedes;
    aedes.on('clientError', (client: Client, err: Error) =>
      this.logger.debug(`device=${client?.id ?? '?'} connection error: ${err.message}`),
    );

    const guard = (client: Client) => {
      if (!canGuardPacketSize(client)) return;
      guardPacketSize(client, this.config.maxPayloadBytes + PACKET_OVERHEAD, (length) =>
        policy.oversized(client.id || undefined, length),
      );
    };

    // Once stopping, a device reconnecting at once is turned away: an accepted socket that the
    // closed broker never answers would hold the listener's close (and the shutdown) open.
    this.tcp = createServer((socket: Socket) =>
      this.stopping ? socket.destroy() : guard(aedes.handle(socket)),
    );
    await listen(this.tcp, this.config.port, this.config.host, 'MQTT_PORT');
    if (this.config.wsPort !== undefined) {
      this.ws = new WebSocketServer({
        port: this.config.wsPort,
        host: this.config.host,
        backlog: LISTEN_BACKLOG,
      });
      await new Promise<void>((resolve, reject) => {
        this.ws!.once('listening', resolve);
        this.ws!.once('error', (err: NodeJS.ErrnoException) =>
          reject(portError(err, this.config.wsPort!, 'MQTT_WS_PORT')),
        );
      });
      this.ws.on('connection', (socket, req) =>
        this.stopping
          ? socket.terminate()
          : guard(aedes.handle(createWebSocketStream(socket), req)),
      );
    }
  }

  /**
   * Stops listening first, then closes every client, then waits for the listeners: devices that
   * reconnect at once (a thousand of them, say) are refused instead of keeping the shutdown open.
   */
  async stop(): Promise<void> {
    this.running = false;
    this.stopping = true;
    const aedes = this.aedes;
    const tcp = this.tcp;
    const ws = this.ws;
    this.aedes = undefined;
    this.tcp = undefined;
    this.ws = undefined;
    const closed = Promise.all([
      tcp && new Promise<void>((resolve) => tcp.close(() => resolve())),
      ws && new Promise<void>((resolve) => ws.close(() => resolve())),
    ]);
    if (aedes) await new Promise<void>((resolve) => aedes.close(() => resolve()));
    await closed;
  }

  publish(topic: string, payload: Buffer, options: PublishOptions): Promise<void> {
    const aedes = this.aedes;
    if (!aedes) return Promise.reject(new Error('embedded broker is not running'));
    return new Promise((resolve, reject) =>
      aedes.publish(
        {
          cmd: 'publish',
          topic,
          payload,
          qos: options.qos,
          retain: options.retain ?? false,
          dup: false,
        },
        (err?: Error) => (err ? reject(err) : resolve()),
      ),
    );
  }

  subscribe(filter: string, handler: MessageHandler): Promise<void> {
    const aedes = this.aedes;
    if (!aedes) return Promise.reject(new Error('embedded broker is not running'));
    return new Promise((resolve) =>
      aedes.subscribe(
        filter,
        (packet, done) => {
          try {
            const payload = Buffer.isBuffer(packet.payload)
              ? packet.payload
              : Buffer.from(packet.payload);
            // What reaches this path unaccepted (a Will) is published already: nothing to hold.
            if (!this.accepted.delete(payload))
              handler(packet.topic, payload).catch((err: Error) =>
                this.logger.warn(`message on ${packet.topic} not stored: ${err.message}`),
              );
          } finally {
            // Never synchronously: when Aedes has more messages in flight than its concurrency,
            // the rest wait in a queue, and a synchronous done() starts the next one inside this
            // call, and so on through the queue, until a large fleet overflows the stack (RangeError
            // in mqemitter).
            process.nextTick(done);
          }
        },
        resolve,
      ),
    );
  }

  isConnected(): boolean {
    return this.running;
  }

  disconnect(clientId: string): boolean {
    const client = (this.aedes as unknown as { clients?: Record<string, Client> } | undefined)
      ?.clients?.[clientId];
    if (!client) return false;
    client.close();
    return true;
  }

  get port(): number | undefined {
    return (this.tcp?.address() as AddressInfo | null)?.port;
  }

  get wsPort(): number | undefined {
    return (this.ws?.address() as AddressInfo | undefined)?.port;
  }

  describe(): string {
    const tcp = `mqtt://${this.config.host}:${this.port ?? this.config.port}`;
    return this.ws ? `${tcp} and ws://${this.config.host}:${this.wsPort}` : tcp;
  }
}

function remoteAddress(client: Client): string {
  const conn = client.conn as Partial<Socket>;
  return conn.remoteAddress ?? client.req?.socket.remoteAddress ?? 'unknown';
}

function portError(err: NodeJS.ErrnoException, port: number, variable: string): Error {
  if (err.code === 'EADDRINUSE') {
    return new StartupError(
      `MQTT port ${port} is already in use (another broker, such as Mosquitto, may be running there). ` +
        `Either run the embedded broker on another port, e.g. ${variable}=${port + 1}, ` +
        `or use the broker that is running with MQTT_URL=mqtt://127.0.0.1:${port}.`,
    );
  }
  if (err.code === 'EACCES')
    return new StartupError(
      `Not allowed to listen on MQTT port ${port}; choose one above 1023 with ${variable}=…`,
    );
  return err;
}

function listen(server: Server, port: number, host: string, variable: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => reject(portError(err, port, variable)));
    server.listen({ port, host, backlog: LISTEN_BACKLOG }, () => resolve());
  });
}
