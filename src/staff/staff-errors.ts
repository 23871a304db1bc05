/** Codes of the errors staff account management answers with; the OpenAPI document lists them. */
export const STAFF_ERROR_CODES = [
  'USERNAME_TAKEN',
  'USERNAME_INVALID',
  'TOWNS_INVALID',
  'LAST_ADMIN',
] as const;
export type StaffErrorCode = (typeof STAFF_ERROR_CODES)[number];
