import type { Request, Response } from 'express';
import { pipeline } from 'node:stream/promises';
import type { ClipStorage, StoredAudio } from './clip-storage.js';

export type ByteRange = { start: number; end: number };

/**
 * Parses a `Range` header for a file of `size` bytes: one range (`bytes=a-b`, `bytes=a-`,
 * `bytes=-n`). `null` means serve the whole file (no header, another unit, several ranges);
 * `'unsatisfiable'` means answer 416.
 */
export function parseRange(
  header: string | undefined,
  size: number,
): ByteRange | 'unsatisfiable' | null {
  if (!header) return null;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m)
    return header.trim().startsWith('bytes=') && !header.includes(',') ? 'unsatisfiable' : null;
  const [, a, b] = m;
  if (a === '' && b === '') return 'unsatisfiable';
  if (a === '') {
    const n = Number(b);
    if (n === 0 || size === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - n), end: size - 1 };
  }
  const start = Number(a);
  const end = b === '' ? size - 1 : Math.min(Number(b), size - 1);
  if (start >= size || start > end) return 'unsatisfiable';
  return { start, end };
}

/** Sends stored audio with ETag (its sha256), Range (206/416) and conditional GET (304). */
export async function sendAudio(
  req: Request,
  res: Response,
  storage: ClipStorage,
  sha256: string,
  audio: StoredAudio,
): Promise<void> {
  const size = audio.size;
  const etag = `"${sha256}"`;
  res.setHeader('Content-Type', 'audio/mpeg');
  res.setHeader('Accept-Ranges', 'bytes');
  res.setHeader('ETag', etag);
  res.setHeader('Cache-Control', 'private, max-age=86400, immutable');
  const ifNoneMatch = req.headers['if-none-match'];
  if (ifNoneMatch && ifNoneMatch.split(',').some((t) => t.trim() === etag || t.trim() === '*')) {
    res.status(304).end();
    return;
  }
  const ifRange = req.headers['if-range'];
  const range = ifRange && ifRange !== etag ? null : parseRange(req.headers.range, size);
  if (range === 'unsatisfiable') {
    res.setHeader('Content-Range', `bytes */${size}`);
    res.status(416).end();
    return;
  }
  if (range) {
    res.status(206);
    res.setHeader('Content-Range', `bytes ${range.start}-${range.end}/${size}`);
    res.setHeader('Content-Length', String(range.end - range.start + 1));
  } else {
    res.status(200);
    res.setHeader('Content-Length', String(size));
  }
  if (req.method === 'HEAD') {
    res.end();
    return;
  }
  if (audio.bytes) {
    res.end(range ? audio.bytes.subarray(range.start, range.end + 1) : audio.bytes);
    return;
  }
  await pipeline(storage.open(sha256, range ?? undefined), res).catch(() => undefined); // client went away
}
