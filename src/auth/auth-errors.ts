/** Codes of the errors the guard, sign-in and the token and user registries answer with; the OpenAPI document lists them. */
export const AUTH_ERROR_CODES = [
  'UNAUTHORIZED',
  'FORBIDDEN',
  'TOO_MANY_FAILED_ATTEMPTS',
  'INVALID_ROLE',
  'TOKEN_NOT_FOUND',
  'COUNTY_ONLY',
  'BAD_CREDENTIALS',
  'ACCOUNT_LOCKED',
  'SESSION_EXPIRED',
  'SESSION_REQUIRED',
  'CSRF_TOKEN_INVALID',
  'PASSWORD_CHANGE_REQUIRED',
  'PASSWORD_REJECTED',
  'WRONG_PASSWORD',
  'LOGIN_BUSY',
  'TOO_MANY_SIGN_INS',
  'USER_NOT_FOUND',
  'TOKEN_OWNER_INVALID',
] as const;
export type AuthErrorCode = (typeof AUTH_ERROR_CODES)[number];
