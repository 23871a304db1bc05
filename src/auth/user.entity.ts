import { Column, Entity, Index, JoinColumn, ManyToOne, PrimaryColumn } from 'typeorm';
import { timeColumn } from '../database/columns.js';
import type { Role } from './roles.js';

/** A person on the station's staff. Only an Argon2id hash of the password is stored. */
@Entity('users')
export class UserEntity {
  @PrimaryColumn({ type: 'varchar', length: 36 })
  id!: string;

  /** Lower case, unique: what the person types to sign in. */
  @Index('UQ_users_username', { unique: true })
  @Column({ type: 'varchar', length: 64 })
  username!: string;

  @Column({ type: 'varchar', length: 100, name: 'display_name' })
  displayName!: string;

  /** Digits only (a leading + kept), or null. */
  @Index('IDX_users_phone')
  @Column({ type: 'varchar', length: 32, nullable: true })
  phone!: string | null;

  @Column({ type: 'varchar', length: 16 })
  role!: Role;

  @Column({ type: 'varchar', length: 200, name: 'password_hash', select: false })
  passwordHash?: string;

  /** Set for an account whose password was made by the server (first start, reset): it must be changed before anything else. */
  @Column({ type: 'boolean', name: 'must_change_password' })
  mustChangePassword!: boolean;

  /** Wrong passwords in a row from browsers the account has not signed in from. */
  @Column({ type: 'integer', name: 'failed_logins' })
  failedLogins!: number;

  /** Until when sign-in from such browsers waits; never more than the configured maximum ahead. */
  @Column({ ...timeColumn, name: 'locked_until', nullable: true })
  lockedUntil!: number | null;

  @Column({ ...timeColumn, name: 'password_changed_at' })
  passwordChangedAt!: number;

  @Column({ ...timeColumn, name: 'last_login_at', nullable: true })
  lastLoginAt!: number | null;

  @Column({ ...timeColumn, name: 'disabled_at', nullable: true })
  disabledAt!: number | null;

  @Column({ type: 'varchar', length: 100, name: 'created_by' })
  createdBy!: string;

  @Column({ ...timeColumn, name: 'created_at' })
  createdAt!: number;

  @Column({ ...timeColumn, name: 'updated_at' })
  updatedAt!: number;
}

/** The towns a town official acts for (none for county roles). */
@Entity('user_towns')
@Index('IDX_user_towns_town', ['townCode'])
export class UserTownEntity {
  @PrimaryColumn({ type: 'varchar', length: 36, name: 'user_id' })
  userId!: string;

  @PrimaryColumn({ type: 'varchar', length: 9, name: 'town_code' })
  townCode!: string;

  @ManyToOne(() => UserEntity, { onDelete: 'CASCADE', onUpdate: 'NO ACTION' })
  @JoinColumn({ name: 'user_id', foreignKeyConstraintName: 'FK_user_towns_user' })
  user?: UserEntity;
}

/**
 * A signed-in browser. The cookie holds 256 random bits; only their SHA-256 is stored (the id), so
 * a copy of the database signs nobody in.
 */
@Entity('sessions')
@Index('IDX_sessions_user', ['userId'])
export class SessionEntity {
  /** SHA-256 (hex) of the cookie's value. */
  @PrimaryColumn({ type: 'varchar', length: 64 })
  id!: string;

  @Column({ type: 'varchar', length: 36, name: 'user_id' })
  userId!: string;

  @ManyToOne(() => UserEntity, { onDelete: 'CASCADE', onUpdate: 'NO ACTION' })
  @JoinColumn({ name: 'user_id', foreignKeyConstraintName: 'FK_sessions_user' })
  user?: UserEntity;

  /** The synchroniser token every cookie-authenticated change must echo in `X-CSRF-Token`. */
  @Column({ type: 'varchar', length: 64, name: 'csrf_token' })
  csrfToken!: string;

  @Column({ ...timeColumn, name: 'created_at' })
  createdAt!: number;

  /** Written at most once a minute; the idle expiry counts from here. */
  @Column({ ...timeColumn, name: 'last_seen_at' })
  lastSeenAt!: number;

  /** The absolute expiry, however active the session is. */
  @Column({ ...timeColumn, name: 'expires_at' })
  expiresAt!: number;

  @Column({ ...timeColumn, name: 'revoked_at', nullable: true })
  revokedAt!: number | null;

  @Column({ type: 'varchar', length: 64, nullable: true })
  address!: string | null;

  @Column({ type: 'varchar', length: 200, name: 'user_agent', nullable: true })
  userAgent!: string | null;
}
