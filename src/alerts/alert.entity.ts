import { Column, Entity, Index, PrimaryColumn } from 'typeorm';
import type { Level } from '../contract/messages.js';
import { timeColumn } from '../database/columns.js';

/** Where an alert came from. */
export const ALERT_SOURCES = ['api', 'feed', 'superior'] as const;
export type AlertSource = (typeof ALERT_SOURCES)[number];

/**
 * What Dalaba did with an alert (the inbox shows it with `reason`):
 * - `refused`: not accepted at all (bad XML, schema, CAP rule, signature, sender refused, no
 *   village of this county, outside its bounding box, expired); `rule` names the rule.
 * - `duplicate`: the same (sender, identifier, sent) was received before; nothing changed.
 * - `recorded`: kept, nothing to broadcast (status System or Draft, or a Cancel with nothing running;
 *   or a `needs_level` alert that expired or was superseded before anyone picked its level).
 * - `needs_level`: severity Unknown; an operator picks the level (POST /api/alerts/:id/broadcast).
 * - `drafted`: waiting for a person to approve its broadcast (draft_id); once approved,
 *   broadcast_id (and replaced_broadcast_id for an Update) say what it became.
 * - `broadcast`: its broadcast was made (broadcast_id).
 * - `cancelled`: a signed Cancel (or an Update whose area left the county) that ended the
 *   broadcast(s) of the messages it references.
 * - `failed`: accepted, but its broadcast could not be made (no audio, TTS unavailable...); its
 *   dedup key is cleared, so the same message sent again is acted on anew.
 */
export const ALERT_OUTCOMES = [
  'refused',
  'duplicate',
  'recorded',
  'needs_level',
  'drafted',
  'broadcast',
  'cancelled',
  'failed',
] as const;
export type AlertOutcome = (typeof ALERT_OUTCOMES)[number];

/** How an alert's XML signature checked out. */
export const SIGNATURE_STATES = ['valid', 'invalid', 'unsigned', 'untrusted'] as const;
export type SignatureState = (typeof SIGNATURE_STATES)[number];

/** Every alert received (CAP 1.2, GB/T 35965.1, or an EBM from a superior platform), kept as received. */
@Entity('alerts')
@Index('UQ_alerts_dedup', ['dedupKey'], { unique: true })
@Index('IDX_alerts_received', ['receivedAt'])
@Index('IDX_alerts_broadcast', ['broadcastId'])
export class AlertEntity {
  @PrimaryColumn({ type: 'varchar', length: 36 })
  id!: string;

  @Column({ type: 'varchar', length: 16 })
  source!: AlertSource;

  /** Who handed it over: the token or person (api), the feed id (feed), the superior's id. */
  @Column({ type: 'varchar', length: 200, name: 'source_ref', nullable: true })
  sourceRef!: string | null;

  /**
   * `sender,identifier,sent` of an accepted alert: unique, so the same message twice changes
   * nothing. Null for a refused or failed one (a valid copy, or the same again, may follow it).
   */
  @Column({ type: 'varchar', length: 800, name: 'dedup_key', nullable: true })
  dedupKey!: string | null;

  @Column({ type: 'varchar', length: 255, nullable: true })
  sender!: string | null;

  @Column({ type: 'varchar', length: 255, nullable: true })
  identifier!: string | null;

  /** CAP `sent` exactly as given (with its offset). */
  @Column({ type: 'varchar', length: 40, nullable: true })
  sent!: string | null;

  @Column({ ...timeColumn, name: 'sent_at', nullable: true })
  sentAt!: number | null;

  /** CAP `status`: Actual, Exercise, System, Test, Draft. */
  @Column({ type: 'varchar', length: 16, nullable: true })
  status!: string | null;

  /** CAP `msgType`: Alert, Update, Cancel, Ack, Error. */
  @Column({ type: 'varchar', length: 16, name: 'msg_type', nullable: true })
  msgType!: string | null;

  /** The chosen `info` block's language, event, urgency, severity, certainty and headline. */
  @Column({ type: 'varchar', length: 16, nullable: true })
  language!: string | null;

  @Column({ type: 'varchar', length: 255, nullable: true })
  event!: string | null;

  @Column({ type: 'varchar', length: 16, nullable: true })
  urgency!: string | null;

  @Column({ type: 'varchar', length: 16, nullable: true })
  severity!: string | null;

  @Column({ type: 'varchar', length: 16, nullable: true })
  certainty!: string | null;

  @Column({ type: 'varchar', length: 500, nullable: true })
  headline!: string | null;

  /** The broadcast level it maps to (alert-mapping.ts); null when none (System, Unknown...). */
  @Column({ type: 'varchar', length: 8, nullable: true })
  level!: Level | null;

  /** CAP `references` (JSON array of "sender,identifier,sent"). */
  @Column({ type: 'text', name: 'references_json', nullable: true })
  referencesJson!: string | null;

