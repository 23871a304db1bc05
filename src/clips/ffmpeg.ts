import { Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';
import { ChildProcess, spawn } from 'node:child_process';
import { access, constants } from 'node:fs/promises';
import { setPriority } from 'node:os';
import { delimiter, join } from 'node:path';
import type { AppConfig, FfmpegPackage } from '../config/app-config.js';
import { InjectConfig } from '../config/config.module.js';
import { Observable, Subject } from 'rxjs';
import { MetricsService } from '../metrics/metrics.service.js';
import { Lane, LaneRun, planLanes, RunState, TranscodeTicket } from './transcode-lanes.js';

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

/** What a run of ffmpeg did, in order (for logs and tests). */
export interface FfmpegActivity {
  kind: 'start' | 'suspend' | 'resume' | 'end';
  label: string;
  lane: Lane;
}

/** A run ended because its job was cancelled (its clip deleted, the server stopping). */
export class TranscodeCancelled extends Error {
  constructor(label: string) {
    super(`${label}: cancelled`);
  }
}

interface Run extends LaneRun {
  args: string[];
  resolve: (result: FfmpegResult) => void;
  reject: (err: Error) => void;
  child?: ChildProcess;
  timer?: NodeJS.Timeout;
  /** Time left of the run's limit; the clock stops while it is suspended. */
  leftMs: number;
  since: number;
  /** Kills the run when its time limit passes. */
  onTimeout?: () => void;
}

/** Stopping and continuing a process needs POSIX signals. */
const CAN_SUSPEND = process.platform !== 'win32';
/** Background runs give the CPU up to the server and to urgent runs (Unix nice value). */
const BACKGROUND_NICE = 10;

/**
 * The one place that spawns ffmpeg. Finds the binary at start (FFMPEG_PATH, then the optional
 * ffmpeg-static and @ffmpeg-installer/ffmpeg packages, then PATH), runs at most FFMPEG_CONCURRENCY at once, in lanes (see
 * transcode-lanes.ts: a run of a higher lane suspends one of a lower lane when no slot is free),
 * and kills a run that exceeds its time limit.
 */
@Injectable()
export class Ffmpeg implements OnApplicationShutdown {
  private readonly logger = new Logger('ffmpeg');
  private binary?: string;
  private problem = 'ffmpeg has not been looked for yet';
  private version = '';
  /** Where the binary was found: FFMPEG_PATH, a package's name, or PATH. */
  private source = '';
  private peak = 0;
  private order = 0;
  private readonly runs = new Set<Run>();
  private readonly children = new Set<ChildProcess>();
  private readonly activity$ = new Subject<FfmpegActivity>();
  private stopped = false;

  constructor(
    @InjectConfig() private readonly config: AppConfig,
    metrics: MetricsService,
  ) {
    metrics.countFfmpegRunsWith(() => this.tally());
  }

  get available(): boolean {
    return this.binary !== undefined;
  }

  /** Why ffmpeg cannot be used, and how to fix it (when it is not available). */
  get unavailableReason(): string {
    return this.problem;
  }

  /** Every run's start, suspension, resumption and end, as they happen. */
  get activity(): Observable<FfmpegActivity> {
    return this.activity$.asObservable();
  }

  async locate(): Promise<void> {
    const audio = this.config.audio;
    const candidates: { path: string; from: string }[] = [];
    if (audio.ffmpegPath) {
      candidates.push({ path: audio.ffmpegPath, from: 'FFMPEG_PATH' });
    } else {
      for (const name of audio.ffmpegPackages) {
        const path = await packageBinary(name);
        if (path) candidates.push({ path, from: name });
      }
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
        this.source = from;
        this.logger.log(`using ${path} (${from}): ${version}`);
        return;
      }
    }
    this.problem = audio.ffmpegPath
      ? `FFMPEG_PATH=${audio.ffmpegPath} is not an ffmpeg that runs; fix the path or unset it to use ffmpeg from PATH`
      : 'no ffmpeg found (FFMPEG_PATH unset, neither the ffmpeg-static nor the @ffmpeg-installer/ffmpeg package installed, no ffmpeg on PATH); ' +
        'install it (Debian: apt-get install ffmpeg) or set FFMPEG_PATH, then restart';
    this.logger.warn(`clip upload is unavailable: ${this.problem}`);
  }

  /** The most runs there have been at once (never above FFMPEG_CONCURRENCY; suspended ones do not count). */
  get peakConcurrency(): number {
    return this.peak;
  }

  describe(): string {
    return this.binary ? `${this.binary} (${this.version})` : 'unavailable';
  }

  /** For the start-up banner: which ffmpeg, found where; or why there is none. */
  summary(): string {
    return this.binary
      ? `${this.version} from ${this.source} (${this.binary})`
      : `none, clip upload unavailable: ${this.problem}`;
  }

  /**
   * Runs ffmpeg with `args` once its lane gets a slot; never throws for a non-zero exit. Throws
   * {@link TranscodeCancelled} when the ticket is cancelled before or while it runs.
   */
  run(
    args: string[],
    ticket: TranscodeTicket,
    timeoutMs = this.config.audio.timeoutMs,
  ): Promise<FfmpegResult> {
    const binary = this.binary;
    if (!binary) return Promise.reject(new Error(this.problem));
    if (ticket.cancelled || this.stopped)
      return Promise.reject(new TranscodeCancelled(ticket.label));
    return new Promise((resolve, reject) => {
      this.runs.add({
        ticket,
        order: this.order++,
        state: 'waiting',
        args,
        resolve,
        reject,
        leftMs: timeoutMs,
        since: 0,
      });
      this.reschedule();
    });
  }

  /** Runs by lane and state, the states with none left out. */
  tally(): { lane: Lane; state: RunState; count: number }[] {
    const counts = new Map<string, { lane: Lane; state: RunState; count: number }>();
    for (const run of this.runs) {
      const key = `${run.ticket.lane}/${run.state}`;
      const entry = counts.get(key) ?? { lane: run.ticket.lane, state: run.state, count: 0 };
      entry.count++;
      counts.set(key, entry);
    }
    return [...counts.values()];
  }

  /** Moves a job to a higher lane (it may take a slot from lower work at once). */
  raise(ticket: TranscodeTicket, lane: Lane): void {
    if (ticket.raise(lane)) this.reschedule();
  }

  /** Ends a job's runs: waiting ones are dropped, started ones killed. */
  cancel(ticket: TranscodeTicket): void {
    ticket.cancelled = true;
    for (const run of this.runs) {
      if (run.ticket !== ticket) continue;
      if (run.child) run.child.kill('SIGKILL');
      else {
        this.runs.delete(run);
        run.reject(new TranscodeCancelled(ticket.label));
      }
    }
    this.reschedule();
  }

  onApplicationShutdown(): void {
    this.stopped = true;
    for (const run of this.runs) {
      if (run.child) continue;
      this.runs.delete(run);
      run.reject(new TranscodeCancelled(run.ticket.label));
    }
    for (const child of this.children) child.kill('SIGKILL');
    this.activity$.complete();
  }

  private reschedule(): void {
    if (this.stopped) return;
    // A cancelled run still running holds its slot until it is gone; a suspended one just dies.
    const live = [...this.runs].filter((r) => !(r.ticket.cancelled && r.state === 'suspended'));
    const plan = planLanes(live, this.config.audio.concurrency, CAN_SUSPEND);
    for (const run of plan.suspend) {
      run.child!.kill('SIGSTOP');
      clearTimeout(run.timer);
      run.leftMs -= Date.now() - run.since;
      run.state = 'suspended';
      this.note('suspend', run);
    }
    for (const run of plan.resume) {
      run.child!.kill('SIGCONT');
      this.arm(run);
      run.state = 'running';
      this.note('resume', run);
    }
    for (const run of plan.start) this.start(run);
    const running = [...this.runs].filter((r) => r.state === 'running').length;
    this.peak = Math.max(this.peak, running);
  }

  private start(run: Run): void {
    run.state = 'running';
    const child = spawn(this.binary!, run.args, { stdio: ['ignore', 'pipe', 'pipe'] });
    run.child = child;
    this.children.add(child);
    if (run.ticket.lane === 'background' && child.pid !== undefined) {
      try {
        setPriority(child.pid, BACKGROUND_NICE);
      } catch {
        // Not allowed or already gone: the lanes still order the work.
      }
    }
    this.note('start', run);
    const out = new Capture();
    const err = new Capture();
    child.stdout!.setEncoding('utf8').on('data', (d: string) => out.push(d));
    child.stderr!.setEncoding('utf8').on('data', (d: string) => err.push(d));
    let timedOut = false;
    run.onTimeout = () => {
      timedOut = true;
      child.kill('SIGKILL');
    };
    this.arm(run);
    let ended = false;
    const done = (code: number | null, extra = '') => {
      if (ended) return;
      ended = true;
      clearTimeout(run.timer);
      this.children.delete(child);
      this.runs.delete(run);
      this.note('end', run);
      if (run.ticket.cancelled) run.reject(new TranscodeCancelled(run.ticket.label));
      else run.resolve({ code, stdout: out.text(), stderr: err.text() + extra, timedOut });
      this.reschedule();
    };
    child.once('error', (e) => done(null, `\n${e.message}`));
    child.once('close', (code) => done(code));
  }

  /** Starts (or restarts after a suspension) the clock of a run's time limit. */
  private arm(run: Run): void {
    run.since = Date.now();
    run.timer = setTimeout(() => run.onTimeout?.(), Math.max(0, run.leftMs));
  }

  private note(kind: FfmpegActivity['kind'], run: Run): void {
    if (kind === 'suspend')
      this.logger.debug(`${run.ticket.label}: suspended for work of a higher lane`);
    if (kind === 'resume') this.logger.debug(`${run.ticket.label}: resumed`);
    this.activity$.next({ kind, label: run.ticket.label, lane: run.ticket.lane });
  }

  private spawnOnce(binary: string, args: string[], timeoutMs: number): Promise<FfmpegResult> {
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
    const result = await this.spawnOnce(path, ['-hide_banner', '-version'], 10_000).catch(
      () => undefined,
    );
    if (!result || result.code !== 0) return undefined;
    return /^ffmpeg version (\S+)/m.exec(result.stdout)?.[0];
  }
}

/**
 * The binary an optional package carries, when it is installed and has one for this platform:
 * ffmpeg-static exports its path (null when its download failed); @ffmpeg-installer/ffmpeg ships
 * ffmpeg 4.1 (with loudnorm) inside a per-platform package and exports `{ path }`, throwing when
 * there is none.
 */
async function packageBinary(name: FfmpegPackage): Promise<string | undefined> {
  try {
    const mod = (await import(name)) as { default?: unknown };
    const value =
      name === 'ffmpeg-static'
        ? mod.default
        : (mod.default as { path?: unknown } | undefined)?.path;
    return typeof value === 'string' ? value : undefined;
  } catch {
    return undefined;
  }
}
