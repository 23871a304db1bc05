/** Codes of the errors text to speech answers with; the OpenAPI document lists them. */
export const TTS_ERROR_CODES = [
  /** 400: empty, over 2000 characters, control characters, or nothing an engine can speak. */
  'TTS_TEXT_INVALID',
  /** 400: a voice the engine does not have. */
  'TTS_VOICE_UNKNOWN',
  /** 503: no engine (TTS_ENGINE=none, or none found); the message says why and what to do. */
  'TTS_UNAVAILABLE',
  /** 503: the engine was there but failed this time (crashed, timed out, answered no audio). */
  'TTS_ENGINE_FAILED',
] as const;
export type TtsErrorCode = (typeof TTS_ERROR_CODES)[number];
