/** Codes of the errors key management answers with; the OpenAPI document lists them. */
export const SIGNING_ERROR_CODES = [
  'KEY_NOT_FOUND',
  'KEY_IS_ACTIVE',
  'KEY_ALREADY_REVOKED',
  'KEYS_CHANGED',
] as const;
export type SigningErrorCode = (typeof SIGNING_ERROR_CODES)[number];
