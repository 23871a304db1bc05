import { CallHandler, ExecutionContext, Injectable, NestInterceptor } from '@nestjs/common';
import type { Request, Response } from 'express';
import { Observable, tap } from 'rxjs';
import { AuditService } from './audit.service.js';

const CHANGES = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/**
 * Records every successful change made through the API (who, what route, which subject, what they
 * sent, secrets removed). Reads are not recorded; failed requests are in the request log.
 */
@Injectable()
export class AuditInterceptor implements NestInterceptor {
  constructor(private readonly audit: AuditService) {}

  intercept(ctx: ExecutionContext, next: CallHandler): Observable<unknown> {
    if (ctx.getType() !== 'http') return next.handle();
    const req = ctx.switchToHttp().getRequest<Request>();
    if (!CHANGES.has(req.method) || !req.principal) return next.handle();
    return next.handle().pipe(
      tap(() => {
        const res = ctx.switchToHttp().getResponse<Response>();
        const route = (req.route as { path?: string } | undefined)?.path ?? req.path;
        const subject = Object.values(req.params ?? {}).join('/') || null;
        const body = Buffer.isBuffer(req.body) ? { csvBytes: req.body.length } : req.body;
        const p = req.principal!;
        void this.audit.record({
          actor: p.name,
          actorRole: p.role,
          actorUserId: p.userId,
          viaToken: p.via === 'token' ? p.tokenName : null,
          action: `${req.method} ${route}`,
          subject,
          status: res.statusCode,
          detail: { body, query: Object.keys(req.query ?? {}).length ? req.query : undefined },
          requestId: typeof req.id === 'string' ? req.id : null,
        });
      }),
    );
  }
}
