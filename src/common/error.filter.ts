import { ArgumentsHost, Catch, ExceptionFilter, HttpException, Logger } from '@nestjs/common';
import type { Request, Response } from 'express';
import { DomainError } from './domain-error.js';
import { noteRequestFailure } from './logging.js';
import { MAX_JSON_DEPTH } from './validation.js';

/** The JSON body of every error response. */
export interface ErrorBody {
  statusCode: number;
  /** Stable machine-readable code, e.g. `VALIDATION_FAILED`, `VILLAGE_NOT_FOUND`. */
  error: string;
  message: string;
  details?: unknown;
  requestId?: string;
}

/**
 * Codes for requests refused before any feature sees them (a body that cannot be read, an unknown
 * route) and for unexpected failures (`INTERNAL`); a status with no code here answers `HTTP_<status>`.
 */
export const HTTP_ERROR_CODES = [
  'BODY_TOO_LARGE',
  'BODY_TOO_DEEP',
  'MALFORMED_JSON',
  'UNSUPPORTED_ENCODING',
  'UNSUPPORTED_CHARSET',
  'BAD_REQUEST',
  'UNAUTHORIZED',
  'FORBIDDEN',
  'NOT_FOUND',
  'METHOD_NOT_ALLOWED',
  'NOT_ACCEPTABLE',
  'CONFLICT',
  'UNSUPPORTED_MEDIA_TYPE',
  'RATE_LIMITED',
  'UNAVAILABLE',
  'INTERNAL',
] as const;
export type HttpErrorCode = (typeof HTTP_ERROR_CODES)[number];

/** Errors raised by body parsers (http-errors shape): status plus a `type`. */
interface ParserError {
  status: number;
  type?: string;
  limit?: number;
}

const PARSER_ERRORS: Record<string, { code: HttpErrorCode; message: (e: ParserError) => string }> =
  {
    'entity.too.large': {
      code: 'BODY_TOO_LARGE',
      message: (e) => `Request body is larger than the limit of ${e.limit ?? '?'} bytes`,
    },
    'entity.too.deep': {
      code: 'BODY_TOO_DEEP',
      message: () => `Request body is nested deeper than ${MAX_JSON_DEPTH} levels`,
    },
    'entity.parse.failed': {
      code: 'MALFORMED_JSON',
      message: () => 'Request body is not valid JSON',
    },
    'encoding.unsupported': {
      code: 'UNSUPPORTED_ENCODING',
      message: () => 'Request body encoding is not supported; send UTF-8',
    },
    'charset.unsupported': {
      code: 'UNSUPPORTED_CHARSET',
      message: () => 'Request charset is not supported; send UTF-8',
    },
  };

function isParserError(err: unknown): err is ParserError {
  return typeof err === 'object' && err !== null && typeof (err as ParserError).status === 'number';
}

const HTTP_CODES: Record<number, HttpErrorCode> = {
  400: 'BAD_REQUEST',
  401: 'UNAUTHORIZED',
  403: 'FORBIDDEN',
  404: 'NOT_FOUND',
  405: 'METHOD_NOT_ALLOWED',
  406: 'NOT_ACCEPTABLE',
  409: 'CONFLICT',
  413: 'BODY_TOO_LARGE',
  415: 'UNSUPPORTED_MEDIA_TYPE',
  429: 'RATE_LIMITED',
  503: 'UNAVAILABLE',
};

/** Maps any error to one response shape; unexpected errors become a logged 500 with no internals. */
export function toErrorBody(err: unknown): ErrorBody {
  if (err instanceof DomainError) {
    return { statusCode: err.status, error: err.code, message: err.message, details: err.details };
  }
  // Nest wraps body-parser errors (bad JSON, too large) in an HttpException; name them precisely.
  if (
    err instanceof HttpException &&
    isParserError(err.cause) &&
    err.cause.type &&
    PARSER_ERRORS[err.cause.type]
  ) {
    return toErrorBody(err.cause);
  }
  if (err instanceof HttpException) {
    const status = err.getStatus();
    const response = err.getResponse();
    const message =
      typeof response === 'string'
        ? response
        : String((response as { message?: unknown }).message ?? err.message);
    return { statusCode: status, error: HTTP_CODES[status] ?? `HTTP_${status}`, message };
  }
  if (isParserError(err) && err.status >= 400 && err.status < 500) {
    const known = err.type ? PARSER_ERRORS[err.type] : undefined;
    return {
      statusCode: err.status,
      error: known?.code ?? HTTP_CODES[err.status] ?? `HTTP_${err.status}`,
      message: known?.message(err) ?? 'The request could not be read',
    };
  }
  const internal: HttpErrorCode = 'INTERNAL';
  return { statusCode: 500, error: internal, message: 'Internal server error' };
}

@Catch()
export class ErrorFilter implements ExceptionFilter {
  private readonly logger = new Logger('http');

  catch(err: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    const req = http.getRequest<Request>();
    const res = http.getResponse<Response>();
    const body = toErrorBody(err);
    body.requestId = typeof req.id === 'string' ? req.id : undefined;
    const expected = err instanceof DomainError;
    // The request's own log line carries the code and message; an unexpected failure is also
    // logged here, with its stack.
    noteRequestFailure(res, { code: body.error, message: body.message, expected });
    if (body.statusCode >= 500 && !expected) {
      this.logger.error(
        { err, requestId: body.requestId, method: req.method, path: req.path },
        'request failed',
      );
    }
    if (res.headersSent) {
      res.end();
      return;
    }
    if (body.statusCode === 401) res.setHeader('WWW-Authenticate', 'Bearer');
    // A CSV route's Content-Type is already set when its query is refused: an error is JSON.
    res.status(body.statusCode).type('application/json').json(body);
  }
}
