import { Injectable, Logger } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { AuditService } from '../audit/audit.service.js';
import type { Principal } from '../auth/auth.decorators.js';
import { generateOneTimePassword, PasswordHasher } from '../auth/password-hasher.js';
import { isCountyRole, Role } from '../auth/roles.js';
import { SessionsService } from '../auth/sessions.service.js';
import { ApiTokensService } from '../auth/api-tokens.service.js';
import { UserEntity } from '../auth/user.entity.js';
import { UserChanges, UsersRepository } from '../auth/users.repository.js';
import { Clock } from '../common/clock.js';
import { DomainError, NotFoundError } from '../common/domain-error.js';
import { Page, pageWindow } from '../common/pagination.js';
import { isoTime } from '../common/time.js';
import type { AppConfig } from '../config/app-config.js';
import { InjectConfig } from '../config/config.module.js';
import { VillagesService } from '../villages/villages.service.js';
import { actorOf } from './accounts.service.js';
import type { StaffErrorCode } from './staff-errors.js';
import { USERNAME, type UserDto } from './dto/user.dto.js';

/** Who made a change: a principal over the API, or the CLI / first start. */
export type Actor = Principal | 'cli' | 'bootstrap';

const iso = (ms: number | null) => (ms === null ? null : isoTime(ms));

/**
 * One form per number, so two accounts of one person are recognised: digits only, and China's
 * country code dropped (+86, 0086, 86 before an 11-digit mobile number); other countries keep
 * `+` and their code.
 */
export function normalisePhone(phone: string | null | undefined): string | null {
  if (!phone) return null;
  const trimmed = phone.trim();
  let digits = trimmed.replace(/[^0-9]/g, '');
  if (!digits) return null;
  const international = trimmed.startsWith('+') || digits.startsWith('00');
  if (digits.startsWith('00')) digits = digits.slice(2);
  if (digits.startsWith('86') && (international || /^861[3-9]\d{9}$/.test(digits)))
    return digits.slice(2);
  return international ? `+${digits}` : digits;
}

/** Staff accounts: who may sign in, with what role and towns. Admin work (API and CLI). */
@Injectable()
export class StaffService {
  private readonly logger = new Logger('staff');

  constructor(
    @InjectConfig() private readonly config: AppConfig,
    private readonly users: UsersRepository,
    private readonly sessions: SessionsService,
    private readonly tokens: ApiTokensService,
    private readonly hasher: PasswordHasher,
    private readonly villages: VillagesService,
    private readonly audit: AuditService,
    private readonly clock: Clock,
  ) {}

  async page(query: { limit?: number; offset?: number }): Promise<Page<UserDto>> {
    const { limit, offset } = pageWindow(query);
    const [rows, total] = await this.users.list(limit, offset);
    const towns = await this.users.townsOf(rows.map((r) => r.id));
    return { items: rows.map((r) => toUserDto(r, towns.get(r.id) ?? [])), total, limit, offset };
  }

  async get(id: string): Promise<UserDto> {
    const user = await this.find(id);
    return toUserDto(user, (await this.users.townsOf([id])).get(id) ?? []);
  }

  async create(
    input: {
      username: string;
      displayName: string;
      phone?: string | null;
      role: Role;
      towns?: string[];
    },
    by: Actor,
  ): Promise<UserDto & { oneTimePassword: string }> {
    const username = input.username.trim().toLowerCase();
    if (!USERNAME.test(username)) {
      throw new DomainError<StaffErrorCode>(
        'invalid',
        'USERNAME_INVALID',
        'username must be 2 to 64 of a-z 0-9 . _ - starting with a letter or digit',
      );
    }
    if (await this.users.findByUsername(username)) {
      throw new DomainError<StaffErrorCode>(
        'conflict',
        'USERNAME_TAKEN',
        `The username ${username} is taken`,
      );
    }
    const towns = await this.checkTowns(input.role, input.towns ?? []);
    const oneTimePassword = generateOneTimePassword(this.config.auth.passwordMinLength);
    const now = this.clock.now().getTime();
    const user: UserEntity = {
      id: randomUUID(),
      username,
      displayName: input.displayName.trim(),
      phone: normalisePhone(input.phone),
      role: input.role,
      passwordHash: await this.hasher.hash(oneTimePassword),
      mustChangePassword: true,
      failedLogins: 0,
      lockedUntil: null,
      passwordChangedAt: now,
      lastLoginAt: null,
      disabledAt: null,
      createdBy: nameOf(by),
      createdAt: now,
      updatedAt: now,
    };
    await this.users.insert(user, towns);
    // The first start's account is in the banner; its log line would only lengthen the first screen.
    this.logger[by === 'bootstrap' ? 'debug' : 'log'](
      `user=${user.id} ${username} created role=${user.role} by=${JSON.stringify(nameOf(by))}`,
    );
    if (typeof by === 'string')
      await this.record(by, 'user.created', user.id, { username, role: user.role, towns });
    delete user.passwordHash;
    return { ...toUserDto(user, towns), oneTimePassword };
  }

