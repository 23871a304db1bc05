/**
 * Every message of the Dalaba device protocol, version 1, defined once as JSON Schema (TypeBox).
 * The same definitions give the TypeScript types, the validators in `decode()`, the JSON Schema
 * files in `docs/schemas/` and the field tables in `docs/protocol.md`.
 *
 * Every payload is a JSON object with `v` (protocol version), `type`, `id` (unique per sender, for
 * de-duplication and acknowledgements) and `ts` (sender's clock, Unix epoch milliseconds).
 */
import Type, { type Static, type TSchema } from 'typebox';
import { DEVICE_ID_PATTERN, DEVICE_TYPES } from './device.js';
import { COMMAND_REJECTIONS, MAX_SEQ, SIGNATURE_ALGORITHMS } from './signing.js';
import type { TopicKind } from './topics.js';

export const PROTOCOL_VERSION = 1;

/** Broadcast levels, most urgent first: 特别重大, 重大, 较大, 一般 emergencies, then routine and test. */
export const LEVELS = ['I', 'II', 'III', 'IV', 'routine', 'test'] as const;
export type Level = (typeof LEVELS)[number];

/** True when a broadcast of level `a` may interrupt one of level `b` (strictly more urgent). */
export function outranks(a: Level, b: Level): boolean {
  return LEVELS.indexOf(a) < LEVELS.indexOf(b);
}

/**
 * Delivery states in their only forward order. A device reports the ones in
 * {@link DEVICE_REPORTED_STATES}; the server sets the rest.
 */
export const DELIVERY_PROGRESS = [
  'pending',
  'sent',
  'received',
  'downloading',
  'ready',
  'playing',
  'played',
] as const;
/** Terminal states other than `played`. */
export const DELIVERY_ENDINGS = ['failed', 'rejected', 'expired', 'cancelled'] as const;
export type DeliveryState = (typeof DELIVERY_PROGRESS)[number] | (typeof DELIVERY_ENDINGS)[number];

/**
 * What a device may report about a delivery. `preempted` means a more urgent broadcast took the
 * speaker: the server returns the delivery to `pending` and sends it again as a resumption (a
 * `play` with a higher `resume`) while it is still valid, at most {@link TIMING.maxResumes} times.
 */
export const DEVICE_REPORTED_STATES = [
  'received',
  'downloading',
  'ready',
  'playing',
  'played',
  'failed',
  'rejected',
  'preempted',
] as const;
export type DeviceReportedState = (typeof DEVICE_REPORTED_STATES)[number];

/** Timing rules (defaults; a server may be configured otherwise and says so in its docs). */
export const TIMING = {
  /** A device publishes telemetry at least this often, in seconds (a server's `config` may say otherwise). */
  heartbeatIntervalS: 30,
  /** A device silent for this many heartbeat intervals is marked offline, Will or not. */
  offlineAfterMissedHeartbeats: 3,
  /** MQTT keep-alive a device should use, in seconds. */
  keepAliveS: 60,
  /** A `play` not acknowledged with `received` within this many seconds is sent again (same ids). */
  ackTimeoutS: 10,
  /** Each resend waits twice as long as the one before, up to this many resends. */
  maxResends: 5,
  /**
   * A delivery interrupted by a more urgent broadcast (`preempted`) is resumed at most this many
   * times; interrupted once more, it ends `failed`. Each resumption is a new `play` with its own `id`.
   */
  maxResumes: 3,
  /** A device reconnecting backs off exponentially from 1 s up to this, with random jitter. */
  reconnectMaxS: 60,
  /**
   * A device waits at least this long for CONNACK before giving up a connection attempt (the
   * mqtt.js and Paho default): a server restarting under a whole county takes connections only as
   * fast as its one thread gets to them, and a device that gives up sooner starts again later.
   */
  connackWaitS: 30,
} as const;

/** Size limits a server enforces before reading a payload. */
export const LIMITS = {
  /** Largest payload accepted on any device topic, in bytes. */
  maxPayloadBytes: 4096,
} as const;

const MessageId = Type.String({
  minLength: 1,
  maxLength: 64,
  pattern: '^[A-Za-z0-9._:-]+$',
  description: 'Unique per sender; repeated on a resend',
});
const Timestamp = Type.Integer({
  minimum: 0,
  maximum: 8_640_000_000_000_000,
  description: "Sender's clock, Unix epoch milliseconds",
});
const Instant = Type.Integer({
  minimum: 0,
  maximum: 8_640_000_000_000_000,
  description: "Server's clock, Unix epoch milliseconds",
});
const Reason = Type.String({
  minLength: 1,
  maxLength: 200,
  description: 'Human-readable reason, logged and shown to staff',
});
const Uuid = Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9._:-]+$' });
const Volume = Type.Integer({ minimum: 0, maximum: 100, description: 'Output volume, percent' });

