import { Injectable, Logger } from '@nestjs/common';
import { AuditService } from '../audit/audit.service.js';
import type { AuthErrorCode } from '../auth/auth-errors.js';
import { AuthFailureLimiter } from '../auth/auth-failure-limiter.js';
import type { Principal } from '../auth/auth.decorators.js';
import type { MeDto, SessionDto } from '../auth/dto/session.dto.js';
import { PasswordHasher, passwordProblem } from '../auth/password-hasher.js';
import { SessionsService } from '../auth/sessions.service.js';
import { SessionEntity, UserEntity } from '../auth/user.entity.js';
import { UsersRepository } from '../auth/users.repository.js';
import { Clock } from '../common/clock.js';
import { DomainError } from '../common/domain-error.js';
import { FailureBackoff } from '../common/failure-window.js';
import { isoTime } from '../common/time.js';
import type { AppConfig } from '../config/app-config.js';
import { InjectConfig } from '../config/config.module.js';

/** The first account-wide wait past the free failures; each further failure doubles it. */
export const FIRST_LOCK_MS = 30_000;

export interface Client {
  address: string;
  userAgent: string | null;
  /** The browser's `dalaba_device` cookie, if any. */
  device: string | undefined;
}

export interface SignedIn {
  cookie: string;
  /** A new device cookie, when the browser had none for this account. */
  device?: string;
  body: SessionDto;
}

/** A refusal that carries how long to wait (the controller sends it as Retry-After). */
export class WaitError extends DomainError<AuthErrorCode> {
  constructor(
    code: 'ACCOUNT_LOCKED' | 'TOO_MANY_FAILED_ATTEMPTS',
    readonly retryAfterS: number,
  ) {
    super(
      'rate_limited',
      code,
      code === 'ACCOUNT_LOCKED'
        ? `Too many wrong passwords for this account; try again in ${retryAfterS} s, or from a browser you have signed in with before`
        : `Too many wrong sign-ins from this address; try again in ${retryAfterS} s`,
    );
  }
}

const badCredentials = () =>
  new DomainError<AuthErrorCode>('unauthorized', 'BAD_CREDENTIALS', 'Wrong username or password');

/**
 * Signing in and out, and a person's own password. Wrong passwords from browsers the account has
 * never signed in from lock the account for them (30 s, doubling, at most LOGIN_MAX_LOCK_S); a
 * browser holding the account's device cookie is never held by that lock, only by its own
 * failures, so nobody else's guessing keeps the owner out and nobody waits longer than the cap.
 */
@Injectable()
export class AccountsService {
  private readonly logger = new Logger('auth');
  private readonly deviceFailures: FailureBackoff;

  constructor(
    @InjectConfig() private readonly config: AppConfig,
    private readonly users: UsersRepository,
    private readonly sessions: SessionsService,
    private readonly hasher: PasswordHasher,
    private readonly limiter: AuthFailureLimiter,
    private readonly audit: AuditService,
    private readonly clock: Clock,
  ) {
    const { loginFreeFailures, loginMaxLockMs } = config.auth;
    this.deviceFailures = new FailureBackoff(
      loginFreeFailures,
      loginMaxLockMs,
      loginMaxLockMs,
      clock,
    );
  }

  async signIn(username: string, password: string, client: Client): Promise<SignedIn> {
    const now = this.clock.now().getTime();
    const user = await this.users.findByUsername(username.trim().toLowerCase());
    const device = user ? await this.sessions.verifyDeviceCookie(client.device, user.id) : null;
    if (device) {
      const wait = this.deviceFailures.waitMs(device);
      if (wait > 0) throw new WaitError('ACCOUNT_LOCKED', Math.ceil(wait / 1000));
    } else {
      const retry = this.limiter.retryAfterS(client.address);
      if (retry > 0) throw new WaitError('TOO_MANY_FAILED_ATTEMPTS', retry);
      if (user?.lockedUntil && user.lockedUntil > now)
        throw new WaitError('ACCOUNT_LOCKED', Math.ceil((user.lockedUntil - now) / 1000));
    }
    const hash = user ? await this.users.passwordHashOf(user.id) : null;
    const right = await this.hasher.verify(hash, password);
    if (!user || !right || user.disabledAt !== null) {
      if (!right) await this.recordFailure(user, device, client, now);
      throw badCredentials();
    }

    const changes: Partial<UserEntity> = { lastLoginAt: now };
    // Only a success where the lock applied lifts it: the owner signing in from their own browser
    // must not hand an attacker a fresh set of free guesses.
    if (!device && (user.failedLogins > 0 || user.lockedUntil !== null)) {
      changes.failedLogins = 0;
      changes.lockedUntil = null;
    }
    await this.users.update(user.id, changes);
    const { cookie, session } = await this.sessions.open(user.id, client);
    const principal = (await this.sessions.authenticate(cookie)) as {
      ok: true;
      principal: Principal;
    };
    void this.audit.record({
      ...actorOf(principal.principal),
      action: 'session.signin',
      subject: user.id,
      detail: { address: client.address, newDevice: !device },
    });
    this.logger.log(`user=${user.id} signed in from ${client.address}`);
    return {
      cookie,
      device: device ? undefined : await this.sessions.issueDeviceCookie(user.id),
      body: this.sessionDto(principal.principal, session, user),
    };
  }

