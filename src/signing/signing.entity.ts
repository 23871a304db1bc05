import { Column, Entity, Index, PrimaryColumn } from 'typeorm';
import { epochMs, timeColumn } from '../database/columns.js';
import type { SignatureAlgorithm } from '../contract/signing.js';

/** Where a key is in its life: signing now, still accepted until `retireAt`, or never again. */
export const KEY_STATUSES = ['active', 'retiring', 'revoked'] as const;
export type KeyStatus = (typeof KEY_STATUSES)[number];

/**
 * One of the server's command-signing keys. The private key is stored here (not in a file) so
 * every server on the database signs with the same key; it is `select: false`, read only by the
 * one query that loads keys for signing, and never leaves the signing module.
 */
@Entity('server_keys')
@Index('UQ_server_keys_active', ['status'], { unique: true, where: "status = 'active'" })
export class ServerKeyEntity {
  @PrimaryColumn({ type: 'varchar', length: 64 })
  kid!: string;

  @Column({ type: 'varchar', length: 16 })
  alg!: SignatureAlgorithm;

  /** base64url, as the contract encodes it. */
  @Column({ type: 'varchar', length: 100, name: 'public_key' })
  publicKey!: string;

  /** base64url seed (Ed25519) or scalar (SM2). A secret. */
  @Column({ type: 'varchar', length: 100, name: 'private_key', select: false })
  privateKey?: string;

  @Column({ type: 'varchar', length: 16 })
  status!: KeyStatus;

  @Column({ ...timeColumn, name: 'created_at' })
  createdAt!: number;

  /** A retiring key is accepted by devices until then. */
  @Column({ ...timeColumn, name: 'retire_at', nullable: true })
  retireAt!: number | null;

  @Column({ ...timeColumn, name: 'revoked_at', nullable: true })
  revokedAt!: number | null;

  /** The key that was active when this one was made, and its signature over this key. */
  @Column({ type: 'varchar', length: 64, name: 'endorsed_by', nullable: true })
  endorsedBy!: string | null;

  @Column({ type: 'varchar', length: 100, nullable: true })
  endorsement!: string | null;
}

/** The last `seq` handed out per device: the next command to it carries a higher one. */
@Entity('command_sequences')
export class CommandSequenceEntity {
  @PrimaryColumn({ type: 'varchar', length: 64, name: 'device_id' })
  deviceId!: string;

  // BIGINT comes back from PostgreSQL as a string; seqs stay below 2^53 (the contract's MAX_SEQ).
  @Column({ type: 'bigint', name: 'last_seq', transformer: epochMs })
  lastSeq!: number;
}
