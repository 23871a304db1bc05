import { QueryFailedError } from 'typeorm';

function driverCode(err: unknown): string | undefined {
  if (!(err instanceof QueryFailedError)) return undefined;
  const driverError = (err as QueryFailedError & { driverError?: { code?: unknown } }).driverError;
  return typeof driverError?.code === 'string' ? driverError.code : undefined;
}

/**
 * A row is still referenced by another, or references one that is missing (SQLite or PostgreSQL).
 * SQLite reports an `ON DELETE RESTRICT` refusal as SQLITE_CONSTRAINT_TRIGGER, hence the message test.
 */
export function isForeignKeyViolation(err: unknown): boolean {
  const code = driverCode(err);
  if (code === '23503' || code === 'SQLITE_CONSTRAINT_FOREIGNKEY') return true;
  return (
    code?.startsWith('SQLITE_CONSTRAINT') === true && /FOREIGN KEY/i.test((err as Error).message)
  );
}

/** A primary key or unique index already holds the value (SQLite or PostgreSQL). */
export function isUniqueViolation(err: unknown): boolean {
  const code = driverCode(err);
  return (
    code === 'SQLITE_CONSTRAINT_PRIMARYKEY' ||
    code === 'SQLITE_CONSTRAINT_UNIQUE' ||
    code === '23505'
  );
}

/**
 * Connection-level failures: PostgreSQL shut the session down (57P01-57P03), the connection class
 * (08xxx), or the socket went away under the driver.
 */
const LOST_CONNECTION = /^(08|57P0[123]$)|^(ECONNRESET|ECONNREFUSED|EPIPE|ETIMEDOUT)$/;

/**
 * A transaction that failed for reasons of timing, not of its content, and that may therefore
 * succeed when run again: a deadlock (40P01), a serialization failure (40001) or a lost connection.
 */
export function isTransientFailure(err: unknown): boolean {
  const e = err as { code?: unknown; driverError?: { code?: unknown }; message?: unknown };
  const code =
    typeof e?.driverError?.code === 'string'
      ? e.driverError.code
      : typeof e?.code === 'string'
        ? e.code
        : undefined;
  if (code === '40P01' || code === '40001') return true;
  if (code !== undefined && LOST_CONNECTION.test(code)) return true;
  // node-postgres reports a socket closed mid-query without a code.
  return typeof e?.message === 'string' && /Connection terminated/i.test(e.message);
}

/** Escapes `%`, `_` and `\` for a `LIKE … ESCAPE '\'` pattern. */
export function escapeLike(text: string): string {
  return text.replace(/[\\%_]/g, (c) => `\\${c}`);
}
