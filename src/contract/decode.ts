import { Compile } from 'typebox/compile';
import { LIMITS, MESSAGES, MessagesByKind, MessageType, PROTOCOL_VERSION } from './messages.js';
import type { TopicKind } from './topics.js';

/** Why a payload was refused; servers count rejections by these. */
export const DECODE_FAILURES = [
  'too_large',
  'bad_json',
  'not_object',
  'bad_version',
  'unknown_type',
  'wrong_topic',
  'invalid',
] as const;
export type DecodeFailure = (typeof DECODE_FAILURES)[number];

export type Decoded<K extends TopicKind> =
  { ok: true; message: MessagesByKind[K] } | { ok: false; reason: DecodeFailure; detail: string };

const validators = Object.fromEntries(
  Object.entries(MESSAGES).map(([type, { schema }]) => [type, Compile(schema)]),
) as Record<MessageType, ReturnType<typeof Compile>>;

/** What a message's JSON Schema cannot say here (it stays a plain table of fields in the docs). */
const RULES: Partial<Record<MessageType, (message: Record<string, unknown>) => string | null>> = {
  stop: (m) =>
    m.deliveryId === undefined && m.broadcastId === undefined
      ? 'give deliveryId, broadcastId or both'
      : null,
};

/** Serialises an outgoing message (no validation: the sender built it from typed values). */
export function encode(message: MessagesByKind[TopicKind]): Buffer {
  return Buffer.from(JSON.stringify(message));
}

/**
 * The one way to read a payload from a topic of kind `kind`: size, JSON, version, type (and that
 * the type belongs on this topic), then the message's schema. Never throws.
 */
export function decode<K extends TopicKind>(
  kind: K,
  payload: Uint8Array | string,
  maxBytes: number = LIMITS.maxPayloadBytes,
): Decoded<K> {
  const size = typeof payload === 'string' ? Buffer.byteLength(payload) : payload.byteLength;
  if (size > maxBytes)
    return { ok: false, reason: 'too_large', detail: `${size} bytes, limit ${maxBytes}` };
  let value: unknown;
  try {
    value = JSON.parse(
      typeof payload === 'string' ? payload : Buffer.from(payload).toString('utf8'),
    );
  } catch (err) {
    return { ok: false, reason: 'bad_json', detail: (err as Error).message.slice(0, 120) };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { ok: false, reason: 'not_object', detail: 'payload must be a JSON object' };
  }
  const { v, type } = value as { v?: unknown; type?: unknown };
  if (v !== PROTOCOL_VERSION) {
    return {
      ok: false,
      reason: 'bad_version',
      detail: `v=${JSON.stringify(v)?.slice(0, 20)}, expected ${PROTOCOL_VERSION}`,
    };
  }
  if (typeof type !== 'string' || !Object.hasOwn(MESSAGES, type)) {
    return {
      ok: false,
      reason: 'unknown_type',
      detail: `type=${JSON.stringify(type)?.slice(0, 40)}`,
    };
  }
  const spec = MESSAGES[type as MessageType];
  if (spec.kind !== kind) {
    return {
      ok: false,
      reason: 'wrong_topic',
      detail: `${type} belongs on ${spec.kind}, not ${kind}`,
    };
  }
  const validator = validators[type as MessageType];
  if (!validator.Check(value)) {
    const first = [...validator.Errors(value)][0];
    const where = first?.instancePath || '/';
    return {
      ok: false,
      reason: 'invalid',
      detail: `${type}${where}: ${first?.message ?? 'does not match the schema'}`.slice(0, 200),
    };
  }
  const broken = RULES[type as MessageType]?.(value as Record<string, unknown>);
  if (broken) return { ok: false, reason: 'invalid', detail: `${type}: ${broken}` };
  return { ok: true, message: value as MessagesByKind[K] };
}
