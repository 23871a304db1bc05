import { Injectable } from '@nestjs/common';
import { createHash, randomUUID } from 'node:crypto';
import { createReadStream, ReadStream } from 'node:fs';
import { copyFile, mkdir, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { LRUCache } from 'lru-cache';
import type { AppConfig } from '../config/app-config.js';
import { InjectConfig } from '../config/config.module.js';

const SHA256 = /^[0-9a-f]{64}$/;
/** Finished audio kept in memory for serving, at most this much in all, and files up to … */
const CACHE_BYTES = 64 * 2 ** 20;
/** … this size (a 30-minute clip at 64 kbit/s is 14.4 MB); bigger ones stream from disk. */
const CACHE_FILE_MAX = 16 * 2 ** 20;

/** Audio ready to send: its size, and its bytes when they are held in memory. */
export interface StoredAudio {
  size: number;
  bytes?: Buffer;
}

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
  /** sha256 → bytes. Files are named by their content, so never stale. */
  private readonly cache = new LRUCache<string, Buffer>({
    maxSize: CACHE_BYTES,
    // lru-cache refuses a size of 0.
    sizeCalculation: (bytes) => Math.max(1, bytes.length),
  });
  private readonly loading = new Map<string, Promise<Buffer | undefined>>();

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

  /** Copies a file from outside (a shipped sound) into the work directory, as an upload would land. */
  async copyIn(path: string): Promise<{ path: string; size: number }> {
    const target = this.workPath('.src');
    await copyFile(path, target);
    return { path: target, size: (await stat(target)).size };
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

  /**
   * Finished audio for serving. An emergency broadcast has every device fetch the same clip
   * within seconds: it is read once and then served from memory (not a `stat`, `open` and `close`
   * per download). Undefined when missing.
   */
  async audio(sha256: string): Promise<StoredAudio | undefined> {
    const hit = this.cache.get(sha256);
    if (hit) {
      return { size: hit.length, bytes: hit };
    }
    // Downloads that arrive while the file is being read wait for that one read (no stat each).
    let pending = this.loading.get(sha256);
    if (!pending) {
      const size = await this.size(sha256);
      if (size === undefined) return undefined;
      if (size > CACHE_FILE_MAX) return { size };
      pending = this.loading.get(sha256) ?? this.load(sha256);
    }
    const bytes = await pending;
    return bytes ? { size: bytes.length, bytes } : undefined;
  }

  private load(sha256: string): Promise<Buffer | undefined> {
    const pending = readFile(this.audioPath(sha256))
      .then(
        (bytes) => {
          // Unless the audio was removed while it was being read.
          if (this.loading.get(sha256) === pending) this.cache.set(sha256, bytes);
          return bytes;
        },
        () => undefined,
      )
      .finally(() => {
        if (this.loading.get(sha256) === pending) this.loading.delete(sha256);
      });
    this.loading.set(sha256, pending);
    return pending;
  }

  private forget(sha256: string): void {
    this.loading.delete(sha256);
    this.cache.delete(sha256);
  }

  open(sha256: string, range?: { start: number; end: number }): ReadStream {
    return createReadStream(this.audioPath(sha256), range);
  }

  async remove(path: string): Promise<void> {
    await rm(path, { force: true });
  }

  async removeAudio(sha256: string): Promise<void> {
    this.forget(sha256);
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
