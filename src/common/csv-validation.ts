import { plainToInstance } from 'class-transformer';
import { validateSync } from 'class-validator';
import type { FieldProblem } from './domain-error.js';
import type { CsvRow } from './csv.js';
import { toFieldProblems } from './validation.js';

/**
 * Validates one CSV line with the same DTO (and so the same rules and messages) as the JSON API;
 * problems name the CSV column and carry the line number.
 */
export function validateCsvRow<T extends object>(
  dtoClass: new () => T,
  row: CsvRow,
  plain: Record<string, unknown>,
  columnOf: Record<string, string>,
): { dto: T; problems: FieldProblem[] } {
  const dto = plainToInstance(dtoClass, plain);
  const errors = validateSync(dto, {
    whitelist: true,
    forbidNonWhitelisted: true,
    validationError: { target: false },
  });
  const problems = toFieldProblems(errors).map((p) => {
    const column = columnOf[p.field] ?? p.field;
    return { ...p, field: column, line: row.line, message: p.message.replace(p.field, column) };
  });
  return { dto, problems };
}

/** An optional numeric cell: empty → null, otherwise the number (NaN for text, which validation refuses). */
export function numberCell(value: string | undefined): number | null | undefined {
  if (value === undefined) return undefined;
  return value === '' ? null : Number(value);
}

/** An optional text cell: empty → null. */
export function textCell(value: string | undefined): string | null | undefined {
  if (value === undefined) return undefined;
  return value === '' ? null : value;
}
