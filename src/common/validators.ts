import { ValidateBy, ValidationOptions } from 'class-validator';

// Control characters are exactly what these patterns look for.
/* eslint-disable no-control-regex */
const CONTROL = /[\x00-\x1f\x7f]/;
const CONTROL_EXCEPT_WHITESPACE = /[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]/;
/* eslint-enable no-control-regex */

/** The text without control characters. */
export function stripControl(text: string): string {
  return text.replace(new RegExp(CONTROL.source, 'g'), '');
}

/** 1..max characters and no control characters: names and labels. */
export function isDisplayName(v: unknown, max: number): v is string {
  return typeof v === 'string' && v.length >= 1 && v.length <= max && !CONTROL.test(v);
}

/** Up to max characters; tabs and newlines allowed, other control characters not: notes. */
export function isFreeText(v: unknown, max: number): v is string {
  return typeof v === 'string' && v.length <= max && !CONTROL_EXCEPT_WHITESPACE.test(v);
}

/** A human-readable name: 1..max characters after trimming, no control characters. */
export function IsDisplayName(max: number, options?: ValidationOptions): PropertyDecorator {
  return ValidateBy(
    {
      name: 'isDisplayName',
      validator: {
        validate: (v: unknown) => isDisplayName(v, max),
        defaultMessage: (a) =>
          `${a?.property} must be 1 to ${max} characters without control characters`,
      },
    },
    options,
  );
}

/** Free text up to `max` characters; newlines and tabs are allowed, other control characters are not. */
export function IsFreeText(max: number, options?: ValidationOptions): PropertyDecorator {
  return ValidateBy(
    {
      name: 'isFreeText',
      validator: {
        validate: (v: unknown) => isFreeText(v, max),
        defaultMessage: (a) => `${a?.property} must be at most ${max} characters of text`,
      },
    },
    options,
  );
}

/** Builds a single-rule validator from a predicate, so errors name the rule (e.g. `isVillageCode`). */
export function ValidatesAs(
  name: string,
  predicate: (value: unknown) => boolean,
  message: string,
  options?: ValidationOptions,
): PropertyDecorator {
  return ValidateBy(
    {
      name,
      validator: { validate: predicate, defaultMessage: (a) => `${a?.property} ${message}` },
    },
    options,
  );
}
