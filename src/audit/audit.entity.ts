import { Column, Entity, Index, PrimaryGeneratedColumn } from 'typeorm';
import { timeColumn } from '../database/columns.js';

/** Who changed, created, cancelled or confirmed what, and when. Append-only. */
@Entity('audit_log')
@Index('IDX_audit_log_at', ['at'])
export class AuditEntity {
  @PrimaryGeneratedColumn({ type: 'integer' })
  id!: number;

  @Column(timeColumn)
  at!: number;

  /** The person (display name), the token's name when no person owns it, or `scheduler`/`system`. */
  @Column({ type: 'varchar', length: 100 })
  actor!: string;

  @Column({ type: 'varchar', length: 16, name: 'actor_role', nullable: true })
  actorRole!: string | null;

  /** The person's user id, when a person acted. */
  @Column({ type: 'varchar', length: 36, name: 'actor_user_id', nullable: true })
  actorUserId!: string | null;

  /** The token's name when a machine acted for the person (or for itself). */
  @Column({ type: 'varchar', length: 100, name: 'via_token', nullable: true })
  viaToken!: string | null;

  /** e.g. `POST /api/broadcasts/:id/cancel`, `schedule.fired`. */
  @Column({ type: 'varchar', length: 120 })
  action!: string;

  @Column({ type: 'varchar', length: 120, name: 'subject', nullable: true })
  subject!: string | null;

  @Column({ type: 'integer', nullable: true })
  status!: number | null;

  /** What was sent (secrets removed), shortened. */
  @Column({ type: 'text', nullable: true })
  detail!: string | null;

  @Column({ type: 'varchar', length: 64, name: 'request_id', nullable: true })
  requestId!: string | null;
}
