import { Injectable, Logger } from '@nestjs/common';
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { Clock } from '../common/clock.js';
import type { AppConfig } from '../config/app-config.js';
import { InjectConfig } from '../config/config.module.js';
import { AppMetaRepository } from '../database/app-meta.repository.js';
import { ApiTokensService } from './api-tokens.service.js';
import { DEVICE_COOKIE } from './cookies.js';
import type { Principal } from './auth.decorators.js';
import { isCountyRole } from './roles.js';
import { SessionsRepository } from './sessions.repository.js';
import { SessionEntity, UserEntity } from './user.entity.js';
import { UsersRepository } from './users.repository.js';

declare module 'express-serve-static-core' {
  interface Request {
    /** The signed-in session and its user, when the request was authenticated by cookie. */
    authSession?: { session: SessionEntity; user: UserEntity };
  }
}

/** last_seen_at is written at most this often for a session in steady use. */
const LAST_SEEN_RESOLUTION_MS = 60_000;
const DEVICE_SECRET_KEY = 'device_cookie_secret';

export type SessionCheck =
  | { ok: true; principal: Principal; session: SessionEntity; user: UserEntity }
  | { ok: false; why: 'unknown' | 'expired' };

export const hashSessionCookie = (value: string): string =>
  createHash('sha256').update(value, 'utf8').digest('hex');

/** Signed-in browsers: the cookie's hash is the session id; the user row holds who and what. */
@Injectable()
export class SessionsService {
  private readonly logger = new Logger('auth');
  private deviceSecret?: Promise<Buffer>;

  constructor(
    @InjectConfig() private readonly config: AppConfig,
    private readonly sessions: SessionsRepository,
    private readonly users: UsersRepository,
    private readonly tokens: ApiTokensService,
    private readonly meta: AppMetaRepository,
    private readonly clock: Clock,
  ) {}

  get idleTimeoutS(): number {
    return Math.round(this.config.auth.sessionIdleMs / 1000);
  }

  get maxAgeS(): number {
    return Math.round(this.config.auth.sessionMaxMs / 1000);
  }

  /** Opens a session; the cookie value is returned once and stored only as its hash. */
  async open(
    userId: string,
    client: { address: string | null; userAgent: string | null },
  ): Promise<{ cookie: string; session: SessionEntity }> {
    const cookie = randomBytes(32).toString('base64url');
    const now = this.clock.now().getTime();
    const session: SessionEntity = {
      id: hashSessionCookie(cookie),
      userId,
      csrfToken: randomBytes(32).toString('base64url'),
      createdAt: now,
      lastSeenAt: now,
      expiresAt: now + this.config.auth.sessionMaxMs,
      revokedAt: null,
      address: client.address?.slice(0, 64) ?? null,
      userAgent: client.userAgent?.slice(0, 200) ?? null,
    };
    await this.sessions.insert(session);
    return { cookie, session };
  }

  /**
   * The principal a session cookie stands for, or why there is none. A `background` request (one
   * the page made by itself, e.g. a refetch on a live update) does not count as use: it leaves
   * last_seen_at alone, so a board left open still reaches the idle timeout.
   */
  async authenticate(cookie: string, { background = false } = {}): Promise<SessionCheck> {
    const session = await this.sessions.findById(hashSessionCookie(cookie));
    if (!session || session.revokedAt !== null) return { ok: false, why: 'unknown' };
    const now = this.clock.now().getTime();
    if (now >= session.expiresAt || now - session.lastSeenAt >= this.config.auth.sessionIdleMs)
      return { ok: false, why: 'expired' };
    const person = await this.users.withTowns(session.userId);
    if (!person || person.user.disabledAt !== null) return { ok: false, why: 'unknown' };
    const { user } = person;
    if (!background && now - session.lastSeenAt >= LAST_SEEN_RESOLUTION_MS) {
      // Awaited (once a minute) so the idle clock never reads a stale time; a failure is only logged.
      await this.sessions
        .touch(session.id, now)
        .catch((err: Error) =>
          this.logger.warn(`session of user=${user.id} lastSeenAt not saved: ${err.message}`),
        );
    }
    return {
      ok: true,
      session,
      user,
      principal: {
        credentialId: session.id,
        via: 'session',
        name: user.displayName,
        role: user.role,
        userId: user.id,
        username: user.username,
        phone: user.phone,
        tokenName: null,
        towns: isCountyRole(user.role) ? null : person.towns,
      },
    };
  }

  async close(id: string): Promise<void> {
    await this.sessions.revoke(id, this.clock.now().getTime());
    this.tokens.announceRevoked([id]);
  }

  /** Ends the user's sessions (but `exceptId`) and the live streams they opened. */
  async closeAllOf(userId: string, exceptId?: string): Promise<number> {
    const ended = await this.sessions.revokeAllOf(userId, this.clock.now().getTime(), exceptId);
    this.tokens.announceRevoked(ended);
    return ended.length;
  }

  /**
   * The name of this account's device cookie. One per account, so people sharing a browser do
   * not overwrite each other's; the HMAC keeps the user id out of the name.
   */
  async deviceCookieName(userId: string): Promise<string> {
    this.deviceSecret ??= this.loadDeviceSecret();
    const tag = createHmac('sha256', await this.deviceSecret)
      .update(`cookie-name.${userId}`)
      .digest('hex')
      .slice(0, 16);
    return `${DEVICE_COOKIE}_${tag}`;
  }

  /** A device cookie for this account: user id, a nonce, and their HMAC under the server's secret. */
  async issueDeviceCookie(userId: string): Promise<string> {
    const nonce = randomBytes(16).toString('base64url');
    return `${userId}.${nonce}.${await this.deviceMac(userId, nonce)}`;
  }

  /** The nonce of a genuine device cookie of `userId`, or null. */
  async verifyDeviceCookie(value: string | undefined, userId: string): Promise<string | null> {
    const parts = value?.split('.');
    if (!parts || parts.length !== 3 || parts[0] !== userId) return null;
    const expected = Buffer.from(await this.deviceMac(userId, parts[1]!));
    const given = Buffer.from(parts[2]!);
    return given.length === expected.length && timingSafeEqual(given, expected) ? parts[1]! : null;
  }

  private async deviceMac(userId: string, nonce: string): Promise<string> {
    this.deviceSecret ??= this.loadDeviceSecret();
    return createHmac('sha256', await this.deviceSecret)
      .update(`${userId}.${nonce}`)
      .digest('base64url');
  }

  /** Kept in app_meta so device cookies survive restarts and work on every server of the database. */
  private async loadDeviceSecret(): Promise<Buffer> {
    const stored = await this.meta.get(DEVICE_SECRET_KEY);
    if (stored) return Buffer.from(stored, 'base64url');
    await this.meta.setIfAbsent(DEVICE_SECRET_KEY, randomBytes(32).toString('base64url'));
    return Buffer.from((await this.meta.get(DEVICE_SECRET_KEY))!, 'base64url');
  }
}
