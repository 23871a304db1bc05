import { createHash } from 'node:crypto';
import { canonicalJson } from '../contract/signing.js';

/** What an entry proves; `approval` is reserved for the approval of broadcasts (a later issue). */
export const EVIDENCE_KINDS = [
  'delivery_event',
  'manual_confirmation',
  'cancel',
  'approval',
] as const;
export type EvidenceKind = (typeof EVIDENCE_KINDS)[number];

/** The `prev_hash` of entry 1. */
export const GENESIS_HASH = '0'.repeat(64);

/** An entry before it has its place in the chain. */
export interface EvidenceDraft {
  at: number;
  kind: EvidenceKind;
  broadcastId: string;
  subject: string;
  /** The row's evidential fields; JSON values only (strings, integers, null). */
  body: Record<string, unknown>;
}

/** The fields an entry's hash covers, with the body as its canonical text. */
export interface HashedFields {
  seq: number;
  at: number;
  kind: string;
  broadcastId: string;
  subject: string;
  body: string;
}

/**
 * sha256hex(prev_hash + "\n" + canonicalJson({seq, at, kind, broadcastId, subject, body})), with
 * `body` the object whose canonical JSON is the stored body text (so it nests as that text).
 * Built by hand in RFC 8785's key order: the body is canonical already, and re-canonicalising
 * every body on the ingest path cost as much as the rest of the hash.
 */
export function entryHash(prevHash: string, e: HashedFields): string {
  // RFC 8785 has no form for a lone surrogate (the canonicaliser throws); JSON.stringify would
  // escape it, so refuse it here too.
  if (LONE_SURROGATE.test(e.broadcastId) || LONE_SURROGATE.test(e.subject))
    throw new TypeError('Lone surrogate is not allowed');
  const text =
    `{"at":${e.at},"body":${e.body},"broadcastId":${JSON.stringify(e.broadcastId)},` +
    `"kind":${JSON.stringify(e.kind)},"seq":${e.seq},"subject":${JSON.stringify(e.subject)}}`;
  return createHash('sha256').update(`${prevHash}\n${text}`, 'utf8').digest('hex');
}

const LONE_SURROGATE = /\p{Cs}/u;

/** The same input through the general canonicaliser: the definition the fast path must equal. */
export function entryHashReference(prevHash: string, e: HashedFields): string {
  const text = canonicalJson({ ...e, body: JSON.parse(e.body) as unknown });
  return createHash('sha256').update(`${prevHash}\n${text}`, 'utf8').digest('hex');
}

/**
 * A body's canonical text. Bodies are flat (strings, integers, null): for those RFC 8785 is the
 * keys sorted by UTF-16 code units and each value as JSON.stringify writes it, built here directly
 * (the general canonicaliser was most of what the chain added to an ingest batch); anything else
 * goes through the canonicaliser.
 */
export function bodyText(body: Record<string, unknown>): string {
  const parts: string[] = [];
  for (const key of Object.keys(body).sort()) {
    const v = body[key];
    if (v === undefined) continue;
    const plain =
      v === null ||
      typeof v === 'boolean' ||
      (typeof v === 'number' && Number.isFinite(v)) ||
      (typeof v === 'string' && !LONE_SURROGATE.test(v));
    if (!plain || LONE_SURROGATE.test(key)) return canonicalJson(body);
    parts.push(`${JSON.stringify(key)}:${JSON.stringify(v)}`);
  }
  return `{${parts.join(',')}}`;
}

// ---- the bodies: what of each row is evidence (docs/evidence.md lists the same fields) ----

/** A delivery_events row, with whose delivery it is (device and village). */
export interface DeliveryEventFields {
  deliveryId: string;
  deviceId: string;
  villageCode: string;
  fromState: string;
  toState: string;
  source: string;
  deviceTs: number | null;
  serverTs: number;
  reason: string | null;
  anomaly: string | null;
  /** The device's own signature over the event (protocol 1.1), as stored; null without one. */
  deviceProof?: string | null;
}

export function deliveryEventBody(e: DeliveryEventFields): Record<string, unknown> {
  return {
    deliveryId: e.deliveryId,
    deviceId: e.deviceId,
    villageCode: e.villageCode,
    fromState: e.fromState,
    toState: e.toState,
    source: e.source,
    deviceTs: e.deviceTs,
    serverTs: e.serverTs,
    reason: e.reason,
    anomaly: e.anomaly,
    deviceProof: e.deviceProof ?? null,
  };
}

/** A manual_confirmations row as it stands after the write (a withdrawal appends it again). */
export interface ConfirmationFields {
  id: string;
  villageCode: string;
  deviceId: string | null;
  confirmedAt: number;
  confirmedBy: string;
  note: string | null;
  method: string | null;
  recordedBy: string | null;
  withdrawnAt: number | null;
  withdrawnBy: string | null;
  withdrawReason: string | null;
  createdAt: number;
}

export function confirmationBody(c: ConfirmationFields): Record<string, unknown> {
  return {
    id: c.id,
    villageCode: c.villageCode,
    deviceId: c.deviceId,
    confirmedAt: c.confirmedAt,
    confirmedBy: c.confirmedBy,
    note: c.note,
    method: c.method,
    recordedBy: c.recordedBy,
    withdrawnAt: c.withdrawnAt,
    withdrawnBy: c.withdrawnBy,
    withdrawReason: c.withdrawReason,
    createdAt: c.createdAt,
  };
}

/** A broadcast's cancel: the columns the cancel set. */
export interface CancelFields {
  endReason: string | null;
  cancelledBy: string | null;
  endedAt: number | null;
}

export function cancelBody(c: CancelFields): Record<string, unknown> {
  return {
    status: 'cancelled',
    endReason: c.endReason,
    cancelledBy: c.cancelledBy,
    endedAt: c.endedAt,
  };
}
