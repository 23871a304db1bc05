import { createParamDecorator, ExecutionContext, SetMetadata } from '@nestjs/common';
import type { Request } from 'express';
import type { Role } from './roles.js';

export const PUBLIC_KEY = 'dalaba:public';
export const ROLE_KEY = 'dalaba:role';

/** The route needs no token (health probes, signed media). */
export const Public = (): ClassDecorator & MethodDecorator => SetMetadata(PUBLIC_KEY, true);

/**
 * The least role the route needs. Without it, reads (GET, HEAD) need `viewer` and every other
 * method needs `operator`.
 */
export const RequireRole = (role: Role): ClassDecorator & MethodDecorator =>
  SetMetadata(ROLE_KEY, role);

/** Who is calling: set by the token guard on every authenticated request. */
export interface Principal {
  tokenId: string;
  name: string;
  role: Role;
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
