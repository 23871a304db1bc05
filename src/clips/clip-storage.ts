import { Injectable } from '@nestjs/common';
import { createHash, randomUUID } from 'node:crypto';
import { createReadStream, ReadStream } from 'node:fs';
import { mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { AppConfig } from '../config/app-config.js';
import { InjectConfig } from '../config/config.module.js';

const SHA256 = /^[0-9a-f]{64}$/;

/**
 * The one place that touches clip files, all under `DATA_DIR/clips/`:
 * `uploads/` (accepted uploads waiting for their transcode, named by clip id), `work/` (files being
 * written), and `ab/abcd….mp3` (finished audio, named by its SHA-256, so the same audio is stored
 * once). A client's file name is never part of a path.
 */
@Injectable()
export class ClipStorage {
  readonly root: string;
  readonly uploadsDir: string;
  readonly workDir: string;

  constructor(@InjectConfig() config: AppConfig) {
    this.root = join(config.dataDir, 'clips');
    this.uploadsDir = join(this.root, 'uploads');
    this.workDir = join(this.root, 'work');
  }

  async prepare(): Promise<void> {
    await mkdir(this.uploadsDir, { recursive: true });
    await mkdir(this.workDir, { recursive: true });
  }

  /** A fresh path in the work directory (for multer and for ffmpeg output). */
  workPath(extension = ''): string {
    return join(this.workDir, `${randomUUID()}${extension}`);
  }

  uploadPath(clipId: string): string {
    return join(this.uploadsDir, `${clipId}.src`);
  }

  async keepUpload(workFile: string, clipId: string): Promise<void> {
    await rename(workFile, this.uploadPath(clipId));
  }

  audioPath(sha256: string): string {
    if (!SHA256.test(sha256)) throw new Error('not a sha256');
    return join(this.root, sha256.slice(0, 2), `${sha256}.mp3`);
  }

  /** SHA-256 and size of a file. */
  async digest(path: string): Promise<{ sha256: string; bytes: number }> {
    const hash = createHash('sha256');
    let bytes = 0;
    for await (const chunk of createReadStream(path) as AsyncIterable<Buffer>) {
      hash.update(chunk);
      bytes += chunk.length;
    }
    return { sha256: hash.digest('hex'), bytes };
  }

  /** Moves a finished file into its content-addressed place (a second copy of the same audio is dropped). */
  async store(workFile: string): Promise<{ sha256: string; bytes: number }> {
    const { sha256, bytes } = await this.digest(workFile);
    const target = this.audioPath(sha256);
    await mkdir(join(this.root, sha256.slice(0, 2)), { recursive: true });
    await rename(workFile, target);
    return { sha256, bytes };
  }

  async size(sha256: string): Promise<number | undefined> {
    try {
      return (await stat(this.audioPath(sha256))).size;
    } catch {
      return undefined;
    }
  }

  open(sha256: string, range?: { start: number; end: number }): ReadStream {
    return createReadStream(this.audioPath(sha256), range);
  }

  async remove(path: string): Promise<void> {
    await rm(path, { force: true });
  }

  async removeAudio(sha256: string): Promise<void> {
    await rm(this.audioPath(sha256), { force: true });
  }

  /** Empties the work directory (files of runs a crash interrupted). Returns how many went. */
  async clearWork(): Promise<number> {
    const names = await readdir(this.workDir);
    await Promise.all(
      names.map((n) => rm(join(this.workDir, n), { force: true, recursive: true })),
    );
    return names.length;
  }

  /** Clip ids with a kept upload. */
  async uploads(): Promise<string[]> {
    return (await readdir(this.uploadsDir))
      .filter((n) => n.endsWith('.src'))
      .map((n) => n.slice(0, -4));
  }

  /** Every stored audio file's sha256. */
  async storedAudio(): Promise<string[]> {
    const out: string[] = [];
    for (const dir of await readdir(this.root)) {
      if (!/^[0-9a-f]{2}$/.test(dir)) continue;
      for (const name of await readdir(join(this.root, dir))) {
        const sha = name.replace(/\.mp3$/, '');
        if (SHA256.test(sha)) out.push(sha);
        else await rm(join(this.root, dir, name), { force: true });
      }
    }
    return out;
  }
}
