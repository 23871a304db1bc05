/** How a request wants its text spoken; the engine's defaults fill in what it leaves out. */
export interface SpeakOptions {
  /** An engine-specific voice name (one of {@link TtsEngine.voices} when it lists any). */
  voice: string;
  /** Relative speed, 0.5–2 (1 = the engine's normal rate). */
  speed: number;
}

/**
 * A text-to-speech engine: espeak-ng (espeak-engine.ts), a speech server over HTTP
 * (http-engine.ts), or a neural one in this process (designed, not shipped: docs/tts.md).
 * TtsService chooses one at start (TTS_ENGINE) and turns what it writes into a clip.
 */
export interface TtsEngine {
  /** As TTS_ENGINE names it and the status shows it: `espeak-ng`, `http`. */
  readonly name: string;
  /** The voice used when a request names none. */
  readonly defaultVoice: string;
  /** Null when it can speak now; otherwise why not, in words for staff (cheap: readiness asks). */
  available(): Promise<string | null>;
  /** The voices a request may name (empty: the engine does not say; any well-formed name goes). */
  voices(): Promise<string[]>;
  /** Writes the spoken `text` to `outPath` (WAV, MP3 or OGG); throws {@link TtsEngineFailed}. */
  synthesize(text: string, options: SpeakOptions, outPath: string): Promise<void>;
  /** For the start-up log: which engine, found where (never a secret). */
  describe(): string;
  /** Ends anything under way (the server is stopping). */
  close(): void;
}

/** The engine could not speak this time; the message is safe to show and log (no secrets). */
export class TtsEngineFailed extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TtsEngineFailed';
  }
}
