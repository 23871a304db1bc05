import { Column, Entity, Index, JoinColumn, ManyToOne, PrimaryColumn } from 'typeorm';
import { timeColumn } from '../database/columns.js';

export const CLIP_STATUSES = ['processing', 'ready', 'failed'] as const;
export type ClipStatus = (typeof CLIP_STATUSES)[number];

/** An uploaded recording and its delivery-format audio (stored by SHA-256). */
@Entity('clips')
@Index('IDX_clips_source_sha256', ['sourceSha256'])
@Index('IDX_clips_sha256', ['sha256'])
export class ClipEntity {
  @PrimaryColumn({ type: 'varchar', length: 36 })
  id!: string;

  @Column({ type: 'varchar', length: 200 })
  title!: string;

  @Column({ type: 'varchar', length: 16 })
  status!: ClipStatus;

  @Column({ type: 'varchar', length: 500, name: 'failure_reason', nullable: true })
  failureReason!: string | null;

  /**
   * SHA-256 of the uploaded file, to recognise the same upload again; of a clip joined from others,
   * of their audio (`joinedSource` in clips.service.ts).
   */
  @Column({ type: 'varchar', length: 64, name: 'source_sha256' })
  sourceSha256!: string;

  /** The client's file name, as a label only (never a path). */
  @Column({ type: 'varchar', length: 255, name: 'original_name', nullable: true })
  originalName!: string | null;

  @Column({ type: 'varchar', length: 200, name: 'original_format', nullable: true })
  originalFormat!: string | null;

  @Column({ type: 'integer', name: 'original_bytes' })
  originalBytes!: number;

  /** SHA-256 of the delivery-format MP3; null until processed. */
  @Column({ type: 'varchar', length: 64, nullable: true })
  sha256!: string | null;

  @Column({ type: 'integer', nullable: true })
  bytes!: number | null;

  @Column({ type: 'integer', name: 'duration_ms', nullable: true })
  durationMs!: number | null;

  @Column({ type: 'double precision', name: 'loudness_before_lufs', nullable: true })
  loudnessBeforeLufs!: number | null;

  @Column({ type: 'double precision', name: 'loudness_after_lufs', nullable: true })
  loudnessAfterLufs!: number | null;

  @Column({ type: 'double precision', name: 'true_peak_after_db', nullable: true })
  truePeakAfterDb!: number | null;

  @Column({ type: 'varchar', length: 100, name: 'created_by' })
  createdBy!: string;

  @Column({ ...timeColumn, name: 'created_at' })
  createdAt!: number;

  @Column({ ...timeColumn, name: 'updated_at' })
  updatedAt!: number;
}

/** A clip rendered with an attention tone in front, made once per (clip, tone). */
@Entity('clip_renditions')
export class ClipRenditionEntity {
  @PrimaryColumn({ type: 'varchar', length: 36, name: 'clip_id' })
  clipId!: string;

  @PrimaryColumn({ type: 'varchar', length: 16 })
  tone!: string;

  @ManyToOne(() => ClipEntity, { onDelete: 'CASCADE', onUpdate: 'NO ACTION' })
  @JoinColumn({ name: 'clip_id', foreignKeyConstraintName: 'FK_clip_renditions_clip' })
  clip?: ClipEntity;

  @Column({ type: 'varchar', length: 64 })
  sha256!: string;

  @Column({ type: 'integer' })
  bytes!: number;

  @Column({ type: 'integer', name: 'duration_ms' })
  durationMs!: number;

  @Column({ ...timeColumn, name: 'created_at' })
  createdAt!: number;
}
