/** Codes of the errors broadcasts, their deliveries and manual confirmations answer with; the OpenAPI document lists them. */
export const BROADCAST_ERROR_CODES = [
  'BROADCAST_NOT_FOUND',
  'BROADCAST_ENDED',
  'BROADCAST_CANCELLED',
  'NOT_DISPATCHED',
  'IDEMPOTENCY_KEY_REUSED',
  'DELIVERY_NOT_FOUND',
  'CONFIRMATION_NOT_FOUND',
  'CONFIRMATION_WITHDRAWN',
  /** A town official asked for an emergency level, or a target or village beyond their towns. */
  'OUT_OF_SCOPE',
  'APPROVAL_REQUIRED',
] as const;
export type BroadcastErrorCode = (typeof BROADCAST_ERROR_CODES)[number];
