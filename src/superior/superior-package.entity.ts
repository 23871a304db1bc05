import { Column, Entity, Index, PrimaryColumn } from 'typeorm';
import { timeColumn } from '../database/columns.js';

export const PACKAGE_DIRECTIONS = ['out', 'in'] as const;
export type PackageDirection = (typeof PACKAGE_DIRECTIONS)[number];

/**
 * `pending` waits for its next attempt; `sent` was answered with a receipt (`result_code`);
 * `failed` gave up after the last attempt or was refused by the superior; an inbound package is
 * `received` (and answered) or `refused`.
 */
export const PACKAGE_STATUSES = ['pending', 'sent', 'failed', 'received', 'refused'] as const;
export type PackageStatus = (typeof PACKAGE_STATUSES)[number];

/** Every package exchanged with the superior platform, both ways, with its receipt. */
@Entity('superior_packages')
@Index('IDX_superior_packages_due', ['status', 'nextAttemptAt'])
@Index('UQ_superior_packages_ebd', ['direction', 'ebdId'], { unique: true })
export class SuperiorPackageEntity {
  @PrimaryColumn({ type: 'varchar', length: 36 })
  id!: string;

  /** The package's own id (EBDID), unique per direction. */
  @Column({ type: 'varchar', length: 64, name: 'ebd_id' })
  ebdId!: string;

  @Column({ type: 'varchar', length: 4 })
  direction!: PackageDirection;

  /** EBM, EBMStateResponse, EBRDTState, EBMBrdLog, ConnectionCheck, EBDResponse... */
  @Column({ type: 'varchar', length: 32 })
  type!: string;

  /** What it is about: a broadcast id, a device id, an alert id. */
  @Column({ type: 'varchar', length: 64, nullable: true })
  subject!: string | null;

  @Column({ type: 'varchar', length: 16 })
  status!: PackageStatus;

  /** The signed package as sent or received (base64 when binary). */
  @Column({ type: 'text' })
  body!: string;

  @Column({ type: 'integer' })
  attempts!: number;

  @Column({ ...timeColumn, name: 'next_attempt_at', nullable: true })
  nextAttemptAt!: number | null;

  @Column({ type: 'varchar', length: 500, name: 'last_error', nullable: true })
  lastError!: string | null;

  /** The receipt (EBDResponse) as received or answered. */
  @Column({ type: 'text', nullable: true })
  receipt!: string | null;

  @Column({ type: 'varchar', length: 16, name: 'result_code', nullable: true })
  resultCode!: string | null;

  @Column({ ...timeColumn, name: 'created_at' })
  createdAt!: number;

  @Column({ ...timeColumn, name: 'updated_at' })
  updatedAt!: number;
}
