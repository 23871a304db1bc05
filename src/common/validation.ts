import { ArgumentMetadata, ParseUUIDPipe, ValidationError, ValidationPipe } from '@nestjs/common';
import {
  DomainError,
  FieldProblem,
  ValidationFailedError,
  type CommonErrorCode,
} from './domain-error.js';

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

/**
 * Deepest JSON a request body may nest (a broadcast body needs 3). The body parser checks it on
 * the raw bytes, so nothing recursive (parsing with a reviver, class-transformer, class-validator)
 * ever walks a deeper one.
 */
export const MAX_JSON_DEPTH = 32;

/** Keys that reach an object's prototype when a library copies them onto an instance. */
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

/** A lone UTF-16 surrogate: with the `u` flag, a surrogate pair is one code point and not matched. */
const LONE_SURROGATE = /\p{Cs}/u;

/**
 * How deep a JSON text nests, stopping as soon as it passes `max`. Brackets inside strings do not
 * count. Works on the bytes: every byte it looks at is ASCII, which UTF-8 never uses inside a
 * multi-byte character.
 */
export function jsonNestsDeeperThan(json: Uint8Array, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < json.length; i++) {
    const c = json[i];
    if (inString) {
      if (c === 0x5c)
        i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      if (++depth > max) return true;
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  return false;
}

/**
 * Problems no DTO rule sees: a key that would reach a prototype (`__proto__`, `constructor`,
 * `prototype`) and text that is not valid Unicode (a lone surrogate, which SQLite stores but then
 * cannot read back). Iterative, so it cannot run out of stack whatever the input.
 */
export function unsafeInputProblems(value: unknown, maxProblems = 10): FieldProblem[] {
  const problems: FieldProblem[] = [];
  const stack: [unknown, string][] = [[value, '']];
  while (stack.length > 0 && problems.length < maxProblems) {
    const [v, path] = stack.pop()!;
    if (typeof v === 'string') {
      if (LONE_SURROGATE.test(v)) {
        const field = path || 'body';
        problems.push({
          field,
          rule: 'wellFormedText',
          message: `${field} contains an unpaired UTF-16 surrogate (e.g. \\ud800): send valid Unicode text`,
        });
      }
    } else if (typeof v === 'object' && v !== null) {
      for (const key of Object.keys(v)) {
        const field = path ? `${path}.${key}` : key;
        if (FORBIDDEN_KEYS.has(key) || LONE_SURROGATE.test(key)) {
          problems.push({
            field: LONE_SURROGATE.test(field) ? path || 'body' : field,
            rule: 'forbiddenKey',
            message: `${FORBIDDEN_KEYS.has(key) ? `"${key}"` : 'a key with an unpaired surrogate'} is not allowed as a field name`,
          });
        } else stack.push([(v as Record<string, unknown>)[key], field]);
      }
    }
  }
  return problems;
}

/** A body meant for a DTO must be a JSON object: not missing, not an array, not text. */
class StrictValidationPipe extends ValidationPipe {
  override async transform(value: unknown, metadata: ArgumentMetadata): Promise<unknown> {
    const wantsObject =
      metadata.type === 'body' && metadata.metatype && !PRIMITIVES.includes(metadata.metatype);
    // A CSV or text body arrives as bytes (a Buffer), which is no JSON object either.
    const notObject =
      typeof value !== 'object' || value === null || Array.isArray(value) || Buffer.isBuffer(value);
    if (wantsObject && notObject) {
      throw new DomainError<CommonErrorCode>(
        'invalid',
        'BODY_NOT_OBJECT',
        'The request body must be a JSON object, sent with Content-Type: application/json',
      );
    }
    if ((metadata.type === 'body' || metadata.type === 'query') && !Buffer.isBuffer(value)) {
      const problems = unsafeInputProblems(value);
      if (problems.length > 0) throw new ValidationFailedError(problems);
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
