/** Codes of the errors recurring broadcasts answer with; the OpenAPI document lists them. */
export const SCHEDULE_ERROR_CODES = ['SCHEDULE_NOT_FOUND'] as const;
export type ScheduleErrorCode = (typeof SCHEDULE_ERROR_CODES)[number];
