import { BeforeApplicationShutdown, Injectable, Logger } from '@nestjs/common';
import { createHash, timingSafeEqual } from 'node:crypto';
import { Observable, Subject } from 'rxjs';
import type { AppConfig } from '../config/app-config.js';
import { InjectConfig } from '../config/config.module.js';
import { decode, encode } from '../contract/decode.js';
import { isDeviceId } from '../contract/device.js';
import type { MessagesByKind } from '../contract/messages.js';
import {
  allDevicesFilter,
  DEVICE_PUBLISH_KINDS,
  deviceTopic,
  parseDeviceTopic,
  TopicKind,
} from '../contract/topics.js';
import { Clock } from '../common/clock.js';
import { FailureBackoff } from '../common/failure-window.js';
import { ThrottledLog } from '../common/throttled-log.js';
import { TokenBuckets } from '../common/token-bucket.js';
import { needsRehash, verifyDeviceSecret } from './device-secret.js';
import { DeviceEvents } from './device-events.js';
import { DeviceKeys } from './device-keys.js';
import { DevicesService } from './devices.service.js';
import { PresenceService } from './presence.service.js';
import { ReadinessChecks } from '../common/readiness-checks.js';
import { MetricsService, MqttRejection } from '../metrics/metrics.service.js';
import { CommandSigner } from '../signing/command-signer.js';
import { BrokerPolicy, LoginVerdict, MqttTransport } from '../mqtt/transport.js';

/** A device event (`evt` topic) as the rest of the server sees it. */
export interface InboundEvent {
  deviceId: string;
  message: MessagesByKind['evt'];
  /** Server receipt time, epoch ms. */
  receivedAt: number;
  /**
   * A consumer that stores the event passes the promise of that write: the device's PUBACK waits
   * for it (embedded broker), so the device keeps the event until it is stored.
   */
  ackAfter(stored: Promise<void>): void;
}

/**
 * Subscription requests one device connection may make. It needs exactly one (its own `cmd`); the
 * slack is for firmware that subscribes again, e.g. to change the QoS.
 */
export const MAX_SUBSCRIPTIONS_PER_CONNECTION = 10;

/** Verified secrets remembered (as SHA-256) so a reconnect does not cost another slow hash. */
const VERIFIED_CACHE_MAX = 200_000;
/** Stored hashes kept for devices whose logins back off (a flood names few real devices). */
const STORED_HASHES_MAX = 10_000;

/**
 * The device side of the server: who may connect (registered, enabled devices with their current
 * secret), what each may publish and subscribe to (its own topics only), and what happens to every
 * message that arrives. Bad input is counted (`/metrics`), logged at a bounded rate, and dropped;
 * nothing a device sends can throw into the broker or change state it should not.
 */
@Injectable()
export class DeviceGateway implements BrokerPolicy, BeforeApplicationShutdown {
  private readonly logger = new Logger('mqtt');
  private readonly rejections = new ThrottledLog(this.logger);
  private readonly failuresByPair: FailureBackoff;
  private readonly failuresByAddress: FailureBackoff;
  private readonly buckets: TokenBuckets;
  private readonly verified = new Map<string, Buffer>();
  /** Stored secret hashes of devices whose logins are backing off, read once per device. */
  private readonly storedHashes = new Map<string, Promise<string | null>>();
  /** Bumped on every credential change, so a check that raced with one is not remembered. */
  private readonly credentialGeneration = new Map<string, number>();
  private readonly inbox = new Subject<InboundEvent>();
  private readonly prefix: string;
  private started = false;

  constructor(
    private readonly transport: MqttTransport,
    private readonly devices: DevicesService,
    private readonly presence: PresenceService,
    private readonly deviceKeys: DeviceKeys,
    private readonly deviceEvents: DeviceEvents,
    private readonly metrics: MetricsService,
    private readonly readiness: ReadinessChecks,
    private readonly clock: Clock,
    @InjectConfig() private readonly config: AppConfig,
    private readonly signer: CommandSigner,
  ) {
    const m = config.mqtt;
    this.prefix = m.topicPrefix;
    this.failuresByPair = new FailureBackoff(
      m.authFailLimit,
      m.authFailWindowMs,
      m.authFailWindowMs,
      clock,
    );
    this.failuresByAddress = new FailureBackoff(
      m.authAddressFailLimit,
      m.authFailWindowMs,
      m.authFailWindowMs,
      clock,
    );
    this.buckets = new TokenBuckets(m.deviceRate, m.deviceBurst);
  }

