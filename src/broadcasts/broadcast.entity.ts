import {
  Column,
  Entity,
  Index,
  JoinColumn,
  ManyToOne,
  PrimaryColumn,
  PrimaryGeneratedColumn,
} from 'typeorm';
import type { DeliveryState, Level } from '../contract/messages.js';
import { ClipEntity } from '../clips/clip.entity.js';
import { timeColumn } from '../database/columns.js';
import { DeviceEntity } from '../devices/device.entity.js';
import type { DeviceType } from '../contract/device.js';
import type { DeliveryEventSource } from './delivery-state-machine.js';

export const BROADCAST_STATUSES = [
  'scheduled',
  'dispatching',
  'active',
  'completed',
  'cancelled',
  'expired',
] as const;
export type BroadcastStatus = (typeof BROADCAST_STATUSES)[number];

/**
 * What came of a broadcast, set when it ends (its status says only that it ended): every targeted
 * village covered, some, none (or nothing to reach), cancelled, or expired before it was sent.
 */
export const BROADCAST_OUTCOMES = [
  'completed',
  'partially_completed',
  'failed',
  'cancelled',
  'expired',
] as const;
export type BroadcastOutcome = (typeof BROADCAST_OUTCOMES)[number];

/**
 * How staff know a village heard a broadcast when no device said so: its loudspeaker played by
 * hand (村广播人工播放), a speaker cart driven round (流动音箱), door to door (入户通知), by phone
 * (电话通知).
 */
export const CONFIRMATION_METHODS = [
  'loudspeaker',
  'speaker_cart',
  'door_to_door',
  'phone',
] as const;
export type ConfirmationMethod = (typeof CONFIRMATION_METHODS)[number];

/** One announcement to a target. */
@Entity('broadcasts')
@Index('IDX_broadcasts_status', ['status'])
@Index('IDX_broadcasts_start_at', ['startAt'])
@Index('IDX_broadcasts_created_at', ['createdAt'])
@Index('UQ_broadcasts_schedule_fire', ['scheduleId', 'fireAt'], { unique: true })
@Index('UQ_broadcasts_request_key', ['requestKey'], { unique: true })
@Index('IDX_broadcasts_resend_of', ['resendOf'])
export class BroadcastEntity {
  @PrimaryColumn({ type: 'varchar', length: 36 })
  id!: string;

  @Column({ type: 'varchar', length: 200 })
  title!: string;

  @Column({ type: 'varchar', length: 36, name: 'clip_id' })
  clipId!: string;

  @ManyToOne(() => ClipEntity, { onDelete: 'RESTRICT', onUpdate: 'NO ACTION' })
  @JoinColumn({ name: 'clip_id', foreignKeyConstraintName: 'FK_broadcasts_clip' })
  clip?: ClipEntity;

  @Column({ type: 'varchar', length: 8 })
  level!: Level;

  /** The target as given (JSON). */
  @Column({ type: 'text' })
  target!: string;

  @Column({ ...timeColumn, name: 'start_at' })
  startAt!: number;

  @Column({ ...timeColumn, name: 'expires_at' })
  expiresAt!: number;

  @Column({ type: 'integer' })
  repeat!: number;

  @Column({ type: 'integer', nullable: true })
  volume!: number | null;

  @Column({ type: 'boolean', name: 'attention_tone' })
  attentionTone!: boolean;

  @Column({ type: 'varchar', length: 16 })
  status!: BroadcastStatus;

  /** The audio the devices get (the clip, or it with an attention tone), fixed at dispatch. */
  @Column({ type: 'varchar', length: 64, name: 'audio_sha256', nullable: true })
  audioSha256!: string | null;

  @Column({ type: 'integer', name: 'audio_bytes', nullable: true })
  audioBytes!: number | null;

  @Column({ type: 'integer', name: 'audio_duration_ms', nullable: true })
  audioDurationMs!: number | null;

