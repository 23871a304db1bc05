import { createHash } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import type { Request, Response } from 'express';
import { Clock } from '../common/clock.js';
import { DomainError } from '../common/domain-error.js';
import type { ClipErrorCode } from './clip-errors.js';
import { ClipStorage } from './clip-storage.js';
import { ClipsService } from './clips.service.js';
import { MediaSigner } from './media-signer.js';
import { sendAudio } from './media-response.js';

/** Serving audio: signed links for devices, and the operators' preview. */
@Injectable()
export class MediaService {
  constructor(
    private readonly clips: ClipsService,
    private readonly storage: ClipStorage,
    private readonly signer: MediaSigner,
    private readonly clock: Clock,
  ) {}

  /** The signed URL a device downloads `sha256` from until `expiresAt` (ms). For the broadcasts issue. */
  urlFor(sha256: string, deviceId: string, expiresAt: number): string {
    return this.signer.urlFor(sha256, deviceId, expiresAt);
  }

  /**
   * `GET /media/:sha256.mp3?d&exp&sig`. Anything wrong with the link (format, signature, expiry, another
   * device's link) gets the same 403, which says nothing about the file.
   */
  async sendSigned(
    file: string,
    query: Record<string, unknown>,
    req: Request,
    res: Response,
  ): Promise<void> {
    const sha256 = /^([0-9a-f]{64})\.mp3$/.exec(file)?.[1];
    if (
      !sha256 ||
      !this.signer.verify(sha256, query.d, query.exp, query.sig, this.clock.now().getTime())
    ) {
      throw new DomainError<ClipErrorCode>('forbidden', 'FORBIDDEN', 'This link is not valid');
    }
    const audio = await this.storage.audio(sha256);
    if (!audio)
      throw new DomainError<ClipErrorCode>('not_found', 'MEDIA_NOT_FOUND', 'No such audio');
    await sendAudio(req, res, this.storage, sha256, audio);
  }

  /**
   * Another digest of stored audio than its sha256 (CAP 1.2 resources carry SHA-1), hex; undefined
   * when the file is missing. For reports up.
   */
  async audioDigest(sha256: string, algorithm: 'sha1'): Promise<string | undefined> {
    const audio = await this.storage.audio(sha256);
    if (!audio) return undefined;
    const hash = createHash(algorithm);
    if (audio.bytes) return hash.update(audio.bytes).digest('hex');
    // Too big for the cache: read it through once.
    for await (const chunk of this.storage.open(sha256) as AsyncIterable<Buffer>)
      hash.update(chunk);
    return hash.digest('hex');
  }

  async sendClip(clipId: string, req: Request, res: Response): Promise<void> {
    const audio = await this.clips.audioOf(clipId);
    const stored = await this.storage.audio(audio.sha256);
    if (!stored)
      throw new DomainError<ClipErrorCode>(
        'not_found',
        'MEDIA_NOT_FOUND',
        'The clip’s audio file is missing',
      );
    await sendAudio(req, res, this.storage, audio.sha256, stored);
  }
}
