import { Column, Entity, PrimaryColumn } from 'typeorm';
import type { Level } from '../contract/messages.js';
import { timeColumn } from '../database/columns.js';

/**
 * The station's rule for one level: whether a broadcast of it needs a second person to approve it,
 * and how long a draft may wait for that before it expires. One row per level, seeded by the
 * migration (I and II need approval).
 */
@Entity('approval_rules')
export class ApprovalRuleEntity {
  @PrimaryColumn({ type: 'varchar', length: 8 })
  level!: Level;

  @Column({ type: 'boolean', name: 'needs_approval' })
  needsApproval!: boolean;

  @Column({ type: 'integer', name: 'max_wait_s' })
  maxWaitS!: number;

  @Column({ type: 'varchar', length: 100, name: 'updated_by', nullable: true })
  updatedBy!: string | null;

  @Column({ ...timeColumn, name: 'updated_at', nullable: true })
  updatedAt!: number | null;
}
