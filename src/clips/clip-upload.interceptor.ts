import { CallHandler, ExecutionContext, Injectable, NestInterceptor } from '@nestjs/common';
import type { Request, RequestHandler, Response } from 'express';
import multer from 'multer';
import { randomUUID } from 'node:crypto';
import { catchError, from, Observable, switchMap, throwError } from 'rxjs';
import type { AppConfig } from '../config/app-config.js';
import { InjectConfig } from '../config/config.module.js';
import { DomainError } from '../common/domain-error.js';
import type { ClipErrorCode } from './clip-errors.js';
import { ClipStorage } from './clip-storage.js';

/**
 * Receives one `file` part of a multipart upload into the work directory under a random name
 * (the client's file name is only a label), within the size limit. Multer removes a partial file
 * when it refuses one.
 */
@Injectable()
export class ClipUploadInterceptor implements NestInterceptor {
  private readonly receive: RequestHandler;

  constructor(
    private readonly storage: ClipStorage,
    @InjectConfig() private readonly config: AppConfig,
  ) {
    this.receive = multer({
      storage: multer.diskStorage({
        destination: storage.workDir,
        filename: (_req, _file, cb) => cb(null, `${randomUUID()}.upload`),
      }),
      limits: {
        fileSize: config.audio.maxUploadBytes,
        files: 1,
        fields: 10,
        fieldSize: 4096,
        parts: 12,
      },
      defParamCharset: 'utf8',
    }).single('file');
  }

  intercept(ctx: ExecutionContext, next: CallHandler): Observable<unknown> {
    const req = ctx.switchToHttp().getRequest<Request>();
    const res = ctx.switchToHttp().getResponse<Response>();
    if (!req.is('multipart/form-data')) {
      throw new DomainError<ClipErrorCode>(
        'unsupported',
        'MULTIPART_REQUIRED',
        'Upload the recording as multipart/form-data with the file in the field "file"',
      );
    }
    const received = new Promise<void>((resolve, reject) =>
      this.receive(req, res, (err?: unknown) => (err ? reject(this.explain(err)) : resolve())),
    );
    // A request refused after the file arrived (a bad query, say) must not leave it behind;
    // the service removes or keeps it on every other path.
    const discard = (err: unknown) =>
      from(req.file?.path ? this.storage.remove(req.file.path) : Promise.resolve()).pipe(
        switchMap(() => throwError(() => err)),
      );
    return from(received).pipe(switchMap(() => next.handle().pipe(catchError(discard))));
  }

  private explain(err: unknown): DomainError<ClipErrorCode> {
    const code = (err as { code?: string }).code;
    if (code === 'LIMIT_FILE_SIZE') {
      const mb = Math.round((this.config.audio.maxUploadBytes / 1024 ** 2) * 10) / 10;
      return new DomainError<ClipErrorCode>(
        'too_large',
        'CLIP_TOO_LARGE',
        `The file is larger than the upload limit of ${mb} MB`,
      );
    }
    if (code === 'LIMIT_UNEXPECTED_FILE' || code === 'LIMIT_FILE_COUNT') {
      return new DomainError<ClipErrorCode>(
        'invalid',
        'UNEXPECTED_FILE',
        'Send exactly one file, in the field "file"',
      );
    }
    return new DomainError<ClipErrorCode>(
      'invalid',
      'MALFORMED_UPLOAD',
      `The upload could not be read: ${(err as Error).message ?? 'malformed multipart body'}`,
    );
  }
}