  /** Device events (`evt`): delivery progress, pongs and acks, after validation. */
  get events(): Observable<InboundEvent> {
    return this.inbox.asObservable();
  }

  get mode(): 'embedded' | 'external' {
    return this.transport.mode;
  }

  describe(): string {
    return `${this.transport.mode === 'embedded' ? 'embedded broker on' : 'external broker'} ${this.transport.describe()}`;
  }

  /** The embedded broker's ports (tests start it on port 0). */
  get ports(): { mqtt?: number; ws?: number } {
    return { mqtt: this.transport.port, ws: this.transport.wsPort };
  }

  /** Loads presence, starts the broker (or connects to one) and subscribes to every device topic. */
  async start(): Promise<void> {
    await this.presence.start({ brokerRestarted: this.transport.mode === 'embedded' });
    this.metrics.countOnlineWith(() => this.presence.onlineCount());
    this.deviceEvents.changes.subscribe((change) => {
      // Any change may alter what a login is checked against (a re-enabled device, say).
      this.storedHashes.delete(change.deviceId);
      if (change.kind === 'created') return;
      if (change.kind === 'updated' && change.enabled) return;
      this.verified.delete(change.deviceId);
      this.credentialGeneration.set(
        change.deviceId,
        (this.credentialGeneration.get(change.deviceId) ?? 0) + 1,
      );
      const why = change.kind === 'updated' ? 'disabled' : change.kind;
      if (this.transport.disconnect(change.deviceId)) {
        this.logger.log(`device=${change.deviceId} disconnected (${why})`);
      } else if (this.transport.mode === 'external') {
        this.logger.warn(
          `device=${change.deviceId} ${why}: export the Mosquitto files again (npm run cli -- mosquitto export) to lock it out of the broker`,
        );
      }
    });

    await this.transport.start(this);
    for (const kind of DEVICE_PUBLISH_KINDS) {
      // Every server hears every device, in order: each knows who is online the moment a device
      // connects (a retained `state` never reaches a shared subscription), a pong reaches the
      // server that pinged, and a confirmation is applied even if one server dies. The guarded
      // writes make the second server's copy of a change a no-op.
      await this.transport.subscribe(allDevicesFilter(this.prefix, kind), (topic, payload) =>
        this.receive(topic, payload),
      );
    }
    this.metrics.mqttConnected.set(this.transport.isConnected() ? 1 : 0);
    this.readiness.register('mqtt', async () => {
      const connected = this.transport.isConnected();
      this.metrics.mqttConnected.set(connected ? 1 : 0);
      if (!connected)
        throw new Error(`not connected to the broker at ${this.transport.describe()}`);
    });
    this.started = true;
  }

  async beforeApplicationShutdown(): Promise<void> {
    await this.transport.stop();
    if (!this.started) return;
    this.started = false;
    // With the embedded broker every session ends with the server; an external broker keeps them.
    if (this.transport.mode === 'embedded') await this.presence.markAllOffline('server_stop');
    else await this.presence.flush();
    this.inbox.complete();
  }

  /**
   * Publishes a command to one device (QoS 1, its `cmd` topic), signed (COMMAND_SIGNING). Every
   * command goes through here, so every one gets its own `seq`: calls made in one turn share one
   * sequence statement, and leave in the order they were made.
   */
  async sendCommand(deviceId: string, message: MessagesByKind['cmd']): Promise<void> {
    const signed = await this.signer.sign(deviceId, message);
    await this.transport.publish(deviceTopic(this.prefix, deviceId, 'cmd'), encode(signed), {
      qos: 1,
    });
  }

  // ---- BrokerPolicy (embedded broker) ----

