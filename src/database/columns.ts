import type { ValueTransformer } from 'typeorm';

/**
 * Times are stored as epoch milliseconds in a BIGINT column: one representation on SQLite and
 * PostgreSQL, no time-zone ambiguity, cheap to index and compare. PostgreSQL hands BIGINT back
 * as a string, hence the transformer.
 */
export const epochMs: ValueTransformer = {
  to: (value: number | null | undefined) => value,
  from: (value: string | number | null) => (value === null ? null : Number(value)),
};

export const timeColumn = { type: 'bigint', transformer: epochMs } as const;