  /** Village codes of this county the area touches (JSON array). */
  @Column({ type: 'text', name: 'villages_json', nullable: true })
  villagesJson!: string | null;

  @Column({ type: 'varchar', length: 16 })
  signature!: SignatureState;

  /** Subject of the certificate that signed it. */
  @Column({ type: 'varchar', length: 255, nullable: true })
  signer!: string | null;

  @Column({ type: 'varchar', length: 16 })
  outcome!: AlertOutcome;

  /** The rule a refusal names (e.g. `xml.doctype`, `cap.schema`, `cap.expired`). */
  @Column({ type: 'varchar', length: 64, nullable: true })
  rule!: string | null;

  /** Why, in words, for the inbox and the API answer. */
  @Column({ type: 'varchar', length: 1000, nullable: true })
  reason!: string | null;

  @Column({ type: 'varchar', length: 36, name: 'clip_id', nullable: true })
  clipId!: string | null;

  @Column({ type: 'varchar', length: 36, name: 'draft_id', nullable: true })
  draftId!: string | null;

  @Column({ type: 'varchar', length: 36, name: 'broadcast_id', nullable: true })
  broadcastId!: string | null;

  /**
   * The running broadcast an Update replaced (at once, or once its draft was approved), or a
   * Cancel cancelled.
   */
  @Column({ type: 'varchar', length: 36, name: 'replaced_broadcast_id', nullable: true })
  replacedBroadcastId!: string | null;

  @Column({ type: 'varchar', length: 64, name: 'xml_sha256' })
  xmlSha256!: string;

  /** The message as received (bounded by the intake's size limit). */
  @Column({ type: 'text' })
  xml!: string;

  @Column({ ...timeColumn, name: 'received_at' })
  receivedAt!: number;

  @Column({ ...timeColumn, name: 'updated_at' })
  updatedAt!: number;
}

/** Per sender: whether a signature is required, who may sign, and what goes out without a person. */
export const SENDER_POLICIES = ['require_signature', 'accept_unsigned', 'refuse'] as const;
export type SenderPolicy = (typeof SENDER_POLICIES)[number];

@Entity('alert_senders')
export class AlertSenderEntity {
  /** CAP `sender` exactly. */
  @PrimaryColumn({ type: 'varchar', length: 255 })
  sender!: string;

  @Column({ type: 'varchar', length: 100 })
  name!: string;

  @Column({ type: 'varchar', length: 24 })
  policy!: SenderPolicy;

  /** PEM certificates trusted to sign this sender's alerts (JSON array). */
  @Column({ type: 'text', name: 'certificates_json' })
  certificatesJson!: string;

  /**
   * CAP severities whose alerts go out without a person (JSON array, e.g. ["Extreme","Severe"]),
   * still only when urgency and certainty allow it (alert-mapping.ts). Empty: always a draft.
   */
  @Column({ type: 'text', name: 'auto_severities_json' })
  autoSeveritiesJson!: string;

  @Column({ type: 'varchar', length: 100, name: 'updated_by' })
  updatedBy!: string;

  @Column({ ...timeColumn, name: 'updated_at' })
  updatedAt!: number;
}

/** A CAP feed (Atom or RSS of CAP entries) the server polls. */
@Entity('alert_feeds')
@Index('IDX_alert_feeds_next', ['nextPollAt'])
export class AlertFeedEntity {
  @PrimaryColumn({ type: 'varchar', length: 36 })
  id!: string;

  @Column({ type: 'varchar', length: 100 })
  name!: string;

  @Column({ type: 'varchar', length: 2000 })
  url!: string;

  @Column({ type: 'integer', name: 'interval_s' })
  intervalS!: number;

  @Column({ type: 'boolean' })
  enabled!: boolean;

  @Column({ type: 'varchar', length: 500, nullable: true })
  etag!: string | null;

  @Column({ type: 'varchar', length: 100, name: 'last_modified', nullable: true })
  lastModified!: string | null;

  @Column({ ...timeColumn, name: 'next_poll_at' })
  nextPollAt!: number;

  @Column({ ...timeColumn, name: 'last_polled_at', nullable: true })
  lastPolledAt!: number | null;

  @Column({ ...timeColumn, name: 'last_ok_at', nullable: true })
  lastOkAt!: number | null;

  /** Failures in a row: the back-off grows with them. */
  @Column({ type: 'integer' })
  failures!: number;

  @Column({ type: 'varchar', length: 500, name: 'last_error', nullable: true })
  lastError!: string | null;

  @Column({ type: 'varchar', length: 100, name: 'created_by' })
  createdBy!: string;

  @Column({ ...timeColumn, name: 'created_at' })
  createdAt!: number;

  @Column({ ...timeColumn, name: 'updated_at' })
  updatedAt!: number;
}