  async signOut(principal: Principal, sessionId: string): Promise<void> {
    await this.sessions.close(sessionId);
    void this.audit.record({
      ...actorOf(principal),
      action: 'session.signout',
      subject: principal.userId,
    });
  }

  sessionDto(principal: Principal, session: SessionEntity, user: UserEntity): SessionDto {
    return {
      user: this.me(principal, user),
      csrfToken: session.csrfToken,
      expiresAt: isoTime(session.expiresAt),
      idleTimeoutS: this.sessions.idleTimeoutS,
    };
  }

  me(principal: Principal, user: UserEntity): MeDto {
    return {
      ...principal,
      displayName: user.displayName,
      mustChangePassword: user.mustChangePassword,
    };
  }

  /** Changes the person's own password and ends their other sessions. */
  async changePassword(
    principal: Principal,
    currentPassword: string,
    newPassword: string,
    keepSessionId: string | undefined,
  ): Promise<void> {
    const user = principal.userId ? await this.users.findById(principal.userId) : null;
    if (!user) {
      throw new DomainError<AuthErrorCode>(
        'forbidden',
        'SESSION_REQUIRED',
        'Only a person has a password: sign in, or use a token that a person owns',
      );
    }
    const problem = passwordProblem(newPassword, user.username, this.config.auth.passwordMinLength);
    if (problem) throw new DomainError<AuthErrorCode>('invalid', 'PASSWORD_REJECTED', problem);
    if (newPassword === currentPassword) {
      throw new DomainError<AuthErrorCode>(
        'invalid',
        'PASSWORD_REJECTED',
        'the new password must differ from the current one',
      );
    }
    if (!(await this.hasher.verify(await this.users.passwordHashOf(user.id), currentPassword))) {
      throw new DomainError<AuthErrorCode>(
        'invalid',
        'WRONG_PASSWORD',
        'The current password is wrong',
      );
    }
    const now = this.clock.now().getTime();
    await this.users.update(user.id, {
      passwordHash: await this.hasher.hash(newPassword),
      mustChangePassword: false,
      passwordChangedAt: now,
      updatedAt: now,
    });
    const ended = await this.sessions.closeAllOf(user.id, keepSessionId);
    void this.audit.record({
      ...actorOf(principal),
      action: 'user.password.changed',
      subject: user.id,
      detail: { sessionsEnded: ended },
    });
  }

  private async recordFailure(
    user: UserEntity | null,
    device: string | null,
    client: Client,
    now: number,
  ): Promise<void> {
    if (device) this.deviceFailures.recordFailure(device);
    else this.limiter.recordFailure(client.address);
    let lockedUntil: number | null = null;
    if (user && !device) {
      const failed = user.failedLogins + 1;
      const over = failed - this.config.auth.loginFreeFailures;
      lockedUntil =
        over >= 0
          ? now + Math.min(this.config.auth.loginMaxLockMs, FIRST_LOCK_MS * 2 ** Math.min(over, 20))
          : user.lockedUntil;
      await this.users.update(user.id, { failedLogins: failed, lockedUntil });
    }
    // Never the password: only who was tried, from where.
    void this.audit.record({
      actor: user?.displayName ?? 'unknown',
      actorUserId: user?.id ?? null,
      action: 'session.failed',
      subject: user?.id ?? null,
      detail: {
        username: user?.username ?? '(unknown)',
        address: client.address,
        knownDevice: !!device,
      },
    });
    if (user && lockedUntil !== null && lockedUntil > now && !device) {
      void this.audit.record({
        actor: user.displayName,
        actorUserId: user.id,
        action: 'user.locked',
        subject: user.id,
        detail: { until: isoTime(lockedUntil), failedLogins: user.failedLogins + 1 },
      });
    }
  }
}

/** The audit fields naming who acted: the person, and the token when a machine acted for them. */
export function actorOf(p: Principal) {
  return {
    actor: p.name,
    actorRole: p.role,
    actorUserId: p.userId,
    viaToken: p.via === 'token' ? p.tokenName : null,
  };
}
