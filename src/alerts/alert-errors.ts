/** Codes of the errors the alerts intake and its senders answer with; the OpenAPI document lists them. */
export const ALERT_ERROR_CODES = [
  /** The message was refused (bad XML, schema, a CAP rule, signature, sender); `details.rule` names the rule. */
  'ALERT_REFUSED',
  /** The alert touches no village of this county, or lies outside it; `details.rule` says which. */
  'ALERT_OUT_OF_AREA',
  /** The body is not XML (Content-Type application/cap+xml, application/xml or text/xml). */
  'ALERT_NOT_XML',
  'ALERT_NOT_FOUND',
  /** POST /api/alerts/:id/broadcast on an alert that is not waiting for a level. */
  'ALERT_LEVEL_NOT_NEEDED',
  /** POST /api/alerts/:id/broadcast on an alert whose `expires` has passed. */
  'ALERT_EXPIRED',
  /** POST /api/alerts/:id/broadcast on an alert a later Update or Cancel of its sender referenced. */
  'ALERT_SUPERSEDED',
  'ALERT_SENDER_NOT_FOUND',
  /** More XML waits to be read than the intake holds (XML_QUEUE): send it again in a moment. */
  'ALERTS_BUSY',
] as const;
export type AlertErrorCode = (typeof ALERT_ERROR_CODES)[number];
