import { createParamDecorator, ExecutionContext, SetMetadata } from '@nestjs/common';
import type { Request } from 'express';
import type { Role } from './roles.js';

export const PUBLIC_KEY = 'dalaba:public';
export const ROLE_KEY = 'dalaba:role';
export const TOWN_SCOPED_KEY = 'dalaba:town-scoped';

/** The route needs no token (health probes, signed media). */
export const Public = (): ClassDecorator & MethodDecorator => SetMetadata(PUBLIC_KEY, true);

/**
 * The least role the route needs. Without it, reads (GET, HEAD) need `viewer` and every other
 * method needs `operator`.
 */
export const RequireRole = (role: Role): ClassDecorator & MethodDecorator =>
  SetMetadata(ROLE_KEY, role);

/**
 * The route limits what it reads and changes to the caller's towns ({@link townsOf}), so a town
 * official may call it. Every other route refuses town officials: a route nobody has looked at
 * shows them nothing.
 */
export const TownScoped = (): ClassDecorator & MethodDecorator =>
  SetMetadata(TOWN_SCOPED_KEY, true);

/** Who is calling: set by the token guard on every authenticated request. */
export interface Principal {
  /** The credential presented: an API token's id or a session's id. Streams and idempotency keys belong to it. */
  credentialId: string;
  via: 'token' | 'session';
  /** Who acts, as audit entries and "created by" name them: the person's display name, or the token's name when no person owns it. */
  name: string;
  role: Role;
  /** The person acting (a session's user, or the person who owns the token), if any. */
  userId: string | null;
  username: string | null;
  /** The person's phone, digits only: two accounts with one phone are one person for approvals. */
  phone: string | null;
  /** The token's name when a machine acted (via === 'token'). */
  tokenName: string | null;
  /** Town codes this principal acts for; null means the whole county. */
  towns: string[] | null;
}

declare module 'express-serve-static-core' {
  interface Request {
    principal?: Principal;
  }
}

export const CurrentPrincipal = createParamDecorator(
  (_: unknown, ctx: ExecutionContext): Principal => {
    const principal = ctx.switchToHttp().getRequest<Request>().principal;
    if (!principal) throw new Error('CurrentPrincipal used on a public route');
    return principal;
  },
);

/** The towns a principal is limited to, or null when it acts for the whole county. */
export const townsOf = (p: Principal): string[] | null => p.towns;

/** Whether a principal may see or act for this town. */
export const mayActForTown = (p: Principal, townCode: string): boolean =>
  p.towns === null || p.towns.includes(townCode);
