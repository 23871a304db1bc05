import type { TransformFnParams } from 'class-transformer';

/** `?flag=true|false|1|0`: anything else is left as is, so `@IsBoolean()` refuses it. */
export function toBoolean({ value }: TransformFnParams): unknown {
  if (value === 'true' || value === '1') return true;
  if (value === 'false' || value === '0') return false;
  return value;
}

/** Trims strings; turns an empty string into `undefined` so optional filters can be left blank. */
export function trimToUndefined({ value }: TransformFnParams): unknown {
  if (typeof value !== 'string') return value;
  const trimmed = value.trim();
  return trimmed === '' ? undefined : trimmed;
}

/**
 * `?n=123`: plain decimal digits become a number; anything else (`1e21`, `0x10`, `-1`, `1.5`, a
 * value too long to be exact) becomes NaN, which `@IsInt()` refuses with a 400 naming the field.
 */
export function toQueryInt({ value }: TransformFnParams): unknown {
  if (typeof value === 'number') return value;
  return typeof value === 'string' && /^-?\d{1,16}$/.test(value) ? Number(value) : NaN;
}
