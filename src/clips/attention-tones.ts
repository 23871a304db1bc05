import { join } from 'node:path';
import type { Level } from '../contract/messages.js';

/** Attention tones come in three families; each broadcast level uses one. */
export const TONE_FAMILIES = ['emergency', 'routine', 'test'] as const;
export type ToneFamily = (typeof TONE_FAMILIES)[number];

export function toneFamilyOf(level: Level): ToneFamily {
  return level === 'routine' ? 'routine' : level === 'test' ? 'test' : 'emergency';
}

/** The shipped tone file of a family (made by audio/make-sounds.sh). */
export function tonePath(soundsDir: string, family: ToneFamily): string {
  return join(soundsDir, `attention-${family}.mp3`);
}