function envelope<T extends string, P extends Record<string, TSchema>>(
  type: T,
  description: string,
  properties: P,
) {
  return Type.Object(
    {
      v: Type.Literal(PROTOCOL_VERSION, { description: 'Protocol version' }),
      type: Type.Literal(type),
      id: MessageId,
      ts: Timestamp,
      ...properties,
    },
    { additionalProperties: false, title: type, description },
  );
}

const KeyId = Type.String({
  minLength: 1,
  maxLength: 64,
  pattern: '^[A-Za-z0-9._:-]+$',
  description: 'Key id',
});
const Signature = Type.String({
  minLength: 86,
  maxLength: 86,
  pattern: '^[A-Za-z0-9_-]+$',
  description: 'base64url (no padding) of the 64-byte signature',
});
const Algorithm = Type.Enum([...SIGNATURE_ALGORITHMS]);
const PublicKey = Type.String({
  minLength: 43,
  maxLength: 87,
  pattern: '^[A-Za-z0-9_-]+$',
  description: 'base64url: Ed25519 the 32 raw bytes, SM2 the 65-byte uncompressed point',
});

/** Signature fields every command may carry (section 9); all five or none. */
const COMMAND_AUTH = {
  to: Type.Optional(
    Type.String({
      minLength: 1,
      maxLength: 64,
      pattern: DEVICE_ID_PATTERN.source,
      description: 'Signed: the device the command is for',
    }),
  ),
  seq: Type.Optional(
    Type.Integer({
      minimum: 1,
      maximum: MAX_SEQ,
      description: 'Signed: per device, higher than any the device has accepted',
    }),
  ),
  exp: Type.Optional({
    ...Instant,
    description: 'Signed: refuse the command after this (server clock, epoch ms)',
  } as typeof Instant),
  kid: Type.Optional({
    ...KeyId,
    description: 'Signed: the id of the signing key',
  } as typeof KeyId),
  sig: Type.Optional({
    ...Signature,
    description: 'Signature over the canonical form of every other field',
  } as typeof Signature),
};

/** A server → device command: the envelope, its fields, and the signature fields. */
function command<T extends string, P extends Record<string, TSchema>>(
  type: T,
  description: string,
  properties: P,
) {
  return envelope(type, description, { ...properties, ...COMMAND_AUTH });
}

// ---- device → server ----

export const Hello = Type.Object(
  {
    deviceType: Type.Enum([...DEVICE_TYPES], {
      description: 'What the device is; should match its registration',
    }),
    firmware: Type.String({
      minLength: 1,
      maxLength: 64,
      description: 'Firmware or agent version',
    }),
    codecs: Type.Array(Type.String({ minLength: 1, maxLength: 16 }), {
      minItems: 1,
      maxItems: 10,
      description: 'Audio formats it can play, e.g. ["mp3"]',
    }),
    volume: Volume,
    verifies: Type.Optional(
      Type.Array(Algorithm, {
        minItems: 1,
        maxItems: 2,
        description:
          'Signature algorithms it verifies commands with (section 9): the station sees which devices check signatures',
      }),
    ),
    keyAlg: Type.Optional({
      ...Algorithm,
      description: "Protocol 1.1: the algorithm of the device's own key",
    } as typeof Algorithm),
    publicKey: Type.Optional({
      ...PublicKey,
      description:
        "Protocol 1.1: the device's own public key, with which it signs its `playing` and `played` events",
    } as typeof PublicKey),
  },
  {
    additionalProperties: false,
    description: 'What the device says about itself when it comes online',
  },
);

export const StateMessage = envelope(
  'state',
  'On `state` (retained). Published with status `online` and a `hello` right after connecting; the Last Will is the same message with status `offline` and no `hello`. `session` is random per connection, so a late Will of an old connection cannot mark a reconnected device offline.',
  {
    status: Type.Union([Type.Literal('online'), Type.Literal('offline')]),
    session: Type.String({
      minLength: 1,
      maxLength: 64,
      pattern: '^[A-Za-z0-9._:-]+$',
      description: 'Random id of this connection',
    }),
    hello: Type.Optional(Hello),
  },
);

export const NowPlaying = Type.Object(
  { deliveryId: Uuid, broadcastId: Uuid },
  { additionalProperties: false, description: 'The delivery being played' },
);

