import { Column, Entity, Index, PrimaryColumn } from 'typeorm';
import { timeColumn } from '../database/columns.js';

/** A broadcast's CAP messages: its Alert, and its Cancel once it is cancelled. */
export type CapMessageKind = 'alert' | 'cancel';

/** The identifier a broadcast's CAP message was first published under (cap-out.ts). */
@Entity('cap_messages')
@Index('UQ_cap_messages_identifier', ['identifier'], { unique: true })
export class CapMessageEntity {
  @PrimaryColumn({ type: 'varchar', length: 36, name: 'broadcast_id' })
  broadcastId!: string;

  @PrimaryColumn({ type: 'varchar', length: 8 })
  kind!: CapMessageKind;

  @Column({ type: 'varchar', length: 64 })
  identifier!: string;

  @Column({ ...timeColumn, name: 'created_at' })
  createdAt!: number;
}
