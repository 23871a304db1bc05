/** Codes of the errors devices and the commands sent to them answer with; the OpenAPI document lists them. */
export const DEVICE_ERROR_CODES = [
  'DEVICE_NOT_FOUND',
  'DEVICE_EXISTS',
  'RESOURCE_CODE_TAKEN',
  'DEVICE_HAS_DELIVERIES',
  'IMPORT_RACE',
  'DEVICE_OFFLINE',
  'DEVICE_NO_ANSWER',
  'BROKER_UNAVAILABLE',
  'DEVICE_KEY_NOT_PINNED',
] as const;
export type DeviceErrorCode = (typeof DEVICE_ERROR_CODES)[number];
