import type { Request, Response } from 'express';
import multer from 'multer';
import { DomainError } from '../common/domain-error.js';
import type { SuperiorErrorCode } from './superior-errors.js';

/**
 * The package bytes of an inbound POST: the one file of a multipart/form-data upload (as the
 * platforms in the field send it, whatever the field's name), or the raw body (application/x-tar,
 * application/octet-stream). Refused past `maxBytes` before it is all read.
 */
export async function readPackageBody(
  req: Request,
  res: Response,
  maxBytes: number,
): Promise<Buffer> {
  const tooLarge = () => {
    // The rest of the body is not read: the connection closes after the 413 rather than wait.
    res.setHeader('Connection', 'close');
    return new DomainError<SuperiorErrorCode>(
      'too_large',
      'PACKAGE_TOO_LARGE',
      `A package may be at most ${maxBytes} bytes`,
    );
  };
  // Refused on its declared length before a byte is read (multipart adds a few hundred bytes).
  const declared = Number(req.headers['content-length'] ?? NaN);
  if (Number.isFinite(declared) && declared > maxBytes + 64 * 1024) throw tooLarge();
  if (req.is('multipart/form-data')) {
    const upload = multer({
      storage: multer.memoryStorage(),
      limits: { fileSize: maxBytes, files: 1, fields: 10, fieldSize: 4096, parts: 12 },
    }).any();
    await new Promise<void>((resolve, reject) =>
      upload(req, res, (err?: unknown) => {
        if (!err) return resolve();
        if ((err as { code?: string }).code === 'LIMIT_FILE_SIZE') return reject(tooLarge());
        reject(
          new DomainError<SuperiorErrorCode>(
            'invalid',
            'PACKAGE_UNREADABLE',
            `Unreadable upload: ${(err as Error).message}`,
          ),
        );
      }),
    );
    const files = (req.files ?? []) as Express.Multer.File[];
    if (files.length !== 1)
      throw new DomainError<SuperiorErrorCode>(
        'invalid',
        'PACKAGE_UNREADABLE',
        'Send one package file (EBDT_<EBDID>.tar) in the multipart upload',
      );
    return files[0].buffer;
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBytes) throw tooLarge();
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}
