import { CanActivate, ExecutionContext, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { Request, Response } from 'express';
import { DomainError } from '../common/domain-error.js';
import type { AuthErrorCode } from './auth-errors.js';
import { ApiTokensService } from './api-tokens.service.js';
import { PUBLIC_KEY, ROLE_KEY, TOWN_SCOPED_KEY } from './auth.decorators.js';
import { AuthFailureLimiter } from './auth-failure-limiter.js';
import { Role, roleAllows } from './roles.js';

const READ_METHODS = new Set(['GET', 'HEAD']);
const BEARER = /^Bearer +([\x21-\x7e]{1,512})$/i;

/**
 * Every route needs a bearer token unless marked `@Public()`. A missing and a wrong token get the
 * same 401, so the answer reveals nothing; wrong tokens count towards the per-address limit, past
 * which they get 429. A valid token is always let in: the limit slows guessing, and a station's
 * office shares one address.
 */
@Injectable()
export class TokenGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly tokens: ApiTokensService,
    private readonly limiter: AuthFailureLimiter,
  ) {}

  async canActivate(ctx: ExecutionContext): Promise<boolean> {
    if (ctx.getType() !== 'http') return true;
    const targets = [ctx.getHandler(), ctx.getClass()];
    if (this.reflector.getAllAndOverride<boolean>(PUBLIC_KEY, targets)) return true;

    const req = ctx.switchToHttp().getRequest<Request>();
    const header = req.headers.authorization;
    const token = header ? BEARER.exec(header)?.[1] : undefined;
    // Checked first, whatever the address did: others' wrong tokens never keep a valid one out.
    const principal = token ? await this.tokens.authenticate(token) : null;
    if (!principal) {
      if (header) this.refuseIfLimited(req, ctx.switchToHttp().getResponse<Response>());
      throw new DomainError<AuthErrorCode>(
        'unauthorized',
        'UNAUTHORIZED',
        'A valid API token is required: Authorization: Bearer <token>',
      );
    }
    req.principal = principal;

    const needed =
      this.reflector.getAllAndOverride<Role | undefined>(ROLE_KEY, targets) ??
      (READ_METHODS.has(req.method) ? 'viewer' : 'operator');
    if (!roleAllows(principal.role, needed)) {
      throw new DomainError<AuthErrorCode>(
        'forbidden',
        'FORBIDDEN',
        `This needs the ${needed} role; this token has the ${principal.role} role`,
      );
    }
    if (
      principal.towns !== null &&
      !this.reflector.getAllAndOverride<boolean>(TOWN_SCOPED_KEY, targets)
    ) {
      throw new DomainError<AuthErrorCode>(
        'forbidden',
        'COUNTY_ONLY',
        'This is for county staff; a town official sees and acts for their own towns only',
      );
    }
    return true;
  }

  /** Counts a wrong token against the client's address; past the limit answers 429 instead of 401. */
  private refuseIfLimited(req: Request, res: Response): void {
    // With TRUST_PROXY, req.ip is what the configured proxies saw, never what the client wrote.
    const address = req.ip ?? req.socket.remoteAddress ?? 'unknown';
    const retryAfter = this.limiter.retryAfterS(address);
    if (retryAfter === 0) {
      this.limiter.recordFailure(address);
      return;
    }
    res.setHeader('Retry-After', String(retryAfter));
    throw new DomainError<AuthErrorCode>(
      'rate_limited',
      'TOO_MANY_FAILED_ATTEMPTS',
      `Too many requests with a wrong token from this address; try again in ${retryAfter} s`,
    );
  }
}
