import { Injectable, Logger, OnModuleDestroy } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { Observable, Subject } from 'rxjs';
import { Clock } from '../common/clock.js';
import type { AppConfig } from '../config/app-config.js';
import { InjectConfig } from '../config/config.module.js';
import { Page, pageWindow } from '../common/pagination.js';
import { isoTime } from '../common/time.js';
import { DomainError, NotFoundError } from '../common/domain-error.js';
import type { AuthErrorCode } from './auth-errors.js';
import { ApiTokenEntity } from './api-token.entity.js';
import { ApiTokensRepository } from './api-tokens.repository.js';
import { SessionsRepository } from './sessions.repository.js';
import type { UserEntity } from './user.entity.js';
import { UsersRepository } from './users.repository.js';
import type { Principal } from './auth.decorators.js';
import { isCountyRole, isRole, Role, roleAllows, ROLES } from './roles.js';
import { displayPrefix, generateApiToken, hashApiToken } from './token-crypto.js';

/** How often `lastUsedAt` is written for a token in steady use. */
const LAST_USED_RESOLUTION_MS = 60_000;

export interface TokenView {
  id: string;
  name: string;
  role: Role;
  tokenPrefix: string;
  /** The person the token acts for, or null for a named system. */
  ownerUserId: string | null;
  ownerName: string | null;
  createdBy: string;
  createdAt: string;
  lastUsedAt: string | null;
  revokedAt: string | null;
}

export interface CreatedToken extends TokenView {
  /** The token itself: shown once, in the response that creates it. */
  token: string;
}

const iso = (ms: number | null): string | null => (ms === null ? null : isoTime(ms));

export function toTokenView(t: ApiTokenEntity, ownerName: string | null = null): TokenView {
  return {
    id: t.id,
    name: t.name,
    role: t.role,
    tokenPrefix: t.tokenPrefix,
    ownerUserId: t.ownerUserId,
    ownerName,
    createdBy: t.createdBy,
    createdAt: isoTime(t.createdAt),
    lastUsedAt: iso(t.lastUsedAt),
    revokedAt: iso(t.revokedAt),
  };
}

@Injectable()
export class ApiTokensService implements OnModuleDestroy {
  private readonly logger = new Logger('auth');
  private readonly revoked = new Subject<string>();

  constructor(
    @InjectConfig() private readonly config: AppConfig,
    private readonly repo: ApiTokensRepository,
    private readonly users: UsersRepository,
    private readonly sessions: SessionsRepository,
    private readonly clock: Clock,
  ) {}

  /**
   * Ids of tokens revoked through this server, as they are revoked: what a token opened (a live
   * stream) ends with it. Revocations elsewhere (the CLI, another server) show in {@link activeOf}.
   */
  get revocations(): Observable<string> {
    return this.revoked.asObservable();
  }

  onModuleDestroy(): void {
    this.revoked.complete();
  }

  /**
   * Which of these credential ids (tokens, sessions) are still active: not revoked nor deleted,
   * and for sessions not expired nor idle (a live stream does not keep its session open).
   */
  async activeOf(ids: string[]): Promise<Set<string>> {
    const now = this.clock.now().getTime();
    return new Set([
      ...(await this.repo.activeIds(ids)),
      ...(await this.sessions.activeIds(ids, now, this.config.auth.sessionIdleMs)),
    ]);
  }

  /**
   * A person's role, towns or standing changed: what their tokens opened (live streams) ends, so
   * it is opened again as they now are. The tokens themselves keep working as the person does.
   */
  async ownerChanged(userId: string): Promise<void> {
    this.announceRevoked(await this.repo.activeIdsOwnedBy(userId));
  }

  /** Credentials (sessions) ended elsewhere in auth: what they opened ends with them. */
  announceRevoked(ids: string[]): void {
    for (const id of ids) this.revoked.next(id);
  }

  /**
   * The principal a bearer token stands for, or null for an unknown or revoked token, or one whose
   * owner is disabled. A token owned by a person acts as that person, limited to their towns.
   */
  async authenticate(token: string): Promise<Principal | null> {
    const row = await this.repo.findActiveByHash(hashApiToken(token));
    if (!row) return null;
    const person = row.ownerUserId ? await this.users.withTowns(row.ownerUserId) : null;
    if (row.ownerUserId && (!person || person.user.disabledAt !== null)) return null;
    const owner = person?.user;
    // Never more than the person may do now: a demoted owner's tokens are demoted with them.
    const role = owner && !roleAllows(owner.role, row.role) ? owner.role : row.role;
    const now = this.clock.now().getTime();
    if (row.lastUsedAt === null || now - row.lastUsedAt >= LAST_USED_RESOLUTION_MS) {
      // Bookkeeping only: a failure here must not fail the request.
      this.repo
        .markUsed(row.id, now)
        .catch((err: Error) =>
          this.logger.warn(`token=${row.id} lastUsedAt not saved: ${err.message}`),
        );
    }
    return {
      credentialId: row.id,
      via: 'token',
      name: owner ? owner.displayName : row.name,
      role,
      userId: owner?.id ?? null,
      username: owner?.username ?? null,
      phone: owner?.phone ?? null,
      tokenName: row.name,
      // A town official's tokens, whatever their role, see only the official's towns; a county
      // role's token sees the county.
      towns:
        person && !isCountyRole(person.user.role) ? person.towns : isCountyRole(role) ? null : [],
    };
  }

