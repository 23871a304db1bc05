import { Injectable, Logger, OnModuleDestroy } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { Observable, Subject } from 'rxjs';
import { Clock } from '../common/clock.js';
import { Page, pageWindow } from '../common/pagination.js';
import { isoTime } from '../common/time.js';
import { DomainError, NotFoundError } from '../common/domain-error.js';
import type { AuthErrorCode } from './auth-errors.js';
import { ApiTokenEntity } from './api-token.entity.js';
import { ApiTokensRepository } from './api-tokens.repository.js';
import type { Principal } from './auth.decorators.js';
import { isCountyRole, isRole, Role, ROLES } from './roles.js';
import { displayPrefix, generateApiToken, hashApiToken } from './token-crypto.js';

/** How often `lastUsedAt` is written for a token in steady use. */
const LAST_USED_RESOLUTION_MS = 60_000;

export interface TokenView {
  id: string;
  name: string;
  role: Role;
  tokenPrefix: string;
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

export function toTokenView(t: ApiTokenEntity): TokenView {
  return {
    id: t.id,
    name: t.name,
    role: t.role,
    tokenPrefix: t.tokenPrefix,
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
    private readonly repo: ApiTokensRepository,
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

  /** Which of these token ids are still active (not revoked, not deleted). */
  async activeOf(ids: string[]): Promise<Set<string>> {
    return new Set(await this.repo.activeIds(ids));
  }

  /**
   * The principal a bearer token stands for, or null for an unknown or revoked token, or one whose
   * owner is disabled. A token owned by a person acts as that person, limited to their towns.
   */
  async authenticate(token: string): Promise<Principal | null> {
    const row = await this.repo.findActiveByHash(hashApiToken(token));
    if (!row) return null;
    const owner = row.ownerUserId ? await this.repo.ownerOf(row.ownerUserId) : null;
    if (row.ownerUserId && (!owner || owner.disabledAt !== null)) return null;
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
      role: row.role,
      userId: owner?.id ?? null,
      username: owner?.username ?? null,
      phone: owner?.phone ?? null,
      tokenName: row.name,
      // A county role's token acts county-wide; a town official's only for their towns.
      towns: isCountyRole(row.role) ? null : (owner?.towns ?? []),
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
    return { ...toTokenView(row), token };
  }

  /** Every token (for the CLI). */
  async list(includeRevoked = false): Promise<TokenView[]> {
    return (await this.repo.list(includeRevoked))[0].map(toTokenView);
  }

  async page(query: {
    includeRevoked?: boolean;
    limit?: number;
    offset?: number;
  }): Promise<Page<TokenView>> {
    const { limit, offset } = pageWindow(query);
    const [rows, total] = await this.repo.list(query.includeRevoked ?? false, limit, offset);
    return { items: rows.map(toTokenView), total, limit, offset };
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
    return toTokenView(row);
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
