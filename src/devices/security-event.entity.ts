import { Column, Entity, Index, PrimaryGeneratedColumn } from 'typeorm';
import type { SecurityEventKind } from '../contract/security-reasons.js';
import { epochMs, timeColumn } from '../database/columns.js';

/**
 * One security event of a device: a command it refused (its `rejected` event) or something of it
 * the server refused. No foreign key to `devices`: the record outlives the device, as an audit
 * trail should, and a batch is never refused for a device deleted meanwhile.
 */
@Entity('security_events')
@Index('IDX_security_events_device_at', ['deviceId', 'at'])
@Index('IDX_security_events_at', ['at'])
export class SecurityEventEntity {
  @PrimaryGeneratedColumn({ type: 'integer' })
  id!: number;

  @Column({ type: 'varchar', length: 64, name: 'device_id' })
  deviceId!: string;

  /** Server receipt time. */
  @Column({ ...timeColumn })
  at!: number;

  @Column({ type: 'varchar', length: 32 })
  kind!: SecurityEventKind;

  /** For `command_rejected` the device's reason code (section 9.3); otherwise the kind again. */
  @Column({ type: 'varchar', length: 32 })
  reason!: string;

  @Column({ type: 'varchar', length: 200, nullable: true })
  detail!: string | null;

  /** The refused command's `id`, when it had a valid one. */
  @Column({ type: 'varchar', length: 64, name: 'command_id', nullable: true })
  commandId!: string | null;

  /** The `seq` the refused command carried (up to 2^53 - 1, hence BIGINT). */
  @Column({ type: 'bigint', nullable: true, transformer: epochMs })
  seq!: number | null;

  @Column({ type: 'varchar', length: 64, nullable: true })
  kid!: string | null;
}
