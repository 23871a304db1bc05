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
