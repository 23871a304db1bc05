import { ValidateBy, ValidationOptions } from 'class-validator';

/** A human-readable name: 1..max characters after trimming, no control characters. */
export function IsDisplayName(max: number, options?: ValidationOptions): PropertyDecorator {
  return ValidateBy(
    {
      name: 'isDisplayName',
      validator: {
        validate: (v: unknown) =>
          typeof v === 'string' && v.length >= 1 && v.length <= max && !/[\x00-\x1f\x7f]/.test(v),
        defaultMessage: (a) => `${a?.property} must be 1 to ${max} characters without control characters`,
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
        validate: (v: unknown) =>
          typeof v === 'string' && v.length <= max && !/[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]/.test(v),
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
    { name, validator: { validate: predicate, defaultMessage: (a) => `${a?.property} ${message}` } },
    options,
  );
}
