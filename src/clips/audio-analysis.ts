/** Reading ffmpeg's output (pure functions, tested on their own). */

export interface Loudness {
  /** Integrated loudness, LUFS (`-Infinity` for silence). */
  integrated: number;
  truePeak: number;
  range: number;
  threshold: number;
  offset: number;
}

export interface InputInfo {
  container: string | null;
  codec: string | null;
  sampleRate: number | null;
  channels: string | null;
  /** From the container or stream header; null when unknown or only estimated. */
  headerDurationMs: number | null;
  /** Estimated from the bit rate (may be far off for variable bit rates); null when not estimated. */
  estimatedDurationMs: number | null;
}

/** The input's container, first audio stream and header duration, from ffmpeg's banner. */
export function parseInputInfo(output: string): InputInfo {
  // Only the input's banner: the output section lists streams too.
  const cut = output.search(/^(Stream mapping:|Output #0)/m);
  const stderr = cut >= 0 ? output.slice(0, cut) : output;
  const container = /^Input #0, ([^,]+(?:,[^,]+)*?), from /m.exec(stderr)?.[1] ?? null;
  const duration = /Duration: (\d+):(\d{2}):(\d{2}(?:\.\d+)?)/.exec(stderr);
  const estimated = /Estimating duration from bitrate/.test(stderr);
  const durationMs = duration
    ? Math.round(
        (Number(duration[1]) * 3600 + Number(duration[2]) * 60 + Number(duration[3])) * 1000,
      )
    : null;
  const stream =
    /Stream #0:\d+(?:\[[^\]]*\])?(?:\([^)]*\))?: Audio: ([^\s,]+)[^,\n]*(?:, (\d+) Hz)?(?:, ([^,\n]+))?/.exec(
      stderr,
    );
  return {
    container,
    codec: stream?.[1] ?? null,
    sampleRate: stream?.[2] ? Number(stream[2]) : null,
    channels: stream?.[3]?.trim() ?? null,
    headerDurationMs: estimated ? null : durationMs,
    estimatedDurationMs: estimated ? durationMs : null,
  };
}

/** The measurement `loudnorm=…:print_format=json` prints last; null when absent. */
export function parseLoudnorm(stderr: string): Loudness | null {
  const at = stderr.lastIndexOf('[Parsed_loudnorm');
  if (at < 0) return null;
  const json = /\{[\s\S]*?\}/.exec(stderr.slice(at))?.[0];
  if (!json) return null;
  try {
    const raw = JSON.parse(json) as Record<string, string>;
    const num = (key: string) =>
      raw[key] === '-inf' ? -Infinity : raw[key] === 'inf' ? Infinity : Number(raw[key]);
    return {
      integrated: num('input_i'),
      truePeak: num('input_tp'),
      range: num('input_lra'),
      threshold: num('input_thresh'),
      offset: num('target_offset'),
    };
  } catch {
    return null;
  }
}

/** What ffmpeg's ebur128 filter says of a result: enough to record, not to normalise with. */
export interface LoudnessSummary {
  /** Integrated loudness, LUFS (-70 for silence: the filter's floor). */
  integrated: number;
  /** True peak, dBTP (`-Infinity` for silence). */
  truePeak: number;
}

/** The summary `ebur128=peak=true` prints when the input ends (one decimal); null when absent. */
export function parseEbur128(stderr: string): LoudnessSummary | null {
  const at = stderr.lastIndexOf('] Summary:');
  if (at < 0) return null;
  const summary = stderr.slice(at);
  const integrated = /^\s*I:\s+(-?[\d.]+|-inf) LUFS/m.exec(summary)?.[1];
  const peak = /^\s*Peak:\s+(-?[\d.]+|-inf) dBFS/m.exec(summary)?.[1];
  if (integrated === undefined || peak === undefined) return null;
  const num = (s: string) => (s === '-inf' ? -Infinity : Number(s));
  return { integrated: num(integrated), truePeak: num(peak) };
}

/** How much audio ffmpeg actually decoded, from `-progress` output (the last `out_time_us`). */
export function parseDecodedMs(progress: string): number | null {
  const matches = [...progress.matchAll(/^out_time_us=(\d+)$/gm)];
  return matches.length ? Math.round(Number(matches[matches.length - 1][1]) / 1000) : null;
}

/** A short, safe summary of why ffmpeg could not read the input (never a path). */
export function decodeProblem(stderr: string): 'no_audio' | 'undecodable' | 'corrupt' | null {
  if (
    /matches no streams|does not contain any stream|Output file #0 does not contain any stream/.test(
      stderr,
    )
  )
    return 'no_audio';
  if (
    /Invalid data found when processing input|Invalid argument|moov atom not found|could not find codec parameters|Failed to read frame size|End of file/i.test(
      stderr,
    )
  ) {
    return 'undecodable';
  }
  if (/Error while decoding stream|error while decoding|Invalid frame|corrupt/i.test(stderr))
    return 'corrupt';
  return null;
}