  /**
   * A right secret is always let in: a secret proven before is recognised from memory, and a pair
   * or address that is backing off is still checked, against the stored hash kept in memory for
   * it, so nobody's failures keep a device out. Failures are counted per client id and address
   * (one guesser, or a misconfigured device) and per address (a NAT of many devices: a far higher
   * limit); past a limit wrong logins get "retry later" with back-off, and cost no database read.
   */
  async authenticate(
    clientId: string,
    username: string | undefined,
    password: Buffer | undefined,
    address: string,
  ): Promise<LoginVerdict> {
    const now = this.clock.now().getTime();
    const secret = password?.toString('utf8') ?? '';
    const wellFormed =
      isDeviceId(clientId) && username === clientId && secret.length > 0 && secret.length <= 256;
    const pair = `${clientId} ${address}`;
    const backingOff =
      this.failuresByPair.waitMs(pair) > 0 || this.failuresByAddress.waitMs(address) > 0;
    const ok =
      wellFormed &&
      (backingOff
        ? await this.verifyFromMemory(clientId, secret)
        : await this.verifySecret(clientId, secret));
    if (ok) return 'accepted';

    this.failuresByPair.recordFailure(pair);
    this.failuresByAddress.recordFailure(address);
    const who = `device=${JSON.stringify(clientId).slice(0, 80)} address=${address}`;
    if (backingOff) {
      this.reject(
        'auth_rate_limited',
        pair,
        `login refused for ${who}: backing off after failed logins`,
        now,
      );
      return 'retry_later';
    }
    const why = !isDeviceId(clientId)
      ? 'client id is not a valid device id'
      : username !== clientId
        ? 'username differs from client id'
        : 'unknown or disabled device, or wrong secret';
    this.reject('auth_failed', pair, `login refused for ${who}: ${why}`, now);
    return 'bad_credentials';
  }

  mayPublish(clientId: string, topic: string): boolean {
    const parsed = parseDeviceTopic(this.prefix, topic);
    const ok =
      parsed !== null && parsed.deviceId === clientId && DEVICE_PUBLISH_KINDS.includes(parsed.kind);
    if (!ok) {
      this.reject(
        'acl_publish',
        clientId,
        `device=${clientId} may not publish to ${topic.slice(0, 200)}; disconnected`,
        this.clock.now().getTime(),
      );
    }
    return ok;
  }

  maySubscribe(clientId: string, topic: string, previous: number): boolean {
    const now = this.clock.now().getTime();
    if (topic !== deviceTopic(this.prefix, clientId, 'cmd')) {
      this.reject(
        'acl_subscribe',
        clientId,
        `device=${clientId} may not subscribe to ${topic.slice(0, 200)}; disconnected`,
        now,
      );
      return false;
    }
    if (previous >= MAX_SUBSCRIPTIONS_PER_CONNECTION) {
      this.reject(
        'too_many_subscriptions',
        clientId,
        `device=${clientId} subscribed more than ${MAX_SUBSCRIPTIONS_PER_CONNECTION} times on one connection; disconnected`,
        now,
      );
      return false;
    }
    return true;
  }

  oversized(clientId: string | undefined, length: number): void {
    this.reject(
      'too_large',
      clientId ?? '?',
      `device=${clientId ?? '?'} sent a packet of ${length} bytes; disconnected`,
      this.clock.now().getTime(),
    );
  }

  // ---- inbound ----

  /** The embedded broker's PUBACK waits for this (see BrokerPolicy). */
  accept(topic: string, payload: Buffer): Promise<void> {
    return this.receive(topic, payload);
  }

  /**
   * Every message on a device topic. Never throws: a bad message is counted, logged and dropped
   * (and acknowledged: sending it again would not help). Resolves when it is applied; rejects when
   * a delivery event could not be stored, so that it is not acknowledged.
   */
  private receive(topic: string, payload: Buffer): Promise<void> {
    const now = this.clock.now().getTime();
    try {
      const parsed = parseDeviceTopic(this.prefix, topic);
      if (!parsed)
        return this.refused(
          'bad_topic',
          topic,
          `message on an unexpected topic ${topic.slice(0, 200)}`,
          now,
        );
      const { deviceId, kind } = parsed;
      if (!this.buckets.take(deviceId, now)) {
        return this.refused(
          'rate_limited',
          deviceId,
          `device=${deviceId} sends faster than ${this.config.mqtt.deviceRate}/s; dropping`,
          now,
        );
      }
      if (!this.presence.isKnownDevice(deviceId)) {
        return this.refused(
          'unknown_device',
          deviceId,
          `message from unregistered device=${deviceId}`,
          now,
        );
      }
      const decoded = decode(kind, payload, this.config.mqtt.maxPayloadBytes);
      if (!decoded.ok) {
        return this.refused(
          decoded.reason,
          `${deviceId}`,
          `device=${deviceId} ${kind}: ${decoded.reason}: ${decoded.detail}`,
          now,
        );
      }
      this.metrics.mqttAccepted.inc({ kind });
      return this.dispatch(deviceId, kind, decoded.message, now);
    } catch (err) {
      this.logger.error(
        `message on ${topic.slice(0, 200)} could not be handled: ${(err as Error).stack ?? err}`,
      );
    }
    return Promise.resolve();
  }

