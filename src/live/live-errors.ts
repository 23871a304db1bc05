/** Codes of the errors the live event feed answer with; the OpenAPI document lists them. */
export const LIVE_ERROR_CODES = ['TOO_MANY_STREAMS'] as const;
export type LiveErrorCode = (typeof LIVE_ERROR_CODES)[number];
