import { Column, Entity, JoinColumn, ManyToOne, PrimaryColumn } from 'typeorm';
import { timeColumn } from '../database/columns.js';

/** A recurring broadcast: the row is the schedule; a tick claims its due firings. */
@Entity('schedules')
export class ScheduleEntity {
  @PrimaryColumn({ type: 'varchar', length: 36 })
  id!: string;

  @Column({ type: 'varchar', length: 200 })
  name!: string;

  @Column({ type: 'varchar', length: 100 })
  cron!: string;

  @Column({ type: 'varchar', length: 64, name: 'time_zone' })
  timeZone!: string;

  @Column({ type: 'boolean' })
  enabled!: boolean;

  /** The broadcast each firing creates (JSON). */
  @Column({ type: 'text' })
  template!: string;

  /** Firings up to here have been handled. */
  @Column({ ...timeColumn, name: 'last_fire_at', nullable: true })
  lastFireAt!: number | null;

  /** Who approved its current template as the second person, when its level needs that. */
  @Column({ type: 'varchar', length: 100, name: 'approved_by', nullable: true })
  approvedBy!: string | null;

  @Column({ ...timeColumn, name: 'approved_at', nullable: true })
  approvedAt!: number | null;

  @Column({ type: 'varchar', length: 100, name: 'created_by' })
  createdBy!: string;

  @Column({ ...timeColumn, name: 'created_at' })
  createdAt!: number;

  @Column({ ...timeColumn, name: 'updated_at' })
  updatedAt!: number;
}

/** One firing of a schedule. The primary key makes each firing happen once, whatever the servers. */
@Entity('schedule_firings')
export class ScheduleFiringEntity {
  @PrimaryColumn({ type: 'varchar', length: 36, name: 'schedule_id' })
  scheduleId!: string;

  @PrimaryColumn({ ...timeColumn, name: 'fire_at' })
  fireAt!: number;

  @ManyToOne(() => ScheduleEntity, { onDelete: 'CASCADE', onUpdate: 'NO ACTION' })
  @JoinColumn({ name: 'schedule_id', foreignKeyConstraintName: 'FK_schedule_firings_schedule' })
  schedule?: ScheduleEntity;

  /** `fired` (a broadcast was created), `missed` (too late when the server got to it), `failed`. */
  @Column({ type: 'varchar', length: 16 })
  outcome!: 'fired' | 'missed' | 'failed';

  @Column({ type: 'varchar', length: 36, name: 'broadcast_id', nullable: true })
  broadcastId!: string | null;

  @Column({ type: 'varchar', length: 300, nullable: true })
  reason!: string | null;

  @Column({ ...timeColumn, name: 'created_at' })
  createdAt!: number;
}
