import { ArgumentMetadata, ParseUUIDPipe, ValidationError, ValidationPipe } from '@nestjs/common';
import { DomainError, FieldProblem, ValidationFailedError } from './domain-error.js';

/** class-validator's name for a property that no DTO declares. */
const UNKNOWN_FIELD = 'whitelistValidation';

/** Flattens nested class-validator errors into one problem per field and rule. */
export function toFieldProblems(errors: ValidationError[], prefix = ''): FieldProblem[] {
  const problems: FieldProblem[] = [];
  for (const error of errors) {
    const field = prefix ? `${prefix}.${error.property}` : error.property;
    for (const [rule, message] of Object.entries(error.constraints ?? {})) {
      problems.push(
        rule === UNKNOWN_FIELD
          ? { field, rule: 'unknownField', message: `${field} is not a known field` }
          : { field, rule, message },
      );
    }
    problems.push(...toFieldProblems(error.children ?? [], field));
  }
  return problems;
}

const PRIMITIVES: unknown[] = [String, Boolean, Number, Array, Object];

/** A body meant for a DTO must be a JSON object: not missing, not an array, not text. */
class StrictValidationPipe extends ValidationPipe {
  override async transform(value: unknown, metadata: ArgumentMetadata): Promise<unknown> {
    const wantsObject =
      metadata.type === 'body' && metadata.metatype && !PRIMITIVES.includes(metadata.metatype);
    if (wantsObject && (typeof value !== 'object' || value === null || Array.isArray(value))) {
      throw new DomainError(
        'invalid',
        'BODY_NOT_OBJECT',
        'The request body must be a JSON object, sent with Content-Type: application/json',
      );
    }
    return super.transform(value, metadata);
  }
}

/** A UUID path parameter; anything else is a 400 naming the field, like every validation error. */
export function uuidParam(field = 'id'): ParseUUIDPipe {
  return new ParseUUIDPipe({
    exceptionFactory: () =>
      new ValidationFailedError([{ field, rule: 'isUuid', message: `${field} must be a UUID` }]),
  });
}

/** Strict validation: unknown fields are refused, values are converted to the DTO's types. */
export function createValidationPipe(): ValidationPipe {
  return new StrictValidationPipe({
    whitelist: true,
    forbidNonWhitelisted: true,
    forbidUnknownValues: true,
    transform: true,
    validationError: { target: false, value: false },
    exceptionFactory: (errors) => new ValidationFailedError(toFieldProblems(errors)),
  });
}
