/** How an error maps onto HTTP; the one exception filter owns the mapping. */
export const ERROR_STATUS = {
  invalid: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  gone: 410,
  too_large: 413,
  unsupported: 415,
  unprocessable: 422,
  rate_limited: 429,
  unavailable: 503,
  timeout: 504,
} as const;

export type ErrorKind = keyof typeof ERROR_STATUS;

/** One problem with one input field (or CSV cell). */
export interface FieldProblem {
  /** Dotted path of the field, e.g. `quietHours` or `target.villages.0`. */
  field: string;
  /** The rule that was broken, e.g. `isVillageCode`, `unknownField`, `required`. */
  rule: string;
  message: string;
  /** 1-based line of a CSV upload, when the problem comes from one. */
  line?: number;
}

/**
 * Codes common/ answers with, whatever the feature: input it cannot read. Each feature lists its
 * own the same way (`VillageErrorCode`, …), and the OpenAPI document lists them all.
 */
export const COMMON_ERROR_CODES = [
  'VALIDATION_FAILED',
  'IMPORT_INVALID',
  'CSV_REQUIRED',
  'CSV_EMPTY',
  'UNSUPPORTED_CHARSET',
  'BODY_NOT_OBJECT',
] as const;
export type CommonErrorCode = (typeof COMMON_ERROR_CODES)[number];

/**
 * An expected failure of a domain operation, with a stable machine-readable `code`
 * (e.g. `VILLAGE_NOT_FOUND`). Domain code throws these, never HTTP exceptions.
 *
 * `C` is the feature's union of codes, written at the throw site as in
 * `DomainError<VillageErrorCode>`: it is never inferred from the code itself, so a code missing
 * from its feature's list does not compile.
 */
export class DomainError<C extends string = never> extends Error {
  constructor(
    readonly kind: ErrorKind,
    readonly code: NoInfer<C>,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = 'DomainError';
  }

  get status(): number {
    return ERROR_STATUS[this.kind];
  }
}

/** `WHAT_NOT_FOUND`: the code a {@link NotFoundError} of `what` carries. */
export type NotFoundCode<W extends string> = `${Uppercase<W>}_NOT_FOUND`;

export class NotFoundError<W extends string> extends DomainError<NotFoundCode<W>> {
  constructor(what: W, id: string) {
    super(
      'not_found',
      `${what.toUpperCase()}_NOT_FOUND` as NotFoundCode<W>,
      `${capitalise(what)} ${id} does not exist`,
    );
  }
}

export class ValidationFailedError extends DomainError<CommonErrorCode> {
  constructor(readonly problems: FieldProblem[]) {
    super('invalid', 'VALIDATION_FAILED', summarise(problems), problems);
  }
}

/** A CSV import refused as a whole: nothing was written; every problem is in `details`. */
export class ImportInvalidError extends DomainError<CommonErrorCode> {
  constructor(problems: FieldProblem[]) {
    const first = problems[0];
    super(
      'invalid',
      'IMPORT_INVALID',
      `Nothing imported: ${problems.length} problem(s), first on line ${first.line}: ${first.message}`,
      problems,
    );
  }
}

function capitalise(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

function summarise(problems: FieldProblem[]): string {
  const shown = problems
    .slice(0, 3)
    .map((p) => (p.line ? `line ${p.line}: ${p.message}` : p.message));
  const more = problems.length > 3 ? ` (and ${problems.length - 3} more)` : '';
  return `Invalid request: ${shown.join('; ')}${more}`;
}
