import { Column, Entity, Index, PrimaryColumn } from 'typeorm';
import { timeColumn } from '../database/columns.js';
import type { Role } from './roles.js';

/** An API token for a machine or script, owned by a person or a named system. Only the SHA-256 of the token is stored. */
@Entity('api_tokens')
export class ApiTokenEntity {
  @PrimaryColumn({ type: 'varchar', length: 36 })
  id!: string;

  @Column({ type: 'varchar', length: 100 })
  name!: string;

  @Column({ type: 'varchar', length: 16 })
  role!: Role;

  @Index('UQ_api_tokens_token_hash', { unique: true })
  @Column({ type: 'varchar', length: 64, name: 'token_hash', select: false })
  tokenHash?: string;

  /** The first characters of the token, enough to recognise it in a list. */
  @Column({ type: 'varchar', length: 16, name: 'token_prefix' })
  tokenPrefix!: string;

  /** The person the token acts for (their towns limit it), or null for a named system (the token's name). */
  @Column({ type: 'varchar', length: 36, name: 'owner_user_id', nullable: true })
  ownerUserId!: string | null;

  @Column({ type: 'varchar', length: 100, name: 'created_by' })
  createdBy!: string;

  @Column({ ...timeColumn, name: 'created_at' })
  createdAt!: number;

  @Column({ ...timeColumn, name: 'last_used_at', nullable: true })
  lastUsedAt!: number | null;

  @Column({ ...timeColumn, name: 'revoked_at', nullable: true })
  revokedAt!: number | null;
}
