import { CanActivate, ExecutionContext, Injectable, SetMetadata } from '@nestjs/common';
import { timingSafeEqual } from 'node:crypto';
import { Reflector } from '@nestjs/core';
import type { Request, Response } from 'express';
import { DomainError } from '../common/domain-error.js';
import type { AuthErrorCode } from './auth-errors.js';
import { ApiTokensService } from './api-tokens.service.js';
import { PUBLIC_KEY, ROLE_KEY, TOWN_SCOPED_KEY, Principal } from './auth.decorators.js';
import { AuthFailureLimiter } from './auth-failure-limiter.js';
import { clearCookie, readCookie, SESSION_COOKIE } from './cookies.js';
import { Role, roleAllows } from './roles.js';
import { SessionsService } from './sessions.service.js';

const READ_METHODS = new Set(['GET', 'HEAD']);
const BEARER = /^Bearer +([\x21-\x7e]{1,512})$/i;

export const PASSWORD_CHANGE_ROUTE_KEY = 'dalaba:password-change-route';

/** The route stays open to a person who must change their password first (sign-out, the change itself). */
export const OpenBeforePasswordChange = (): MethodDecorator =>
  SetMetadata(PASSWORD_CHANGE_ROUTE_KEY, true);

/**
 * Every route needs a bearer token or a signed-in session (cookie) unless marked `@Public()`; the
 * header wins when both are sent. A cookie-authenticated change must echo the session's CSRF token
 * in `X-CSRF-Token`: SameSite=Strict already keeps other sites out, this keeps out what slips past.
 * A missing and a wrong token get the
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
    private readonly sessions: SessionsService,
  ) {}

  async canActivate(ctx: ExecutionContext): Promise<boolean> {
    if (ctx.getType() !== 'http') return true;
    const targets = [ctx.getHandler(), ctx.getClass()];
    if (this.reflector.getAllAndOverride<boolean>(PUBLIC_KEY, targets)) return true;

    const req = ctx.switchToHttp().getRequest<Request>();
    const res = ctx.switchToHttp().getResponse<Response>();
    const header = req.headers.authorization;
    const principal = header
      ? await this.byToken(req, res, header)
      : await this.bySession(req, res, targets);
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

  private async byToken(req: Request, res: Response, header: string): Promise<Principal> {
    const token = BEARER.exec(header)?.[1];
    // Checked first, whatever the address did: others' wrong tokens never keep a valid one out.
    const principal = token ? await this.tokens.authenticate(token) : null;
    if (!principal) {
      this.refuseIfLimited(req, res);
      throw unauthorized();
    }
    return principal;
  }

  private async bySession(
    req: Request,
    res: Response,
    targets: ReturnType<ExecutionContext['getHandler']>[],
  ): Promise<Principal> {
    const cookie = readCookie(req, SESSION_COOKIE);
    if (!cookie) throw unauthorized();
    const check = await this.sessions.authenticate(cookie, {
      background: req.headers['x-dalaba-background'] === '1',
    });
    if (!check.ok) {
      clearCookie(req, res, SESSION_COOKIE);
      if (check.why === 'expired') {
        throw new DomainError<AuthErrorCode>(
          'unauthorized',
          'SESSION_EXPIRED',
          'Your session has expired; sign in again',
        );
      }
      throw unauthorized();
    }
    if (
      !READ_METHODS.has(req.method) &&
      !sameSecret(req.headers['x-csrf-token'], check.session.csrfToken)
    ) {
      throw new DomainError<AuthErrorCode>(
        'forbidden',
        'CSRF_TOKEN_INVALID',
        'A change made with a session cookie needs the header X-CSRF-Token from GET /api/session',
      );
    }
    if (
      check.user.mustChangePassword &&
      !this.reflector.getAllAndOverride<boolean>(PASSWORD_CHANGE_ROUTE_KEY, targets)
    ) {
      throw new DomainError<AuthErrorCode>(
        'forbidden',
        'PASSWORD_CHANGE_REQUIRED',
        'Change your password first: POST /api/me/password',
      );
    }
    req.authSession = { session: check.session, user: check.user };
    return check.principal;
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

const unauthorized = () =>
  new DomainError<AuthErrorCode>(
    'unauthorized',
    'UNAUTHORIZED',
    'Sign in, or send a valid API token: Authorization: Bearer <token>',
  );

function sameSecret(given: string | string[] | undefined, expected: string): boolean {
  if (typeof given !== 'string') return false;
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}