  @Column({ type: 'varchar', length: 36, name: 'schedule_id', nullable: true })
  scheduleId!: string | null;

  @Column({ ...timeColumn, name: 'fire_at', nullable: true })
  fireAt!: number | null;

  @Column({ type: 'varchar', length: 100, name: 'created_by' })
  createdBy!: string;

  /** SHA-256 of who sent it and their Idempotency-Key: a repeat of the request finds this one. */
  @Column({ type: 'varchar', length: 64, name: 'request_key', nullable: true })
  requestKey!: string | null;

  /** The broadcast this one was resent for: it targets the villages that one did not cover. */
  @Column({ type: 'varchar', length: 36, name: 'resend_of', nullable: true })
  resendOf!: string | null;

  @Column({ type: 'varchar', length: 200, name: 'end_reason', nullable: true })
  endReason!: string | null;

  /** Who approved it as the second person (its draft is `draftId`), when its level needed that. */
  @Column({ type: 'varchar', length: 100, name: 'approved_by', nullable: true })
  approvedBy!: string | null;

  @Column({ ...timeColumn, name: 'approved_at', nullable: true })
  approvedAt!: number | null;

  /** The draft it was approved from. */
  @Column({ type: 'varchar', length: 36, name: 'draft_id', nullable: true })
  draftId!: string | null;

  /** Why it went out without a second person although its level needs one (emergency override). */
  @Column({ type: 'varchar', length: 500, name: 'override_reason', nullable: true })
  overrideReason!: string | null;

  /** The token that cancelled it (its reason is `endReason`). */
  @Column({ type: 'varchar', length: 100, name: 'cancelled_by', nullable: true })
  cancelledBy!: string | null;

  @Column({ ...timeColumn, name: 'created_at' })
  createdAt!: number;

  @Column({ ...timeColumn, name: 'updated_at' })
  updatedAt!: number;

  @Column({ ...timeColumn, name: 'dispatched_at', nullable: true })
  dispatchedAt!: number | null;

  @Column({ ...timeColumn, name: 'ended_at', nullable: true })
  endedAt!: number | null;

  /** Set when the broadcast ends; kept up to date by later manual confirmations. */
  @Column({ type: 'varchar', length: 24, nullable: true })
  outcome!: BroadcastOutcome | null;

  /**
   * When it ended: how long after its start half, 90% and all of the targeted villages first
   * sounded (a device reported `playing`), and had it played through (`played`); null where that
   * share was never reached. Kept so period reports need not read every delivery again. BIGINT
   * like the times: a broadcast may run for weeks, past what an INTEGER of ms holds.
   */
  @Column({ ...timeColumn, name: 'first_sound_p50_ms', nullable: true })
  firstSoundP50Ms!: number | null;

  @Column({ ...timeColumn, name: 'first_sound_p90_ms', nullable: true })
  firstSoundP90Ms!: number | null;

  @Column({ ...timeColumn, name: 'first_sound_p100_ms', nullable: true })
  firstSoundP100Ms!: number | null;

  @Column({ ...timeColumn, name: 'played_p50_ms', nullable: true })
  playedP50Ms!: number | null;

  @Column({ ...timeColumn, name: 'played_p90_ms', nullable: true })
  playedP90Ms!: number | null;

  @Column({ ...timeColumn, name: 'played_p100_ms', nullable: true })
  playedP100Ms!: number | null;
}

/** The villages a broadcast targeted, fixed at dispatch (for coverage). */
@Entity('broadcast_villages')
@Index('IDX_broadcast_villages_village', ['villageCode'])
export class BroadcastVillageEntity {
  @PrimaryColumn({ type: 'varchar', length: 36, name: 'broadcast_id' })
  broadcastId!: string;

  @PrimaryColumn({ type: 'varchar', length: 12, name: 'village_code' })
  villageCode!: string;

