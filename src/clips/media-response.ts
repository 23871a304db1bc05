import type { Request, Response } from 'express';
import { pipeline } from 'node:stream/promises';
import type { ClipStorage, StoredAudio } from './clip-storage.js';

export type ByteRange = { start: number; end: number };

/** Most ranges one request may list; a device resuming a download asks for one. */
export const MAX_RANGES = 8;

/** One `a-b`, `a-` or `-n` of a `bytes=` header, clamped to the file; null when malformed or past the end. */
function oneRange(spec: string, size: number): ByteRange | 'malformed' | null {
  const m = /^(\d*)-(\d*)$/.exec(spec.trim());
  if (!m || (m[1] === '' && m[2] === '')) return 'malformed';
  const [, a, b] = m;
  if (a === '') {
    const n = Number(b);
    return n === 0 || size === 0 ? null : { start: Math.max(0, size - n), end: size - 1 };
  }
  const start = Number(a);
  const end = b === '' ? size - 1 : Math.min(Number(b), size - 1);
  if (b !== '' && Number(b) < start) return 'malformed';
  return start >= size ? null : { start, end };
}

/**
 * Parses a `Range` header for a file of `size` bytes. `null` means serve the whole file (no
 * header, another unit, or several disjoint ranges: there is no multipart answer); `'unsatisfiable'`
 * means answer 416: a malformed range, none within the file, more than {@link MAX_RANGES} ranges
 * or overlapping ones (RFC 9110 §14.2 lets a server refuse those, the marks of a denial of service).
 * Ranges that join end to end are served as the one range they make.
 */
export function parseRange(
  header: string | undefined,
  size: number,
): ByteRange | 'unsatisfiable' | null {
  if (!header) return null;
  const value = header.trim();
  if (!value.startsWith('bytes=')) return null;
  const specs = value.slice('bytes='.length).split(',', MAX_RANGES + 1);
  if (specs.length > MAX_RANGES) return 'unsatisfiable';
  const ranges: ByteRange[] = [];
  for (const spec of specs) {
    const range = oneRange(spec, size);
    if (range === 'malformed') return 'unsatisfiable';
    if (range) ranges.push(range);
  }
  if (ranges.length === 0) return 'unsatisfiable';
  ranges.sort((x, y) => x.start - y.start);
  const joined = { ...ranges[0] };
  for (const r of ranges.slice(1)) {
    if (r.start <= joined.end) return 'unsatisfiable';
    if (r.start !== joined.end + 1) return null;
    joined.end = r.end;
  }
  return joined;
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
