import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { LoggerService } from '@nestjs/common';
import pino, { DestinationStream, Level, Logger as Pino } from 'pino';
import { pinoHttp } from 'pino-http';
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

/** The request a log line belongs to, carried across awaits. */
const requestContext = new AsyncLocalStorage<{ requestId: string }>();

/** Work whose info lines are details (one per seeded row): they go out at debug. */
const detailContext = new AsyncLocalStorage<true>();

/**
 * Runs `work` with its info lines logged at debug, so a bulk job (the sample seed: ~190 rows) says
 * one summary line at info instead of scrolling the start-up banner away.
 */
export function withDetailsAtDebug<T>(work: () => Promise<T>): Promise<T> {
  return detailContext.run(true, work);
}

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
 * The process's root logger: one JSON object per line when not on a terminal, readable lines on
 * one. Credential-shaped fields are removed wherever they appear.
 */
export function createRootLogger(config: AppConfig, destination?: DestinationStream): Pino {
  const stream =
    destination ??
    (config.log.format === 'pretty'
      ? pretty({
          sync: true,
          colorize: true,
          translateTime: 'SYS:HH:MM:ss.l',
          // One line per message on a terminal: the module in front, not on a line of its own.
          messageFormat: '{if context}{context}: {end}{msg}',
          ignore: 'pid,hostname,context',
        })
      : pino.destination({ fd: 1, sync: true }));
  return pino(
    {
      level: config.log.level,
      base: undefined,
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: {
        paths: ['*.authorization', '*.password', '*.secret', '*.token', '*.headers'],
        remove: true,
      },
    },
    stream,
  );
}

/** Nest's logger interface over pino; every line logged while serving a request carries its id. */
export class AppLogger implements LoggerService {
  constructor(readonly pino: Pino) {}

  log(message: unknown, ...params: unknown[]): void {
    this.write('info', message, params);
  }
  error(message: unknown, ...params: unknown[]): void {
    this.write('error', message, params);
  }
  warn(message: unknown, ...params: unknown[]): void {
    this.write('warn', message, params);
  }
  debug(message: unknown, ...params: unknown[]): void {
    this.write('debug', message, params);
  }
  verbose(message: unknown, ...params: unknown[]): void {
    this.write('trace', message, params);
  }
  fatal(message: unknown, ...params: unknown[]): void {
    this.write('fatal', message, params);
  }

  /**
   * Nest calls `(message, ...params, context)`; `error` adds a stack before the context. A message
   * may also be an object of fields followed by the text, pino style.
   */
  private write(level: Level, message: unknown, params: unknown[]): void {
    const rest = [...params];
    const last = rest[rest.length - 1];
    const context =
      typeof last === 'string' && !last.includes('\n') ? (rest.pop() as string) : undefined;
    const effective =
      level === 'info' && ((context && CHATTY_CONTEXTS.has(context)) || detailContext.getStore())
        ? 'debug'
        : level;
    if (!this.pino.isLevelEnabled(effective)) return;

    const fields: Record<string, unknown> = {};
    if (context) fields.context = context;
    const request = requestContext.getStore();
    if (request) fields.reqId = request.requestId;
    let text: string | undefined;
    if (message instanceof Error) {
      fields.err = message;
      text = message.message;
    } else if (typeof message === 'object' && message !== null) {
      Object.assign(fields, message);
      text = typeof rest[0] === 'string' ? (rest.shift() as string) : undefined;
    } else {
      text = String(message);
    }
    if (level === 'error' && typeof rest[0] === 'string') fields.stack = rest[0];
    this.pino[effective](fields, text);
  }
}

/** Why a request failed, as the exception filter answered it; read by the request's log line. */
export interface RequestFailure {
  /** The error body's code, e.g. `DEVICE_NO_ANSWER`. */
  code: string;
  message: string;
  /** A domain error (an outcome the code foresaw): no stack, and a 5xx is a warning, not an error. */
  expected: boolean;
}

const FAILURE = Symbol('requestFailure');

/** Records why this response is an error, for its log line. */
export function noteRequestFailure(res: ServerResponse, failure: RequestFailure): void {
  (res as ServerResponse & { [FAILURE]?: RequestFailure })[FAILURE] = failure;
}

function failureOf(res: ServerResponse): RequestFailure | undefined {
  return (res as ServerResponse & { [FAILURE]?: RequestFailure })[FAILURE];
}

/**
 * Express middleware: one log line per finished request (method, path with credentials blanked,
 * status, time), with the request id; `/health` probes are not logged. Headers are never logged.
 */
export function httpLogging(root: Pino) {
  const logHttp = pinoHttp({
    logger: root,
    genReqId: assignRequestId,
    quietReqLogger: true,
    serializers: {
      req: (req: { id: string; method: string; url: string; remoteAddress?: string }) => ({
        id: req.id,
        method: req.method,
        url: redactUrl(req.url),
        remoteAddress: req.remoteAddress,
      }),
      res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
    },
    // A 5xx the code foresaw (a device that does not answer, the broker down) is one warning
    // naming its code and message; only an unexpected one is an error, with its stack.
    customLogLevel: (_req, res, err) =>
      err || (res.statusCode >= 500 && !failureOf(res)?.expected)
        ? 'error'
        : res.statusCode >= 400
          ? 'warn'
          : 'info',
    customSuccessObject: (_req, res, val: Record<string, unknown>) => {
      const failure = failureOf(res);
      return failure ? { ...val, error: failure.code } : val;
    },
    customErrorObject: (_req, res, _err, val: Record<string, unknown>) => {
      const failure = failureOf(res);
      if (!failure?.expected) return val;
      const { err: _stack, ...rest } = val;
      return { ...rest, error: failure.code };
    },
    customErrorMessage: (_req, res) => {
      const failure = failureOf(res);
      return failure?.expected ? `request failed: ${failure.message}` : 'request errored';
    },
    autoLogging: { ignore: (req) => req.url === '/health' || req.url === '/health/ready' },
  });
  return (req: IncomingMessage, res: ServerResponse, next: () => void): void => {
    const requestId = assignRequestId(req, res);
    requestContext.run({ requestId }, () => logHttp(req, res, next));
  };
}
