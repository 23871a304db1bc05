import { DomainError } from '../common/domain-error.js';
import type { TtsErrorCode } from './tts-errors.js';

/** The longest text spoken at once (characters, after trimming): a few minutes of speech. */
export const TTS_MAX_CHARS = 2000;
const TITLE_CHARS = 60;

// Tabs and line breaks are layout (an alert's headline, then its description); the other
// control characters are never text.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]/;
const SPEAKABLE = /[\p{L}\p{N}]/u;

function invalid(message: string): DomainError<TtsErrorCode> {
  return new DomainError<TtsErrorCode>('invalid', 'TTS_TEXT_INVALID', message);
}

/**
 * The text as an engine gets it: each line trimmed with its runs of spaces and tabs made one
 * space, blank lines dropped. Refused (TTS_TEXT_INVALID) when it is not a string, holds control
 * characters other than tabs and line breaks, is empty or longer than {@link TTS_MAX_CHARS}
 * characters after trimming, or has no letter or digit to speak.
 */
export function speakableText(raw: unknown): string {
  if (typeof raw !== 'string') throw invalid('text must be a string');
  if (CONTROL.test(raw))
    throw invalid('text must not contain control characters (tabs and line breaks are allowed)');
  const text = raw
    .split(/\r\n|\r|\n/)
    .map((line) => line.replace(/[\t ]+/g, ' ').trim())
    .filter(Boolean)
    .join('\n');
  const length = [...text].length;
  if (length === 0) throw invalid('text is empty');
  if (length > TTS_MAX_CHARS)
    throw invalid(`text is ${length} characters; at most ${TTS_MAX_CHARS} are spoken at once`);
  if (!SPEAKABLE.test(text)) throw invalid('text has no letter or digit to speak');
  return text;
}

/** A clip title from the text's beginning, when the request gives none. */
export function titleFromText(text: string): string {
  const flat = text.replace(/\s+/g, ' ');
  const chars = [...flat];
  return chars.length > TITLE_CHARS ? `${chars.slice(0, TITLE_CHARS).join('')}…` : flat;
}

/** The container an engine wrote, from its first bytes (the upload's label); null: unknown. */
export function audioExtension(head: Buffer): 'wav' | 'mp3' | 'ogg' | null {
  if (head.subarray(0, 4).toString('latin1') === 'RIFF') return 'wav';
  if (head.subarray(0, 4).toString('latin1') === 'OggS') return 'ogg';
  if (head.subarray(0, 3).toString('latin1') === 'ID3') return 'mp3';
  if (head.length >= 2 && head[0] === 0xff && (head[1] & 0xe0) === 0xe0) return 'mp3';
  return null;
}

/**
 * At most `size` syntheses at once; the others wait, urgent ones ahead of routine ones, each in
 * the order it came.
 */
export class SynthesisSlots {
  private running = 0;
  private readonly waiting: { urgent: boolean; start: () => void }[] = [];

  constructor(private readonly size: number) {}

  /** Resolves with the function that gives the slot back, once one is free. */
  take(urgent: boolean): Promise<() => void> {
    return new Promise((resolve) => {
      const start = () => {
        this.running++;
        let given = false;
        resolve(() => {
          if (given) return;
          given = true;
          this.running--;
          this.waiting.shift()?.start();
        });
      };
      if (this.running < this.size) return start();
      const at = urgent ? this.waiting.findIndex((w) => !w.urgent) : -1;
      if (at < 0) this.waiting.push({ urgent, start });
      else this.waiting.splice(at, 0, { urgent, start });
    });
  }

  /** Syntheses running and waiting (for tests and the status). */
  get load(): { running: number; waiting: number } {
    return { running: this.running, waiting: this.waiting.length };
  }
}
