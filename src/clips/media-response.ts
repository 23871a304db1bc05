import type { Request, Response } from 'express';
import { pipeline } from 'node:stream/promises';
import type { ClipStorage, StoredAudio } from './clip-storage.js';

export type ByteRange = { start: number; end: number };

/** Most ranges one request may list; a device resuming a download asks for one. */
export const MAX_RANGES = 8;

/**
 * range-parser 1.x (behind `req.range`) refuses a suffix longer than the file, which RFC 9110
 * §14.1.2 serves whole (fixed in its 2.0, which needs Node 22): true when the header asks that.
 */
function hasLongSuffix(header: string, size: number): boolean {
  return (
    size > 0 &&
    header
      .slice(header.indexOf('=') + 1)
      .split(',')
      .some((spec) => /^\s*-\d+\s*$/.test(spec) && Number(spec.trim().slice(1)) > size)
  );
}

function byteCount(ranges: ByteRange[]): number {
  return ranges.reduce((n, r) => n + r.end - r.start + 1, 0);
}

/**
 * The byte range a request asks of a file of `size` bytes, read by Express's `req.range()`.
 * `null` means serve the whole file (no header, another unit, or several disjoint ranges: there
 * is no multipart answer); `'unsatisfiable'` means answer 416: a malformed range, none within the
 * file, more than {@link MAX_RANGES} ranges or overlapping ones (RFC 9110 §14.2 lets a server
 * refuse those, the marks of a denial of service). Ranges that join end to end are served as the
 * one range they make.
 */
export function requestedRange(req: Request, size: number): ByteRange | 'unsatisfiable' | null {
  const header = req.headers.range;
  const ranges = req.range(size);
  if (header === undefined || ranges === undefined || !header.startsWith('bytes=')) return null;
  if (ranges === -1 && hasLongSuffix(header, size)) return { start: 0, end: size - 1 };
  if (ranges === -1 || ranges === -2) return 'unsatisfiable';
  if (ranges.length > MAX_RANGES) return 'unsatisfiable';
  const joined = req.range(size, { combine: true }) as ByteRange[];
  if (byteCount(joined) < byteCount(ranges)) return 'unsatisfiable';
  return joined.length === 1 ? { start: joined[0].start, end: joined[0].end } : null;
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
  // Express compares If-None-Match (and If-Modified-Since) with the ETag just set.
  if (req.fresh) {
    res.status(304).end();
    return;
  }
  const ifRange = req.headers['if-range'];
  const range = ifRange && ifRange !== etag ? null : requestedRange(req, size);
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