  async create(input: {
    name: string;
    role: Role;
    createdBy: string;
    token?: string;
    /** The person the token acts for; omitted for a named system. */
    ownerUserId?: string | null;
  }): Promise<CreatedToken> {
    if (!isRole(input.role)) {
      throw new DomainError<AuthErrorCode>(
        'invalid',
        'INVALID_ROLE',
        `role must be one of ${ROLES.join(', ')}`,
      );
    }
    const owner = input.ownerUserId ? await this.users.findById(input.ownerUserId) : null;
    this.checkOwner(input.role, input.ownerUserId ?? null, owner);
    const token = input.token ?? generateApiToken();
    const row: ApiTokenEntity = {
      id: randomUUID(),
      name: input.name,
      role: input.role,
      tokenHash: hashApiToken(token),
      tokenPrefix: displayPrefix(token),
      ownerUserId: input.ownerUserId ?? null,
      createdBy: input.createdBy,
      createdAt: this.clock.now().getTime(),
      lastUsedAt: null,
      revokedAt: null,
    };
    await this.repo.insert(row);
    this.logger.log(
      `token=${row.id} created name=${JSON.stringify(row.name)} role=${row.role} by=${JSON.stringify(input.createdBy)}`,
    );
    return { ...toTokenView(row, owner?.displayName ?? null), token };
  }

  /**
   * A token may do no more than its owner: a town official's token is a town official's (a
   * viewer token would read the whole county), and a town official's token needs an owner (its
   * towns are the owner's).
   */
  private checkOwner(role: Role, ownerUserId: string | null, owner: UserEntity | null): void {
    const refuse = (message: string) => {
      throw new DomainError<AuthErrorCode>('invalid', 'TOKEN_OWNER_INVALID', message);
    };
    if (ownerUserId === null) {
      if (role === 'town_official')
        refuse('A town official token needs ownerUserId: the person it acts for');
      return;
    }
    if (!owner) return refuse(`No such user: ${ownerUserId}`);
    if (owner.disabledAt !== null) refuse(`${owner.username} is disabled`);
    if (owner.role === 'town_official' ? role !== 'town_official' : !roleAllows(owner.role, role))
      refuse(`${owner.username} is ${owner.role}: the token may not be ${role}`);
  }

  private async withOwnerNames(rows: ApiTokenEntity[]): Promise<TokenView[]> {
    const names = await this.users.displayNamesOf(
      rows.flatMap((r) => (r.ownerUserId ? [r.ownerUserId] : [])),
    );
    return rows.map((r) =>
      toTokenView(r, r.ownerUserId ? (names.get(r.ownerUserId) ?? null) : null),
    );
  }

  /** Every token (for the CLI). */
  async list(includeRevoked = false): Promise<TokenView[]> {
    return this.withOwnerNames((await this.repo.list(includeRevoked))[0]);
  }

  async page(query: {
    includeRevoked?: boolean;
    limit?: number;
    offset?: number;
  }): Promise<Page<TokenView>> {
    const { limit, offset } = pageWindow(query);
    const [rows, total] = await this.repo.list(query.includeRevoked ?? false, limit, offset);
    return { items: await this.withOwnerNames(rows), total, limit, offset };
  }

  async revoke(id: string, by: string): Promise<TokenView> {
    const row = await this.repo.findById(id);
    if (!row) throw new NotFoundError('token', id);
    if (row.revokedAt === null) {
      row.revokedAt = this.clock.now().getTime();
      await this.repo.markRevoked(id, row.revokedAt);
      this.logger.log(`token=${id} revoked by=${JSON.stringify(by)}`);
      this.revoked.next(id);
    }
    return (await this.withOwnerNames([row]))[0]!;
  }

  /** Whether {@link ensureBootstrapAdmin} would generate a token (none set, none active). */
  async willGenerateBootstrapAdmin(adminToken: string | undefined): Promise<boolean> {
    return adminToken === undefined && (await this.repo.countActive()) === 0;
  }

  /**
   * Makes sure someone can sign in. With `ADMIN_TOKEN` set, that token is registered as an admin
   * token if it is not already active. Without it, and with no active token at all, an admin token
   * is generated and returned so the caller can print it once.
   */
  async ensureBootstrapAdmin(adminToken: string | undefined): Promise<{ generated?: string }> {
    if (adminToken !== undefined) {
      if (!(await this.repo.findActiveByHash(hashApiToken(adminToken)))) {
        await this.create({
          name: 'admin (ADMIN_TOKEN)',
          role: 'admin',
          createdBy: 'bootstrap',
          token: adminToken,
        });
      }
      return {};
    }
    if ((await this.repo.countActive()) > 0) return {};
    const created = await this.create({
      name: 'admin (first start)',
      role: 'admin',
      createdBy: 'bootstrap',
    });
    return { generated: created.token };
  }
}
