import { Column, Entity, Index, PrimaryColumn } from 'typeorm';
import { timeColumn } from '../database/columns.js';
import type { EvidenceKind } from './evidence-hash.js';

/**
 * One entry of the evidence hash chain (docs/evidence.md): what a row said when it was written,
 * linked to the entry before it by hash, so a row or an entry changed afterwards shows.
 */
@Entity('evidence_entries')
@Index('IDX_evidence_entries_broadcast', ['broadcastId', 'seq'])
@Index('IDX_evidence_entries_at', ['at'])
export class EvidenceEntryEntity {
  /** 1, 2, 3… with no gap: BIGINT (as times), since a province writes millions a month. */
  @PrimaryColumn({ ...timeColumn })
  seq!: number;

  @Column({ ...timeColumn })
  at!: number;

  @Column({ type: 'varchar', length: 24 })
  kind!: EvidenceKind;

  @Column({ type: 'varchar', length: 36, name: 'broadcast_id' })
  broadcastId!: string;

  /** The delivery id, the confirmation id, or the broadcast id (cancel, approval). */
  @Column({ type: 'varchar', length: 64 })
  subject!: string;

  /** The canonical JSON (RFC 8785) of the row's evidential fields. */
  @Column({ type: 'text' })
  body!: string;

  @Column({ type: 'varchar', length: 64, name: 'prev_hash' })
  prevHash!: string;

  @Column({ type: 'varchar', length: 64 })
  hash!: string;
}