  @ManyToOne(() => BroadcastEntity, { onDelete: 'CASCADE', onUpdate: 'NO ACTION' })
  @JoinColumn({ name: 'broadcast_id', foreignKeyConstraintName: 'FK_broadcast_villages_broadcast' })
  broadcast?: BroadcastEntity;
}

/** One device's part of one broadcast. */
@Entity('deliveries')
@Index('IDX_deliveries_broadcast_state', ['broadcastId', 'state'])
@Index('IDX_deliveries_device_state', ['deviceId', 'state'])
@Index('IDX_deliveries_state_next_send', ['state', 'nextSendAt'])
/** Covering index for a broadcast's coverage: GROUP BY village, type, state reads nothing else. */
@Index('IDX_deliveries_coverage', [
  'broadcastId',
  'villageCode',
  'deviceType',
  'state',
  'sentAt',
  'startedAt',
  'playedAt',
  'heldUntil',
])
/** "Did a device of this village play anything in [from, to)?": one probe per village. */
@Index('IDX_deliveries_village_played', ['villageCode', 'playedAt'])
/** "Which deliveries did quiet hours hold past the expiry?": a range per broadcast, few entries. */
@Index('IDX_deliveries_held', ['broadcastId', 'heldUntil', 'villageCode'])
export class DeliveryEntity {
  @PrimaryColumn({ type: 'varchar', length: 36 })
  id!: string;

  @Column({ type: 'varchar', length: 36, name: 'broadcast_id' })
  broadcastId!: string;

  @ManyToOne(() => BroadcastEntity, { onDelete: 'CASCADE', onUpdate: 'NO ACTION' })
  @JoinColumn({ name: 'broadcast_id', foreignKeyConstraintName: 'FK_deliveries_broadcast' })
  broadcast?: BroadcastEntity;

  @Column({ type: 'varchar', length: 64, name: 'device_id' })
  deviceId!: string;

  @ManyToOne(() => DeviceEntity, { onDelete: 'RESTRICT', onUpdate: 'NO ACTION' })
  @JoinColumn({ name: 'device_id', foreignKeyConstraintName: 'FK_deliveries_device' })
  device?: DeviceEntity;

  @Column({ type: 'varchar', length: 12, name: 'village_code' })
  villageCode!: string;

  /** The device's type when the broadcast was dispatched (null for deliveries made before it was kept). */
  @Column({ type: 'varchar', length: 32, name: 'device_type', nullable: true })
  deviceType!: DeviceType | null;

  @Column({ type: 'varchar', length: 16 })
  state!: DeliveryState;

  @Column({ type: 'varchar', length: 200, nullable: true })
  reason!: string | null;

  /** Times a play command was sent (first sends, resends and resumptions alike). */
  @Column({ type: 'integer' })
  attempts!: number;

  /** Sends of the current command (the first, or the latest resumption): its resend back-off. */
  @Column({ type: 'integer', name: 'command_sends', default: 0 })
  commandSends!: number;

  /** Resumptions after the device reported it `preempted`; the play command carries the latest. */
  @Column({ type: 'integer', default: 0 })
  resumes!: number;

  /**
   * Set when quiet hours hold a routine delivery: the end of the village's quiet hours, which the
   * play command carries as `notBefore` (past the broadcast's expiry when it could never play).
   */
  @Column({ ...timeColumn, name: 'held_until', nullable: true })
  heldUntil!: number | null;

  /** When to send (again) if nothing is heard; null while waiting for the device to come online. */
  @Column({ ...timeColumn, name: 'next_send_at', nullable: true })
  nextSendAt!: number | null;

  @Column({ ...timeColumn, name: 'sent_at', nullable: true })
  sentAt!: number | null;

  @Column({ ...timeColumn, name: 'received_at', nullable: true })
  receivedAt!: number | null;

  /** When the device first said it began playing (`playing`): the time to first sound. */
  @Column({ ...timeColumn, name: 'started_at', nullable: true })
  startedAt!: number | null;

