/** Codes of the errors the token guard and the token registry answer with; the OpenAPI document lists them. */
export const AUTH_ERROR_CODES = [
  'UNAUTHORIZED',
  'FORBIDDEN',
  'TOO_MANY_FAILED_ATTEMPTS',
  'INVALID_ROLE',
  'TOKEN_NOT_FOUND',
  'COUNTY_ONLY',
] as const;
export type AuthErrorCode = (typeof AUTH_ERROR_CODES)[number];
