import { Injectable } from '@nestjs/common';
import type { ClipUploadResultDto, UploadPriority } from '../clips/dto/clip.dto.js';

export interface TtsRequest {
  text: string;
  /** Engine-specific voice name; absent: the engine's Mandarin default. */
  voice?: string;
  /** Relative speed, 0.5–2 (1 = the engine's normal rate). */
  speed?: number;
  title?: string;
}

export interface TtsStatus {
  /** The engine in use, or null when none is available. */
  engine: string | null;
  available: boolean;
  /** Why none is available, in words for staff. */
  reason: string | null;
  voices: string[];
}

/**
 * Text to speech: makes a clip like any upload (normalised, content-addressed).
 * STAND-IN: the TTS helper replaces this body (spec: /work/spec19.md).
 */
@Injectable()
export class TtsService {
  status(): Promise<TtsStatus> {
    return Promise.resolve({ engine: null, available: false, reason: 'STAND-IN', voices: [] });
  }

  /** Speaks `text` into a clip; waits until it is ready. 503 TTS_UNAVAILABLE without an engine. */
  synthesize(
    _request: TtsRequest,
    _by: string,
    _priority: UploadPriority = 'routine',
  ): Promise<ClipUploadResultDto> {
    throw new Error('STAND-IN: TtsService.synthesize');
  }
}
