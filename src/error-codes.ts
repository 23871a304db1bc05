import { ALERT_ERROR_CODES } from './alerts/alert-errors.js';
import { FEED_ERROR_CODES } from './alerts/feeds/feeds-errors.js';
import { APPROVAL_ERROR_CODES } from './approvals/approvals-errors.js';
import { AUTH_ERROR_CODES } from './auth/auth-errors.js';
import { BROADCAST_ERROR_CODES } from './broadcasts/broadcast-errors.js';
import { CLIP_ERROR_CODES } from './clips/clip-errors.js';
import { COMMON_ERROR_CODES } from './common/domain-error.js';
import { HTTP_ERROR_CODES } from './common/error.filter.js';
import { COVERAGE_ERROR_CODES } from './coverage/coverage-errors.js';
import { DEVICE_ERROR_CODES } from './devices/device-errors.js';
import { LIVE_ERROR_CODES } from './live/live-errors.js';
import { SCHEDULE_ERROR_CODES } from './schedules/schedule-errors.js';
import { SIGNING_ERROR_CODES } from './signing/signing-errors.js';
import { STAFF_ERROR_CODES } from './staff/staff-errors.js';
import { TTS_ERROR_CODES } from './tts/tts-errors.js';
import { VILLAGE_ERROR_CODES } from './villages/village-errors.js';

/**
 * Every feature's error codes, by the name of its union type. Gathered here, at the composition
 * root, because no feature may import the others; http-app.ts writes them into the OpenAPI
 * document (a test checks that every code thrown in src/ is there).
 */
export const ERROR_CODES = {
  HttpErrorCode: HTTP_ERROR_CODES,
  CommonErrorCode: COMMON_ERROR_CODES,
  AuthErrorCode: AUTH_ERROR_CODES,
  VillageErrorCode: VILLAGE_ERROR_CODES,
  DeviceErrorCode: DEVICE_ERROR_CODES,
  ClipErrorCode: CLIP_ERROR_CODES,
  BroadcastErrorCode: BROADCAST_ERROR_CODES,
  CoverageErrorCode: COVERAGE_ERROR_CODES,
  LiveErrorCode: LIVE_ERROR_CODES,
  ScheduleErrorCode: SCHEDULE_ERROR_CODES,
  SigningErrorCode: SIGNING_ERROR_CODES,
  StaffErrorCode: STAFF_ERROR_CODES,
  ApprovalErrorCode: APPROVAL_ERROR_CODES,
  AlertErrorCode: ALERT_ERROR_CODES,
  FeedErrorCode: FEED_ERROR_CODES,
  TtsErrorCode: TTS_ERROR_CODES,
} as const satisfies Record<string, readonly string[]>;

/** Any code an error body's `error` can carry (besides `HTTP_<status>` for an unlisted status). */
export type ErrorCode = (typeof ERROR_CODES)[keyof typeof ERROR_CODES][number];
