import { Column, Entity, Index, PrimaryColumn } from 'typeorm';
import type { Level } from '../contract/messages.js';
import { timeColumn } from '../database/columns.js';

/** What a draft asks for once approved. */
export const DRAFT_KINDS = ['broadcast', 'schedule.create', 'schedule.update'] as const;
export type DraftKind = (typeof DRAFT_KINDS)[number];

/**
 * `approving` is the moment between an approval and its broadcast or schedule existing: a restart
 * finishes it (the broadcast is created with the draft as its idempotency key, so never twice).
 */
export const DRAFT_STATUSES = [
  'pending',
  'approving',
  'approved',
  'rejected',
  'expired',
  'withdrawn',
] as const;
export type DraftStatus = (typeof DRAFT_STATUSES)[number];

/** A broadcast or schedule of a level that needs a second person, waiting for them (CAP `Draft`). */
@Entity('drafts')
@Index('IDX_drafts_status_expires', ['status', 'expiresAt'])
export class DraftEntity {
  @PrimaryColumn({ type: 'varchar', length: 36 })
  id!: string;

  @Column({ type: 'varchar', length: 16 })
  kind!: DraftKind;

  @Column({ type: 'varchar', length: 16 })
  status!: DraftStatus;

  @Column({ type: 'varchar', length: 8 })
  level!: Level;

  @Column({ type: 'varchar', length: 200 })
  title!: string;

  /** The request as it will be made (JSON): a broadcast, a schedule, or a schedule's changes. */
  @Column({ type: 'text' })
  payload!: string;

  /** The schedule a `schedule.update` changes. */
  @Column({ type: 'varchar', length: 36, name: 'schedule_id', nullable: true })
  scheduleId!: string | null;

  @Column({ type: 'varchar', length: 100, name: 'drafted_by' })
  draftedBy!: string;

  @Column({ type: 'varchar', length: 36, name: 'drafted_by_user_id', nullable: true })
  draftedByUserId!: string | null;

  /** The drafter's phone when drafted: the approver's must differ. */
  @Column({ type: 'varchar', length: 32, name: 'drafted_by_phone', nullable: true })
  draftedByPhone!: string | null;

  @Column({ ...timeColumn, name: 'created_at' })
  createdAt!: number;

  /** After this nobody can approve it; it ends `expired`. */
  @Column({ ...timeColumn, name: 'expires_at' })
  expiresAt!: number;

  @Column({ type: 'varchar', length: 100, name: 'decided_by', nullable: true })
  decidedBy!: string | null;

  @Column({ type: 'varchar', length: 36, name: 'decided_by_user_id', nullable: true })
  decidedByUserId!: string | null;

  @Column({ ...timeColumn, name: 'decided_at', nullable: true })
  decidedAt!: number | null;

  /** Why it was rejected or withdrawn. */
  @Column({ type: 'varchar', length: 500, nullable: true })
  reason!: string | null;

  /** The broadcast or schedule it became. */
  @Column({ type: 'varchar', length: 36, name: 'result_id', nullable: true })
  resultId!: string | null;
}
