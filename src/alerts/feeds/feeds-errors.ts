/** Codes of the errors the CAP feed routes answer with; the OpenAPI document lists them. */
export const FEED_ERROR_CODES = ['FEED_NOT_FOUND', 'FEED_URL_TAKEN'] as const;
export type FeedErrorCode = (typeof FEED_ERROR_CODES)[number];
