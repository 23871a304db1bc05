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
import { DEVICE_COOKIE } from '../auth/cookies.js';
import type { AppConfig } from '../config/app-config.js';
import { InjectConfig } from '../config/config.module.js';

/** The first account-wide wait past the free failures; each further failure doubles it. */
export const FIRST_LOCK_MS = 30_000;

export interface Client {
  address: string;
  userAgent: string | null;
  /** A cookie the browser sent, by name (device cookies are read once the account is known). */
  cookie: (name: string) => string | undefined;
}

export interface SignedIn {
  cookie: string;
  /** A device cookie to set, when the browser had none for this account. */
  device?: { name: string; value: string };
  body: SessionDto;
}

/** How long unknown names are remembered: an account's count lasts until a success, so long. */
const UNKNOWN_NAME_WINDOW_MS = 24 * 3600_000;

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
  /**
   * Wrong sign-ins for names no account has, with the accounts' thresholds: unknown names are
   * held (429 ACCOUNT_LOCKED) after as many tries as real ones, so the answer reveals nothing.
   */
  private readonly unknownNames: FailureBackoff;

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
    this.unknownNames = new FailureBackoff(
      loginFreeFailures,
      UNKNOWN_NAME_WINDOW_MS,
      loginMaxLockMs,
      clock,
      FIRST_LOCK_MS,
    );
  }

  async signIn(username: string, password: string, client: Client): Promise<SignedIn> {
    const name = username.trim().toLowerCase();
    const user = await this.users.findByUsername(name);
    const deviceCookie = user ? await this.sessions.deviceCookieName(user.id) : null;
    let device = user
      ? await this.sessions.verifyDeviceCookie(client.cookie(deviceCookie!), user.id)
      : null;
    // A browser of an earlier version holds one cookie of the bare name: moved to the new name.
    const legacy =
      user && !device
        ? await this.sessions.verifyDeviceCookie(client.cookie(DEVICE_COOKIE), user.id)
        : null;
    device ??= legacy;
    this.refuseIfHeld(name, user, device, client.address);
    // Counted before verifying, so parallel guesses from one address see each other; taken back
    // below unless it turns out a wrong password.
    if (!device) this.limiter.recordFailure(client.address);
    let wrong = false;
    try {
      const slot = await this.hasher.acquire({ address: client.address, trusted: !!device });
      let releaseLater = false;
      try {
        // Re-read now that it is this request's turn: requests queued together all passed the
        // check above on the same row, and the failures of those before it are written by now.
        const fresh = await this.users.findByUsername(name);
        this.refuseIfHeld(name, fresh, device, null);
        const hash = user ? await this.users.passwordHashOf(user.id) : null;
        const right = await slot.verify(hash, password);
        if (!user || !right || user.disabledAt !== null) {
          if (!right) {
            wrong = true;
            // The answer does not wait for the write (unknown names have none to wait for);
            // the slot does, so the next waiter's re-check sees this failure.
            releaseLater = true;
            void this.recordFailure(name, user, device, client.address)
              .catch((err: Error) =>
                this.logger.warn(`failed sign-in of user=${user?.id} not saved: ${err.message}`),
              )
              .finally(() => slot.release());
          }
          throw badCredentials();
        }
      } finally {
        if (!releaseLater) slot.release();
      }
    } finally {
      if (!device && !wrong) this.limiter.forgive(client.address);
    }
    const setDevice = legacy ? client.cookie(DEVICE_COOKIE)! : device ? undefined : null;
    return this.open(user!, device, { name: deviceCookie!, value: setDevice }, client);
  }

  /**
   * Throws when this browser must wait: by its device's own failures, or by the address's and the
   * account's (or unknown name's). A null `address` skips the address (already counted).
   */
  private refuseIfHeld(
    name: string,
    user: UserEntity | null,
    device: string | null,
    address: string | null,
  ): void {
    const now = this.clock.now().getTime();
    if (device) {
      const wait = this.deviceFailures.waitMs(device);
      if (wait > 0) throw new WaitError('ACCOUNT_LOCKED', Math.ceil(wait / 1000));
      return;
    }
    if (address !== null) {
      const retry = this.limiter.retryAfterS(address);
      if (retry > 0) throw new WaitError('TOO_MANY_FAILED_ATTEMPTS', retry);
    }
    const until = user ? (user.lockedUntil ?? 0) : now + this.unknownNames.waitMs(name);
    if (until > now) throw new WaitError('ACCOUNT_LOCKED', Math.ceil((until - now) / 1000));
  }

  /**
   * Opens the session of a right password. `setDevice.value`: the device cookie to set under the
   * account's name, undefined for none, null for a new one.
   */
  private async open(
    user: UserEntity,
    device: string | null,
    setDevice: { name: string; value: string | null | undefined },
    client: Client,
  ): Promise<SignedIn> {
    const now = this.clock.now().getTime();
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
    const value =
      setDevice.value === null ? await this.sessions.issueDeviceCookie(user.id) : setDevice.value;
    return {
      cookie,
      device: value === undefined ? undefined : { name: setDevice.name, value },
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
    keepSessionId: string,
    address: string,
  ): Promise<void> {
    const user = principal.userId ? await this.users.findById(principal.userId) : null;
    if (!user)
      throw new DomainError<AuthErrorCode>('unauthorized', 'UNAUTHORIZED', 'Sign in again');
    const problem = passwordProblem(newPassword, user.username, this.config.auth.passwordMinLength);
    if (problem) throw new DomainError<AuthErrorCode>('invalid', 'PASSWORD_REJECTED', problem);
    if (newPassword === currentPassword) {
      throw new DomainError<AuthErrorCode>(
        'invalid',
        'PASSWORD_REJECTED',
        'the new password must differ from the current one',
      );
    }
    // Counts like a wrong sign-in password, and waits out the same lock: a stolen session must not
    // guess the password faster than the sign-in form lets anyone.
    const slot = await this.hasher.acquire({ trusted: true });
    try {
      this.refuseIfHeld(user.username, await this.users.findById(user.id), null, null);
      const right = await slot.verify(await this.users.passwordHashOf(user.id), currentPassword);
      if (!right) {
        await this.recordFailure(user.username, user, null, address);
        throw new DomainError<AuthErrorCode>(
          'invalid',
          'WRONG_PASSWORD',
          'The current password is wrong',
        );
      }
    } finally {
      slot.release();
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

  /**
   * Counts a wrong password: against the browser's device, the account (in the database,
   * atomically) or the unknown name. The in-memory counts are taken before the first await, so
   * they hold from the moment the answer is decided. (Sign-in counted the address already.)
   */
  private async recordFailure(
    name: string,
    user: UserEntity | null,
    device: string | null,
    address: string,
  ): Promise<void> {
    if (device) this.deviceFailures.recordFailure(device);
    else if (!user) this.unknownNames.recordFailure(name);
    // Never the password: only who was tried, from where.
    void this.audit.record({
      actor: user?.displayName ?? 'unknown',
      actorUserId: user?.id ?? null,
      action: 'session.failed',
      subject: user?.id ?? null,
      detail: { username: user?.username ?? '(unknown)', address, knownDevice: !!device },
    });
    if (!user || device) return;
    const now = this.clock.now().getTime();
    const { loginFreeFailures, loginMaxLockMs } = this.config.auth;
    const counted = await this.users.recordFailedLogin(user.id, (failed) => {
      const over = failed - loginFreeFailures;
      return over >= 0
        ? now + Math.min(loginMaxLockMs, FIRST_LOCK_MS * 2 ** Math.min(over, 20))
        : null;
    });
    if (counted && counted.lockedUntil !== null && counted.lockedUntil > now) {
      void this.audit.record({
        actor: user.displayName,
        actorUserId: user.id,
        action: 'user.locked',
        subject: user.id,
        detail: { until: isoTime(counted.lockedUntil), failedLogins: counted.failed },
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
