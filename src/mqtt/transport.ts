/**
 * What became of a login: let in; refused for its credentials (a wrong secret, an unknown or
 * disabled device, a user name that is not the client id: the broker answers CONNACK 4 and never
 * says which); or turned away for now (CONNACK 3, "server unavailable": the device should retry
 * later, with back-off), because its client id and address, or its address, failed too often, or
 * because the registry could not be read.
 */
export type LoginVerdict = 'accepted' | 'bad_credentials' | 'retry_later';

/** Decides who may connect, publish and subscribe on the embedded broker. */
export interface BrokerPolicy {
  authenticate(
    clientId: string,
    username: string | undefined,
    password: Buffer | undefined,
    address: string,
  ): Promise<LoginVerdict>;
  mayPublish(clientId: string, topic: string): boolean;
  /**
   * Takes a message a device published, before the broker acknowledges it (PUBACK). Resolves once
   * it is applied: a delivery event stored, or refused and counted. Rejects when it could not be
   * stored: the broker then closes the connection unacknowledged, so the device sends it again.
   */
  accept(topic: string, payload: Buffer): Promise<void>;
  /**
   * Whether a connection may subscribe to `topic`, having made `previous` subscriptions already;
   * false closes the connection.
   */
  maySubscribe(clientId: string, topic: string, previous: number): boolean;
  /** A client announced a packet over the size limit; its connection is being closed. */
  oversized(clientId: string | undefined, length: number): void;
}

/** Resolves once the message is applied; rejects when it could not be stored (see `accept`). */
export type MessageHandler = (topic: string, payload: Buffer) => Promise<void>;

export interface PublishOptions {
  qos: 0 | 1;
  retain?: boolean;
}

/**
 * The server's side of MQTT: the embedded Aedes broker or a client of an external broker. The one
 * place that speaks MQTT; everything else goes through it.
 */
export abstract class MqttTransport {
  abstract readonly mode: 'embedded' | 'external';

  /** Starts listening (embedded) or connecting (external). The policy applies to the embedded broker. */
  abstract start(policy: BrokerPolicy): Promise<void>;
  abstract stop(): Promise<void>;
  abstract publish(topic: string, payload: Buffer, options: PublishOptions): Promise<void>;
  /** Subscribes the server to a filter; on an external broker through the shared group. */
  abstract subscribe(filter: string, handler: MessageHandler): Promise<void>;
  abstract isConnected(): boolean;
  /** Ends a device's live session; false when this transport cannot (an external broker). */
  abstract disconnect(clientId: string): boolean;
  /** Where it listens or what it connects to, safe to log (no credentials). */
  abstract describe(): string;
  /** The TCP port the embedded broker listens on (for tests with port 0); undefined for external. */
  abstract get port(): number | undefined;
  abstract get wsPort(): number | undefined;
}

/** MQTT topic filter matching with `+` and `#`. */
export function topicMatches(filter: string, topic: string): boolean {
  const f = filter.split('/');
  const t = topic.split('/');
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '#') return true;
    if (i >= t.length) return false;
    if (f[i] !== '+' && f[i] !== t[i]) return false;
  }
  return f.length === t.length;
}