export const TelemetryMessage = envelope(
  'telemetry',
  'On `telemetry` (QoS 0), at least every heartbeat interval. Every field but the envelope is optional.',
  {
    volume: Type.Optional(Volume),
    signalDbm: Type.Optional(
      Type.Integer({ minimum: -150, maximum: 0, description: 'Mobile or Wi-Fi signal, dBm' }),
    ),
    batteryPct: Type.Optional(
      Type.Integer({ minimum: 0, maximum: 100, description: 'Battery charge, percent' }),
    ),
    temperatureC: Type.Optional(
      Type.Number({ minimum: -60, maximum: 120, description: 'Enclosure temperature, °C' }),
    ),
    uptimeS: Type.Optional(
      Type.Integer({ minimum: 0, description: 'Seconds since the device started' }),
    ),
    playing: Type.Optional(Type.Union([NowPlaying, Type.Null()])),
  },
);

export const DeliveryEvent = envelope(
  'delivery',
  'On `evt`: progress of one delivery. Send each state once, in order (`downloading` may come again with a new `progressPct`); `failed`, `rejected` and `preempted` should carry a `reason`. The same event twice changes nothing.',
  {
    deliveryId: Uuid,
    state: Type.Enum([...DEVICE_REPORTED_STATES]),
    reason: Type.Optional(Reason),
    progressPct: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: 100,
        description: 'Download progress, with `downloading`',
      }),
    ),
    resume: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: TIMING.maxResumes,
        description:
          'The `resume` of the play it is about, 0 for the first: a late event about an earlier run is then ignored. Left out, the event is taken as about the current run',
      }),
    ),
    sig: Type.Optional({
      ...Signature,
      description:
        "Protocol 1.1: the device's own signature over every other field (section 9.6), with the key of its `hello`",
    } as typeof Signature),
  },
);

export const PongEvent = envelope('pong', 'On `evt`: the answer to a `ping`.', {
  ref: Type.String({ minLength: 1, maxLength: 64, description: 'The `id` of the ping' }),
});

export const AckEvent = envelope('ack', 'On `evt`: the answer to a `volume` or `stop` command.', {
  ref: Type.String({ minLength: 1, maxLength: 64, description: 'The `id` of the command' }),
  ok: Type.Boolean(),
  reason: Type.Optional(Reason),
});

export const RejectedEvent = envelope(
  'rejected',
  'On `evt`: a command the device refused because its signature, key, sequence, addressee or expiry did not pass (section 9.3). Sent once per refused command; the server counts it and shows it to staff as a security event.',
  {
    ref: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 64,
        description: 'The `id` of the refused command, when it had a valid one',
      }),
    ),
    command: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 16,
        pattern: '^[a-z_]+$',
        description: 'The `type` of the refused command',
      }),
    ),
    reason: Type.Enum([...COMMAND_REJECTIONS], { description: 'Why it was refused' }),
    seq: Type.Optional(
      Type.Integer({ minimum: 0, maximum: MAX_SEQ, description: 'The `seq` it carried' }),
    ),
    kid: Type.Optional({ ...KeyId, description: 'The `kid` it carried' } as typeof KeyId),
    detail: Type.Optional(Reason),
  },
);

// ---- server → device ----

export const ClipRef = Type.Object(
  {
    url: Type.String({
      minLength: 1,
      maxLength: 2048,
      description: 'Signed HTTP(S) URL, valid until about `expiresAt`; supports Range and ETag',
    }),
    sha256: Type.String({ pattern: '^[0-9a-f]{64}$', description: 'Check before playing' }),
    bytes: Type.Integer({ minimum: 1 }),
    durationMs: Type.Integer({ minimum: 1 }),
    codec: Type.Literal('mp3'),
  },
  { additionalProperties: false },
);

export const PlayCommand = command(
  'play',
  'On `cmd`: fetch the clip, check its sha256, wait for `notBefore`, play it `repeat` times; report each step with `delivery` events. Drop it if `expiresAt` passes before it can start. A more urgent level interrupts a less urgent one. A `deliveryId` the device already knows is answered with its latest state and never played again, unless `resume` is higher than any it has seen for that delivery and the device last reported it `preempted`: then it is played again from the start.',
  {
    deliveryId: Uuid,
    broadcastId: Uuid,
    level: Type.Enum([...LEVELS]),
    title: Type.Optional(Type.String({ maxLength: 200 })),
    clip: ClipRef,
    notBefore: {
      ...Instant,
      description: 'Do not start before this (server clock, epoch ms)',
    } as typeof Instant,
    expiresAt: {
      ...Instant,
      description:
        'The latest time to start playing (server clock, epoch ms); a playback begun before it runs to its end',
    } as typeof Instant,
    repeat: Type.Integer({ minimum: 1, maximum: 10 }),
    volume: Type.Optional(Volume),
    resume: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: TIMING.maxResumes,
        description:
          'Present only when the delivery was `preempted`: the n-th resumption. Play it again from the start if n is higher than any resumption already acted on for this `deliveryId`',
      }),
    ),
  },
);