  private dispatch(
    deviceId: string,
    kind: TopicKind,
    message: MessagesByKind[TopicKind],
    receivedAt: number,
  ): Promise<void> {
    switch (kind) {
      case 'state': {
        const state = message as MessagesByKind['state'];
        this.presence.recordState(deviceId, state, receivedAt);
        // The PUBACK waits for the pin: signed events the device sends next find its key.
        if (state.hello) return this.deviceKeys.heard(deviceId, state.hello, receivedAt);
        break;
      }
      case 'telemetry':
        this.presence.recordTelemetry(deviceId, message as MessagesByKind['telemetry'], receivedAt);
        break;
      case 'evt': {
        this.presence.touch(deviceId, receivedAt);
        const stored: Promise<void>[] = [];
        const event = message as MessagesByKind['evt'];
        this.inbox.next({ deviceId, message: event, receivedAt, ackAfter: (p) => stored.push(p) });
        // Nobody took it (the engine not started yet, or stopping): unacknowledged, it comes again.
        if (event.type === 'delivery' && !stored.length)
          return Promise.reject(new Error(`delivery event of device=${deviceId} not taken`));
        return Promise.all(stored).then(() => undefined);
      }
      case 'cmd':
        break; // never subscribed: devices cannot publish commands
    }
    return Promise.resolve();
  }

  /** Refused and counted: acknowledged, since the same message again would be refused again. */
  private refused(reason: MqttRejection, key: string, message: string, now: number): Promise<void> {
    this.reject(reason, key, message, now);
    return Promise.resolve();
  }

  private reject(reason: MqttRejection, key: string, message: string, now: number): void {
    this.metrics.reject(reason);
    this.rejections.warn(`${reason}:${key}`, message, now);
  }

  private async verifySecret(deviceId: string, secret: string): Promise<boolean> {
    const digest = createHash('sha256').update(secret).digest();
    const known = this.verified.get(deviceId);
    if (known && timingSafeEqual(known, digest)) return true;
    const generation = this.credentialGeneration.get(deviceId);
    const ok = await this.devices.verifySecret(deviceId, secret);
    if (ok) this.rememberVerified(deviceId, digest, generation);
    return ok;
  }

  /**
   * The check while a pair or address backs off: no database read per attempt (one per device
   * under attack, kept until its credentials change) and no slow hash (a secret still stored as
   * scrypt waits for the back-off to end; it is stored anew at its first login).
   */
  private async verifyFromMemory(deviceId: string, secret: string): Promise<boolean> {
    const digest = createHash('sha256').update(secret).digest();
    const known = this.verified.get(deviceId);
    if (known && timingSafeEqual(known, digest)) return true;
    if (!this.presence.isKnownDevice(deviceId)) return false;
    const generation = this.credentialGeneration.get(deviceId);
    let stored = this.storedHashes.get(deviceId);
    if (!stored) {
      if (this.storedHashes.size >= STORED_HASHES_MAX) this.storedHashes.clear();
      stored = this.devices.secretHashOf(deviceId);
      this.storedHashes.set(deviceId, stored);
      // A failed read is not remembered: the next attempt reads again.
      stored.catch(() => this.storedHashes.delete(deviceId));
    }
    const hash = await stored;
    if (hash === null || needsRehash(hash)) return false;
    const ok = await verifyDeviceSecret(secret, hash);
    if (ok) this.rememberVerified(deviceId, digest, generation);
    return ok;
  }

  private rememberVerified(deviceId: string, digest: Buffer, generation: number | undefined): void {
    // A check that raced with a credential change proves nothing about the new credentials.
    if (generation !== this.credentialGeneration.get(deviceId)) return;
    if (this.verified.size >= VERIFIED_CACHE_MAX) this.verified.clear();
    this.verified.set(deviceId, digest);
  }
}
