/** Codes of the errors coverage reports and resends of the uncovered villages answer with; the OpenAPI document lists them. */
export const COVERAGE_ERROR_CODES = [
  'BROADCAST_NOT_FOUND',
  'BROADCAST_CANCELLED',
  'BROADCAST_NOT_SENT',
  'RESEND_OPEN',
  'NOTHING_UNCOVERED',
  'CLIP_GONE',
  'IDEMPOTENCY_KEY_REUSED',
] as const;
export type CoverageErrorCode = (typeof COVERAGE_ERROR_CODES)[number];
