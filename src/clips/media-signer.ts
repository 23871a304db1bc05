import { Injectable, Logger } from '@nestjs/common';
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { AppConfig } from '../config/app-config.js';
import { InjectConfig } from '../config/config.module.js';

const SHA256 = /^[0-9a-f]{64}$/;
const SIG = /^[A-Za-z0-9_-]{43}$/;

/**
 * Signed, expiring clip URLs for devices: HMAC-SHA256 over the clip's sha256, the device id and the
 * expiry. The key is `MEDIA_SIGNING_KEY`, or one generated once into `DATA_DIR/media-signing.key`
 * (several servers behind one address must share it: set the variable).
 */
@Injectable()
export class MediaSigner {
  private readonly logger = new Logger('media');
  private key?: Buffer;

  constructor(@InjectConfig() private readonly config: AppConfig) {}

  async load(): Promise<void> {
    if (this.config.audio.signingKey) {
      this.key = Buffer.from(this.config.audio.signingKey, 'utf8');
      return;
    }
    const path = join(this.config.dataDir, 'media-signing.key');
    try {
      this.key = Buffer.from((await readFile(path, 'utf8')).trim(), 'hex');
      if (this.key.length >= 32) return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    const fresh = randomBytes(32);
    await mkdir(this.config.dataDir, { recursive: true });
    await writeFile(path, `${fresh.toString('hex')}\n`, { mode: 0o600, flag: 'wx' }).catch(
      async (err: NodeJS.ErrnoException) => {
        if (err.code !== 'EEXIST') throw err;
      },
    );
    await chmod(path, 0o600);
    this.key = Buffer.from((await readFile(path, 'utf8')).trim(), 'hex');
    this.logger.log(`generated a media signing key in ${path}`);
  }

  private sign(sha256: string, deviceId: string, expiresS: number): string {
    if (!this.key) throw new Error('media signing key not loaded');
    return createHmac('sha256', this.key)
      .update(`dalaba-media-v1\n${sha256}\n${deviceId}\n${expiresS}`)
      .digest('base64url');
  }

  /** The URL a device uses to fetch a clip until `expiresAt` (ms). */
  urlFor(sha256: string, deviceId: string, expiresAt: number): string {
    const exp = Math.ceil(expiresAt / 1000);
    const query = new URLSearchParams({
      d: deviceId,
      exp: String(exp),
      sig: this.sign(sha256, deviceId, exp),
    });
    return `${this.config.publicUrl}/media/${sha256}.mp3?${query.toString()}`;
  }

  /** True only for an untampered, unexpired signature of exactly this clip and device. */
  verify(sha256: string, deviceId: unknown, exp: unknown, sig: unknown, nowMs: number): boolean {
    if (
      !SHA256.test(sha256) ||
      typeof deviceId !== 'string' ||
      typeof exp !== 'string' ||
      typeof sig !== 'string'
    )
      return false;
    if (!/^\d{1,12}$/.test(exp) || !SIG.test(sig) || deviceId.length === 0 || deviceId.length > 64)
      return false;
    if (Number(exp) * 1000 <= nowMs) return false;
    const expected = Buffer.from(this.sign(sha256, deviceId, Number(exp)));
    const given = Buffer.from(sig);
    return expected.length === given.length && timingSafeEqual(expected, given);
  }
}
