import {
  Column,
  Entity,
  Index,
  JoinColumn,
  ManyToOne,
  PrimaryColumn,
  PrimaryGeneratedColumn,
} from 'typeorm';
import { timeColumn } from '../database/columns.js';
import { DeviceEntity } from './device.entity.js';

/** What the server last knew of a device's connection and telemetry. One row per device that ever spoke. */
@Entity('device_presence')
export class DevicePresenceEntity {
  @PrimaryColumn({ type: 'varchar', length: 64, name: 'device_id' })
  deviceId!: string;

  @ManyToOne(() => DeviceEntity, { onDelete: 'CASCADE', onUpdate: 'NO ACTION' })
  @JoinColumn({ name: 'device_id', foreignKeyConstraintName: 'FK_device_presence_device' })
  device?: DeviceEntity;

  @Column({ type: 'boolean' })
  online!: boolean;

  /** The connection (`session` of its state message) the device is online with. */
  @Column({ type: 'varchar', length: 64, nullable: true })
  session!: string | null;

  @Column({ ...timeColumn, name: 'last_seen_at', nullable: true })
  lastSeenAt!: number | null;

  @Column({ ...timeColumn, name: 'online_since', nullable: true })
  onlineSince!: number | null;

  @Column({ type: 'varchar', length: 64, nullable: true })
  firmware!: string | null;

  /** Comma-separated, as the device listed them. */
  @Column({ type: 'varchar', length: 200, nullable: true })
  codecs!: string | null;

  @Column({ type: 'varchar', length: 32, name: 'reported_type', nullable: true })
  reportedType!: string | null;

  /** Signature algorithms its latest hello says it verifies commands with, comma-separated. */
  @Column({ type: 'varchar', length: 32, nullable: true })
  verifies!: string | null;

  @Column({ type: 'integer', nullable: true })
  volume!: number | null;

  /** The latest telemetry message's fields, as JSON. */
  @Column({ type: 'text', nullable: true })
  telemetry!: string | null;

  @Column({ ...timeColumn, name: 'telemetry_at', nullable: true })
  telemetryAt!: number | null;
}

/** One stretch of time a device was online; `endedAt` null while it still is. For availability reports. */
@Entity('presence_intervals')
@Index('IDX_presence_intervals_device_started', ['deviceId', 'startedAt'])
@Index('IDX_presence_intervals_ended', ['endedAt'])
@Index('UQ_presence_intervals_open', ['deviceId'], { unique: true, where: 'ended_at IS NULL' })
export class PresenceIntervalEntity {
  @PrimaryGeneratedColumn({ type: 'integer' })
  id!: number;

  @Column({ type: 'varchar', length: 64, name: 'device_id' })
  deviceId!: string;

  @ManyToOne(() => DeviceEntity, { onDelete: 'CASCADE', onUpdate: 'NO ACTION' })
  @JoinColumn({ name: 'device_id', foreignKeyConstraintName: 'FK_presence_intervals_device' })
  device?: DeviceEntity;

  @Column({ ...timeColumn, name: 'started_at' })
  startedAt!: number;

  @Column({ ...timeColumn, name: 'ended_at', nullable: true })
  endedAt!: number | null;

  /** `offline` (the device said so, or its Will), `timeout`, `reconnect`, `server_stop`, `server_restart`. */
  @Column({ type: 'varchar', length: 16, name: 'end_reason', nullable: true })
  endReason!: string | null;
}
