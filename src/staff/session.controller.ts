import { Body, Controller, Delete, Get, HttpCode, Post, Req, Res } from '@nestjs/common';
import {
  ApiBearerAuth,
  ApiNoContentResponse,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
} from '@nestjs/swagger';
import type { Request, Response } from 'express';
import type { AuthErrorCode } from '../auth/auth-errors.js';
import {
  CurrentPrincipal,
  Principal,
  Public,
  RequireRole,
  TownScoped,
} from '../auth/auth.decorators.js';
import {
  clearCookie,
  DEVICE_COOKIE_MAX_AGE_S,
  readCookie,
  SESSION_COOKIE,
  setCookie,
} from '../auth/cookies.js';
import { ChangePasswordDto, SessionDto, SignInDto } from '../auth/dto/session.dto.js';
import { SessionsService } from '../auth/sessions.service.js';
import { OpenBeforePasswordChange } from '../auth/token.guard.js';
import { ApiErrors } from '../common/api-errors.js';
import { DomainError } from '../common/domain-error.js';
import { AccountsService, WaitError } from './accounts.service.js';

/** The signed-in session of this request, or 403 when a token was presented instead. */
function sessionOf(req: Request) {
  if (!req.authSession) {
    throw new DomainError<AuthErrorCode>(
      'forbidden',
      'SESSION_REQUIRED',
      'This is about a signed-in browser session; an API token has none',
    );
  }
  return req.authSession;
}

/** Sets Retry-After for a refusal that says how long to wait; returns the error to rethrow. */
function withRetryAfter(err: unknown, res: Response): unknown {
  if (err instanceof WaitError) res.setHeader('Retry-After', String(err.retryAfterS));
  return err;
}

/**
 * Signing in with a username and password. The session travels in an HttpOnly cookie; changes made
 * with it echo the CSRF token this answers with. Town officials use these routes too (they touch no
 * town's data), hence `@TownScoped()`.
 */
@ApiTags('auth')
@Controller('api')
export class SessionController {
  constructor(
    private readonly accounts: AccountsService,
    private readonly sessions: SessionsService,
  ) {}

  @Post('session')
  @Public()
  @HttpCode(200)
  @ApiOperation({ summary: 'Sign in with a username and password; sets the session cookie' })
  @ApiOkResponse({ type: SessionDto })
  @ApiErrors(400, 401, 429, 503)
  async signIn(
    @Body() body: SignInDto,
    @Req() req: Request,
    @Res({ passthrough: true }) res: Response,
  ): Promise<SessionDto> {
    try {
      const done = await this.accounts.signIn(body.username, body.password, {
        address: req.ip ?? req.socket.remoteAddress ?? 'unknown',
        userAgent: req.headers['user-agent'] ?? null,
        cookie: (name) => readCookie(req, name),
      });
      setCookie(req, res, SESSION_COOKIE, done.cookie, this.sessions.maxAgeS);
      if (done.device) {
        const { name, value } = done.device;
        setCookie(req, res, name, value, DEVICE_COOKIE_MAX_AGE_S);
      }
      return done.body;
    } catch (err) {
      throw withRetryAfter(err, res);
    }
  }

  @Get('session')
  @RequireRole('viewer')
  @TownScoped()
  @OpenBeforePasswordChange()
  @ApiBearerAuth()
  @ApiOperation({ summary: 'The signed-in session: who, its CSRF token and when it ends' })
  @ApiOkResponse({ type: SessionDto })
  @ApiErrors(401, 403)
  current(@CurrentPrincipal() principal: Principal, @Req() req: Request): SessionDto {
    const { session, user } = sessionOf(req);
    return this.accounts.sessionDto(principal, session, user);
  }

  @Delete('session')
  @RequireRole('viewer')
  @TownScoped()
  @OpenBeforePasswordChange()
  @HttpCode(204)
  @ApiBearerAuth()
  @ApiOperation({ summary: 'Sign out: ends the session and its live streams' })
  @ApiNoContentResponse()
  @ApiErrors(401, 403)
  async signOut(
    @CurrentPrincipal() principal: Principal,
    @Req() req: Request,
    @Res({ passthrough: true }) res: Response,
  ): Promise<void> {
    const { session } = sessionOf(req);
    await this.accounts.signOut(principal, session.id);
    clearCookie(req, res, SESSION_COOKIE);
  }

  @Post('me/password')
  @RequireRole('viewer')
  @TownScoped()
  @OpenBeforePasswordChange()
  @HttpCode(204)
  @ApiBearerAuth()
  @ApiOperation({
    summary:
      'Change your own password (signed-in sessions only); your other sessions end. Wrong current passwords count towards the account lock',
  })
  @ApiNoContentResponse()
  @ApiErrors(400, 401, 403, 429, 503)
  async changePassword(
    @Body() body: ChangePasswordDto,
    @CurrentPrincipal() principal: Principal,
    @Req() req: Request,
    @Res({ passthrough: true }) res: Response,
  ): Promise<void> {
    // Not with a token: a token has no password to prove and would guess it unseen.
    const { session } = sessionOf(req);
    await this.accounts
      .changePassword(
        principal,
        body.currentPassword,
        body.newPassword,
        session.id,
        req.ip ?? req.socket.remoteAddress ?? 'unknown',
      )
      .catch((err: unknown) => {
        throw withRetryAfter(err, res);
      });
  }
}
