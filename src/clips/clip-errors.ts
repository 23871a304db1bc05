/** Why an upload is not usable audio (422): AudioRejected carries one of these. */
export const AUDIO_REJECTED_CODES = [
  'NOT_AUDIO',
  'AUDIO_EMPTY',
  'AUDIO_SILENT',
  'AUDIO_TOO_LONG',
  'AUDIO_TRUNCATED',
  'AUDIO_CORRUPT',
  'AUDIO_TIMEOUT',
] as const;
export type AudioRejectedCode = (typeof AUDIO_REJECTED_CODES)[number];

/** Codes of the errors clips, their uploads and media links answer with; the OpenAPI document lists them. */
export const CLIP_ERROR_CODES = [
  'CLIP_NOT_FOUND',
  'CLIP_IN_USE',
  'CLIP_NOT_READY',
  'CLIP_TOO_LARGE',
  'FILE_REQUIRED',
  'MULTIPART_REQUIRED',
  'UNEXPECTED_FILE',
  'MALFORMED_UPLOAD',
  'AUDIO_UNAVAILABLE',
  'MEDIA_NOT_FOUND',
  'FORBIDDEN',
  ...AUDIO_REJECTED_CODES,
] as const;
export type ClipErrorCode = (typeof CLIP_ERROR_CODES)[number];
