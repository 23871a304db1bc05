/** Codes of the errors the superior link answers with; the OpenAPI document lists them. */
export const SUPERIOR_ERROR_CODES = [
  /** SUPERIOR_URL is not set: the link, and its inbound route, are off. */
  'SUPERIOR_LINK_OFF',
  /** The body is not an EBD package this server can read at all (no receipt can name it). */
  'PACKAGE_UNREADABLE',
  /** Over the inbound package size limit. */
  'PACKAGE_TOO_LARGE',
  /** The active signing key is not of SUPERIOR_SIGNATURE's algorithm (rotate it): nothing can be signed. */
  'SIGNING_KEY_MISMATCH',
] as const;
export type SuperiorErrorCode = (typeof SUPERIOR_ERROR_CODES)[number];
