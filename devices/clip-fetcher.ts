import { createHash } from 'node:crypto';
import { setTimeout as wait } from 'node:timers/promises';
import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { PlayCommand } from '../src/contract/index.js';

export interface FetchOptions {
  /** Keep the file here (for a real player); in memory only when absent. */
  cacheDir?: string;
  /**
   * Keep retrying network errors, 5xx, 408 and 429 answers until this time (epoch ms, this machine's clock):
   * a device retries until its delivery expires, so a server restart or a weak link only delays it.
   */
  deadline?: number;
  /** At most this many requests (default 4 without a deadline, unlimited with one). */
  attempts?: number;
  /** The first wait between requests (default 1 s); it doubles each time, up to 8 s. */
  backoffMs?: number;
  /** Extra wait before each request (fault injection: a slow link). */
  delayMs?: number;
  signal?: AbortSignal;
  onProgress?: (pct: number) => void;
}

export interface FetchedClip {
  sha256: string;
  bytes: number;
  path?: string;
}

class HttpError extends Error {}

/**
 * Downloads a clip, resuming with `Range` after a broken connection, and checks its sha256 and size.
 * Throws with a short reason a device can report (`download failed: …`, `sha256 mismatch`).
 */
export async function fetchClip(
  clip: PlayCommand['clip'],
  options: FetchOptions = {},
): Promise<FetchedClip> {
  const attempts = options.attempts ?? (options.deadline === undefined ? 4 : Infinity);
  const deadline = options.deadline ?? Infinity;
  const hash = createHash('sha256');
  let received = 0;
  let file: ReturnType<typeof createWriteStream> | undefined;
  let tmpPath: string | undefined;
  if (options.cacheDir) {
    await mkdir(options.cacheDir, { recursive: true });
    tmpPath = join(options.cacheDir, `${clip.sha256}.part`);
    await rm(tmpPath, { force: true });
    file = createWriteStream(tmpPath);
  }
  let lastError = 'no attempt made';
  try {
    for (let attempt = 1; attempt <= attempts && received < clip.bytes; attempt++) {
      if (options.delayMs) await wait(options.delayMs, undefined, { signal: options.signal });
      try {
        const headers: Record<string, string> = received > 0 ? { Range: `bytes=${received}-` } : {};
        const res = await fetch(clip.url, { headers, signal: options.signal });
        if (received > 0 && res.status !== 206)
          throw new HttpError(`server did not resume (HTTP ${res.status})`);
        if (received === 0 && res.status !== 200) throw new HttpError(`HTTP ${res.status}`);
        if (!res.body) throw new HttpError('empty response');
        for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
          received += chunk.byteLength;
          if (received > clip.bytes)
            throw new HttpError(`more than the announced ${clip.bytes} bytes`);
          hash.update(chunk);
          if (file && !file.write(chunk))
            await new Promise<void>((r) => file!.once('drain', () => r()));
          options.onProgress?.(Math.floor((received / clip.bytes) * 100));
        }
      } catch (err) {
        if (options.signal?.aborted) throw options.signal.reason;
        lastError = (err as Error).message;
        // Refused (403, 404, 416…): retrying will not help. 408 and 429 say "busy, come back".
        if (err instanceof HttpError && /HTTP 4(?!08|29)\d\d/.test(lastError)) break;
        const backoff = Math.min(8000, (options.backoffMs ?? 1000) * 2 ** Math.min(attempt - 1, 3));
        if (Date.now() + backoff >= deadline) break;
        await wait(backoff, undefined, { signal: options.signal });
      }
    }
    if (received !== clip.bytes) throw new Error(`download failed: ${lastError}`.slice(0, 200));
    const sha256 = hash.digest('hex');
    if (sha256 !== clip.sha256) throw new Error('sha256 mismatch');
    if (file && tmpPath) {
      await new Promise<void>((resolve, reject) =>
        file!.end((err?: Error | null) => (err ? reject(err) : resolve())),
      );
      const path = join(options.cacheDir!, `${clip.sha256}.mp3`);
      await rename(tmpPath, path);
      return { sha256, bytes: received, path };
    }
    return { sha256, bytes: received };
  } finally {
    if (file && !file.closed) file.destroy();
    if (tmpPath) await rm(tmpPath, { force: true });
  }
}
