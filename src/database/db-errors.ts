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

/** Escapes `%`, `_` and `\` for a `LIKE … ESCAPE '\'` pattern. */
export function escapeLike(text: string): string {
  return text.replace(/[\\%_]/g, (c) => `\\${c}`);
}
