import { Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';
import { ChildProcess, spawn } from 'node:child_process';
import { access, constants } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import type { AppConfig } from '../config/app-config.js';
import { InjectConfig } from '../config/config.module.js';

export interface FfmpegResult {
  code: number | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

/** Keeps the head and tail of a long stream (ffmpeg can print a lot on a long decode). */
class Capture {
  private head = '';
  private tail = '';
  constructor(private readonly max = 64 * 1024) {}
  push(chunk: string): void {
    if (this.head.length < this.max) {
      this.head += chunk;
      return;
    }
    this.tail = (this.tail + chunk).slice(-this.max);
  }
  text(): string {
    return this.tail ? `${this.head}\n…\n${this.tail}` : this.head;
  }
}

/**
 * The one place that spawns ffmpeg. Finds the binary at start (FFMPEG_PATH, then the optional
 * ffmpeg-static package, then PATH), runs at most FFMPEG_CONCURRENCY at once (the rest wait), and
 * kills a run that exceeds its time limit.
 */
@Injectable()
export class Ffmpeg implements OnApplicationShutdown {
  private readonly logger = new Logger('ffmpeg');
  private binary?: string;
  private problem = 'ffmpeg has not been looked for yet';
  private version = '';
  private running = 0;
  private peak = 0;
  private readonly waiting: (() => void)[] = [];
  private readonly children = new Set<ChildProcess>();

  constructor(@InjectConfig() private readonly config: AppConfig) {}

  get available(): boolean {
    return this.binary !== undefined;
  }

  /** Why ffmpeg cannot be used, and how to fix it (when it is not available). */
  get unavailableReason(): string {
    return this.problem;
  }

  async locate(): Promise<void> {
    const audio = this.config.audio;
    const candidates: { path: string; from: string }[] = [];
    if (audio.ffmpegPath) {
      candidates.push({ path: audio.ffmpegPath, from: 'FFMPEG_PATH' });
    } else {
      const fromPackage = await ffmpegStaticPath();
      if (fromPackage) candidates.push({ path: fromPackage, from: 'ffmpeg-static' });
      for (const dir of audio.searchPath.split(delimiter).filter(Boolean)) {
        candidates.push({ path: join(dir, 'ffmpeg'), from: 'PATH' });
      }
    }
    for (const { path, from } of candidates) {
      try {
        await access(path, constants.X_OK);
      } catch {
        continue;
      }
      const version = await this.probeVersion(path);
      if (version) {
        this.binary = path;
        this.version = version;
        this.logger.log(`using ${path} (${from}): ${version}`);
        return;
      }
    }
    this.problem = audio.ffmpegPath
      ? `FFMPEG_PATH=${audio.ffmpegPath} is not an ffmpeg that runs; fix the path or unset it to use ffmpeg from PATH`
      : 'no ffmpeg found (FFMPEG_PATH unset, the ffmpeg-static package not installed, no ffmpeg on PATH); ' +
        'install it (Debian: apt-get install ffmpeg) or set FFMPEG_PATH, then restart';
    this.logger.warn(`clip upload is unavailable: ${this.problem}`);
  }

  /** The most runs there have been at once (never above FFMPEG_CONCURRENCY). */
  get peakConcurrency(): number {
    return this.peak;
  }

  describe(): string {
    return this.binary ? `${this.binary} (${this.version})` : 'unavailable';
  }

  /** Runs ffmpeg with `args` once a slot is free; never throws for a non-zero exit. */
  async run(args: string[], timeoutMs = this.config.audio.timeoutMs): Promise<FfmpegResult> {
    if (!this.binary) throw new Error(this.problem);
    await this.acquire();
    try {
      return await this.spawn(this.binary, args, timeoutMs);
    } finally {
      this.release();
    }
  }

  onApplicationShutdown(): void {
    for (const child of this.children) child.kill('SIGKILL');
  }

  private spawn(binary: string, args: string[], timeoutMs: number): Promise<FfmpegResult> {
    return new Promise((resolve) => {
      const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
      this.children.add(child);
      const out = new Capture();
      const err = new Capture();
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        child.kill('SIGKILL');
      }, timeoutMs);
      child.stdout!.setEncoding('utf8').on('data', (d: string) => out.push(d));
      child.stderr!.setEncoding('utf8').on('data', (d: string) => err.push(d));
      const done = (code: number | null, extra = '') => {
        clearTimeout(timer);
        this.children.delete(child);
        resolve({ code, stdout: out.text(), stderr: err.text() + extra, timedOut });
      };
      child.once('error', (e) => done(null, `\n${e.message}`));
      child.once('close', (code) => done(code));
    });
  }

  private async probeVersion(path: string): Promise<string | undefined> {
    const result = await this.spawn(path, ['-hide_banner', '-version'], 10_000).catch(
      () => undefined,
    );
    if (!result || result.code !== 0) return undefined;
    return /^ffmpeg version (\S+)/m.exec(result.stdout)?.[0];
  }

  private acquire(): Promise<void> {
    if (this.running < this.config.audio.concurrency) {
      this.running++;
      this.peak = Math.max(this.peak, this.running);
      return Promise.resolve();
    }
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  private release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.running--;
  }
}

/** The binary of the optional ffmpeg-static package, when it installed one. */
async function ffmpegStaticPath(): Promise<string | undefined> {
  const name = 'ffmpeg-static';
  try {
    const mod = (await import(name)) as { default?: unknown };
    return typeof mod.default === 'string' ? mod.default : undefined;
  } catch {
    return undefined;
  }
}