  async update(
    id: string,
    input: {
      displayName?: string;
      phone?: string | null;
      role?: Role;
      towns?: string[];
      disabled?: boolean;
    },
  ): Promise<UserDto> {
    const user = await this.find(id);
    const currentTowns = (await this.users.townsOf([id])).get(id) ?? [];
    const role = input.role ?? user.role;
    // A county role holds no towns: moving to one clears them unless the request says otherwise.
    const wanted = input.towns ?? (isCountyRole(role) ? [] : currentTowns);
    const towns =
      input.role !== undefined || input.towns !== undefined
        ? await this.checkTowns(role, wanted)
        : currentTowns;
    const disabled = input.disabled ?? user.disabledAt !== null;
    const wasActiveAdmin = user.role === 'admin' && user.disabledAt === null;
    if (
      wasActiveAdmin &&
      (role !== 'admin' || disabled) &&
      (await this.users.countEnabledAdmins()) <= 1
    ) {
      throw new DomainError<StaffErrorCode>(
        'conflict',
        'LAST_ADMIN',
        'This is the last enabled admin: make another admin first',
      );
    }
    const now = this.clock.now().getTime();
    const changes: UserChanges = { updatedAt: now };
    if (input.displayName !== undefined) changes.displayName = input.displayName.trim();
    if (input.phone !== undefined) changes.phone = normalisePhone(input.phone);
    if (role !== user.role) changes.role = role;
    if (disabled !== (user.disabledAt !== null)) changes.disabledAt = disabled ? now : null;
    const townsChanged = towns.join() !== currentTowns.join();
    await this.users.update(id, changes, townsChanged ? towns : undefined);
    // What someone may do changed: their open sessions must sign in again to pick it up.
    if (changes.role !== undefined || changes.disabledAt !== undefined || townsChanged) {
      await this.sessions.closeAllOf(id);
      await this.tokens.ownerChanged(id);
    }
    return this.get(id);
  }

  /** A new one-time password; the person must change it, and their sessions end. */
  async resetPassword(id: string, by: Actor): Promise<{ oneTimePassword: string }> {
    const user = await this.find(id);
    const oneTimePassword = generateOneTimePassword(this.config.auth.passwordMinLength);
    const now = this.clock.now().getTime();
    await this.users.update(id, {
      passwordHash: await this.hasher.hash(oneTimePassword),
      mustChangePassword: true,
      passwordChangedAt: now,
      failedLogins: 0,
      lockedUntil: null,
      updatedAt: now,
    });
    await this.sessions.closeAllOf(id);
    await this.record(by, 'user.password.reset', id, { username: user.username });
    return { oneTimePassword };
  }

  async unlock(id: string, by: Actor): Promise<UserDto> {
    const user = await this.find(id);
    await this.users.update(id, { failedLogins: 0, lockedUntil: null });
    await this.record(by, 'user.unlocked', id, { username: user.username });
    return this.get(id);
  }

  async findByUsername(username: string): Promise<UserDto> {
    const user = await this.users.findByUsername(username.trim().toLowerCase());
    if (!user) throw new NotFoundError('user', username);
    return this.get(user.id);
  }

  /**
   * Makes sure a person can sign in: with no account at all, creates `admin` (role admin) with a
   * one-time password for the caller to print once.
   */
  async ensureFirstAdmin(): Promise<{ oneTimePassword?: string }> {
    if ((await this.users.count()) > 0) return {};
    const created = await this.create(
      { username: 'admin', displayName: 'Administrator', role: 'admin' },
      'bootstrap',
    );
    return { oneTimePassword: created.oneTimePassword };
  }

  private async find(id: string): Promise<UserEntity> {
    const user = await this.users.findById(id);
    if (!user) throw new NotFoundError('user', id);
    return user;
  }

  /** The towns, sorted and checked: a town official needs existing ones, county roles none. */
  private async checkTowns(role: Role, towns: string[]): Promise<string[]> {
    const unique = [...new Set(towns)].sort();
    if (isCountyRole(role)) {
      if (unique.length) {
        throw new DomainError<StaffErrorCode>(
          'invalid',
          'TOWNS_INVALID',
          `A ${role} acts for the whole county: give no towns`,
        );
      }
      return [];
    }
    if (unique.length === 0) {
      throw new DomainError<StaffErrorCode>(
        'invalid',
        'TOWNS_INVALID',
        'A town official needs at least one town',
      );
    }
    const existing = await this.villages.existingTownCodes(unique);
    const missing = unique.filter((t) => !existing.has(t));
    if (missing.length) {
      throw new DomainError<StaffErrorCode>(
        'invalid',
        'TOWNS_INVALID',
        `No such town: ${missing.join(', ')}`,
      );
    }
    return unique;
  }

  private record(by: Actor, action: string, subject: string, detail: unknown): Promise<void> {
    const who = typeof by === 'string' ? { actor: by, actorRole: null } : actorOf(by);
    return this.audit.record({ ...who, action, subject, detail });
  }
}

const nameOf = (by: Actor): string => (typeof by === 'string' ? by : by.name);

export function toUserDto(u: UserEntity, towns: string[]): UserDto {
  return {
    id: u.id,
    username: u.username,
    displayName: u.displayName,
    phone: u.phone,
    role: u.role,
    towns,
    mustChangePassword: u.mustChangePassword,
    disabled: u.disabledAt !== null,
    failedLogins: u.failedLogins,
    lockedUntil: iso(u.lockedUntil),
    lastLoginAt: iso(u.lastLoginAt),
    createdBy: u.createdBy,
    createdAt: isoTime(u.createdAt),
  };
}