export const StopCommand = command(
  'stop',
  'On `cmd`: stop the delivery `deliveryId`, every delivery of the broadcast `broadcastId`, or (both given) the deliveries matching either; answer with `ack`. A stop with neither is invalid and ignored. A stopped delivery is never played later.',
  {
    deliveryId: Type.Optional({ ...Uuid, description: 'One delivery' } as typeof Uuid),
    broadcastId: Type.Optional({
      ...Uuid,
      description: 'Every delivery of this broadcast',
    } as typeof Uuid),
    reason: Reason,
  },
);

export const VolumeCommand = command(
  'volume',
  'On `cmd`: set the output volume; answer with `ack`.',
  { volume: Volume },
);

export const PingCommand = command('ping', 'On `cmd`: answer with `pong` at once.', {});

export const ConfigCommand = command(
  'config',
  'On `cmd`, each time the device comes online: the timing this server expects. Apply it at once; no answer. Its `ts` is the server clock when it was sent: a device that has no NTP sets its clock (or an offset) from it, since `notBefore` and `expiresAt` are on the server clock.',
  {
    heartbeatIntervalS: Type.Integer({
      minimum: 1,
      maximum: 3600,
      description: 'Publish telemetry at least this often, seconds (overrides the default)',
    }),
    offlineAfterS: Type.Integer({
      minimum: 1,
      description: 'Silent this long, the device counts as offline until it is heard from again',
    }),
    signing: Type.Optional(
      Type.Enum(['optional', 'required'], {
        description:
          'The server signs every command (section 9); `required`: from now on refuse any command without a valid signature',
      }),
    ),
  },
);

export const AnnouncedKeySchema = Type.Object(
  {
    kid: KeyId,
    alg: Algorithm,
    publicKey: PublicKey,
    endorsedBy: Type.Optional({
      ...KeyId,
      description: 'The key that vouches for this one',
    } as typeof KeyId),
    endorsement: Type.Optional({
      ...Signature,
      description: 'Signature by `endorsedBy` over the canonical `{alg, kid, publicKey}`',
    } as typeof Signature),
    until: Type.Optional({
      ...Instant,
      description: 'Accepted until then: a key being retired after a rotation',
    } as typeof Instant),
  },
  { additionalProperties: false },
);

export const KeysCommand = command(
  'keys',
  "On `cmd`, each time the device comes online and after a rotation or revocation: the server's signing keys (section 9.4). Take each key endorsed by a key you hold, mark the `revoked` ones, then check this command's own signature with the result; keep the result only if it passes. No answer.",
  {
    keys: Type.Array(AnnouncedKeySchema, { minItems: 1, maxItems: 10 }),
    revoked: Type.Array(KeyId, { maxItems: 100, description: 'Key ids never to accept again' }),
  },
);

/** Every message, by `type`, with the topic kind it travels on. */
export const MESSAGES = {
  state: { kind: 'state', schema: StateMessage },
  telemetry: { kind: 'telemetry', schema: TelemetryMessage },
  delivery: { kind: 'evt', schema: DeliveryEvent },
  pong: { kind: 'evt', schema: PongEvent },
  ack: { kind: 'evt', schema: AckEvent },
  rejected: { kind: 'evt', schema: RejectedEvent },
  play: { kind: 'cmd', schema: PlayCommand },
  stop: { kind: 'cmd', schema: StopCommand },
  volume: { kind: 'cmd', schema: VolumeCommand },
  ping: { kind: 'cmd', schema: PingCommand },
  config: { kind: 'cmd', schema: ConfigCommand },
  keys: { kind: 'cmd', schema: KeysCommand },
} as const satisfies Record<string, { kind: TopicKind; schema: TSchema }>;

export type MessageType = keyof typeof MESSAGES;

export type StateMessage = Static<typeof StateMessage>;
export type TelemetryMessage = Static<typeof TelemetryMessage>;
export type DeliveryEvent = Static<typeof DeliveryEvent>;
export type PongEvent = Static<typeof PongEvent>;
export type AckEvent = Static<typeof AckEvent>;
export type PlayCommand = Static<typeof PlayCommand>;
export type StopCommand = Static<typeof StopCommand>;
export type VolumeCommand = Static<typeof VolumeCommand>;
export type PingCommand = Static<typeof PingCommand>;
export type ConfigCommand = Static<typeof ConfigCommand>;
export type KeysCommand = Static<typeof KeysCommand>;
export type RejectedEvent = Static<typeof RejectedEvent>;
export type Hello = Static<typeof Hello>;

/** Messages by the topic kind they travel on. */
export interface MessagesByKind {
  state: StateMessage;
  telemetry: TelemetryMessage;
  evt: DeliveryEvent | PongEvent | AckEvent | RejectedEvent;
  cmd: PlayCommand | StopCommand | VolumeCommand | PingCommand | ConfigCommand | KeysCommand;
}
export type AnyMessage = MessagesByKind[TopicKind];
