/** Codes of the errors recurring broadcasts answer with; the OpenAPI document lists them. */
export const SCHEDULE_ERROR_CODES = ['SCHEDULE_NOT_FOUND', 'OUT_OF_SCOPE'] as const;
export type ScheduleErrorCode = (typeof SCHEDULE_ERROR_CODES)[number];