  @Column({ ...timeColumn, name: 'played_at', nullable: true })
  playedAt!: number | null;

  @Column({ ...timeColumn, name: 'updated_at' })
  updatedAt!: number;
}

/** Every change of a delivery, appended, with where it came from and both clocks. */
@Entity('delivery_events')
@Index('IDX_delivery_events_delivery', ['deliveryId'])
export class DeliveryEventEntity {
  @PrimaryGeneratedColumn({ type: 'integer' })
  id!: number;

  @Column({ type: 'varchar', length: 36, name: 'delivery_id' })
  deliveryId!: string;

  @Column({ type: 'varchar', length: 16, name: 'from_state' })
  fromState!: DeliveryState;

  @Column({ type: 'varchar', length: 16, name: 'to_state' })
  toState!: DeliveryState;

  @Column({ type: 'varchar', length: 8 })
  source!: DeliveryEventSource;

  @Column({ ...timeColumn, name: 'device_ts', nullable: true })
  deviceTs!: number | null;

  @Column({ ...timeColumn, name: 'server_ts' })
  serverTs!: number;

  @Column({ type: 'varchar', length: 200, nullable: true })
  reason!: string | null;

  /** A protocol anomaly the device's report showed, e.g. required steps it left out. */
  @Column({ type: 'varchar', length: 100, nullable: true })
  anomaly!: string | null;

  /**
   * Protocol 1.1: the device's own proof of this event, canonical JSON `{alg, publicKey, signed,
   * sig}` (`signed` the exact text its key signed); null for events the device did not sign.
   */
  @Column({ type: 'text', name: 'device_proof', nullable: true })
  deviceProof?: string | null;
}

/** Staff confirming by hand that a village (or one device) played a broadcast. */
@Entity('manual_confirmations')
@Index('IDX_manual_confirmations_broadcast', ['broadcastId'])
export class ManualConfirmationEntity {
  @PrimaryColumn({ type: 'varchar', length: 36 })
  id!: string;

  @Column({ type: 'varchar', length: 36, name: 'broadcast_id' })
  broadcastId!: string;

  @ManyToOne(() => BroadcastEntity, { onDelete: 'CASCADE', onUpdate: 'NO ACTION' })
  @JoinColumn({
    name: 'broadcast_id',
    foreignKeyConstraintName: 'FK_manual_confirmations_broadcast',
  })
  broadcast?: BroadcastEntity;

  @Column({ type: 'varchar', length: 12, name: 'village_code' })
  villageCode!: string;

  @Column({ type: 'varchar', length: 64, name: 'device_id', nullable: true })
  deviceId!: string | null;

  @Column({ ...timeColumn, name: 'confirmed_at' })
  confirmedAt!: number;

  @Column({ type: 'varchar', length: 100, name: 'confirmed_by' })
  confirmedBy!: string;

  @Column({ type: 'varchar', length: 500, nullable: true })
  note!: string | null;

  /** How the village heard it; null for confirmations recorded before it was asked. */
  @Column({ type: 'varchar', length: 24, nullable: true })
  method!: ConfirmationMethod | null;

  /** The token that recorded it (`confirmedBy` is whoever staff named). */
  @Column({ type: 'varchar', length: 100, name: 'recorded_by', nullable: true })
  recordedBy!: string | null;

  /** Set when an admin withdrew it: it then counts for nothing, and stays on record. */
  @Column({ ...timeColumn, name: 'withdrawn_at', nullable: true })
  withdrawnAt!: number | null;

  @Column({ type: 'varchar', length: 100, name: 'withdrawn_by', nullable: true })
  withdrawnBy!: string | null;

  @Column({ type: 'varchar', length: 200, name: 'withdraw_reason', nullable: true })
  withdrawReason!: string | null;

  @Column({ ...timeColumn, name: 'created_at' })
  createdAt!: number;
}
