import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { LoggerModule } from 'nestjs-pino';
import type { DynamicModule } from '@nestjs/common';
import pino, { DestinationStream } from 'pino';
import pretty from 'pino-pretty';
import type { AppConfig } from '../config/app-config.js';

/** Nest's start-up chatter (one line per module and route): kept at debug so start-up stays readable. */
const CHATTY_CONTEXTS = new Set([
  'InstanceLoader',
  'RoutesResolver',
  'RouterExplorer',
  'NestFactory',
]);

const REQUEST_ID = /^[A-Za-z0-9._-]{1,64}$/;
/** Query parameters whose values are credentials (signed media links and the like). */
const SECRET_PARAMS = /([?&](?:sig|signature|token|secret|password)=)[^&]*/gi;

/** The path and query of a request with credential-like parameters blanked. */
export function redactUrl(url: string | undefined): string {
  return (url ?? '').replace(SECRET_PARAMS, '$1[redacted]');
}

/**
 * Gives the request its id (the caller's `X-Request-Id` when it is sane) and echoes it in the
 * response. Runs first, before body parsing, so even a refused body carries the id.
 */
export function assignRequestId(
  req: IncomingMessage & { id?: unknown },
  res: ServerResponse,
): string {
  if (typeof req.id === 'string') return req.id;
  const given = req.headers['x-request-id'];
  const id = typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
  req.id = id;
  res.setHeader('X-Request-Id', id);
  return id;
}

/**
 * Structured logs: one JSON object per line when not on a terminal, readable lines on one.
 * Each HTTP request gets an id (the caller's `X-Request-Id` when it is sane) that every log line
 * of that request carries and the response echoes. Authorization headers are never logged.
 */
export function loggerModule(config: AppConfig, destination?: DestinationStream): DynamicModule {
  const stream =
    destination ??
    (config.log.format === 'pretty'
      ? pretty({
          sync: true,
          colorize: true,
          translateTime: 'SYS:HH:MM:ss.l',
          ignore: 'pid,hostname',
        })
      : pino.destination({ fd: 1, sync: true }));
  return LoggerModule.forRoot({
    pinoHttp: [
      {
        level: config.log.level,
        base: undefined,
        hooks: {
          logMethod(args: unknown[], method: (...a: unknown[]) => void, level: number) {
            const context = (args[0] as { context?: unknown } | undefined)?.context;
            if (level === 30 && typeof context === 'string' && CHATTY_CONTEXTS.has(context)) {
              if (this.isLevelEnabled('debug')) this.debug(...(args as [object, string]));
              return;
            }
            method.apply(this, args);
          },
        },
        timestamp: pino.stdTimeFunctions.isoTime,
        genReqId: assignRequestId,
        serializers: {
          req: (req: { id: string; method: string; url: string; remoteAddress?: string }) => ({
            id: req.id,
            method: req.method,
            url: redactUrl(req.url),
            remoteAddress: req.remoteAddress,
          }),
          res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
        },
        redact: {
          paths: [
            'req.headers',
            'res.headers',
            '*.authorization',
            '*.password',
            '*.secret',
            '*.token',
          ],
          remove: true,
        },
        customLogLevel: (_req: IncomingMessage, res: ServerResponse, err?: Error) =>
          err || res.statusCode >= 500 ? 'error' : res.statusCode >= 400 ? 'warn' : 'info',
        autoLogging: {
          ignore: (req: IncomingMessage) => req.url === '/health' || req.url === '/health/ready',
        },
      },
      stream,
    ],
  });
}
