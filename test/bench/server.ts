/**
 * The real server for the benchmarks: `node dist/src/main.js` (or a naive baseline of it) in a child
 * process on its own data directory and ports, with helpers to register devices in bulk, upload a clip and read figures.
 */
import Database from 'better-sqlite3';
import { ChildProcess, execFile, spawn } from 'node:child_process';
import { LEVELS } from '../../src/contract/messages.js';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import WebSocket from 'ws';
import { hashDeviceSecret, mosquittoHash } from '../../src/devices/device-secret.js';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const MAIN = join(ROOT, 'dist/src/main.js');
/** The same server with the naive sender and ingest swapped in (test/bench/baseline-server.ts). */
const BASELINE_MAIN = join(ROOT, 'dist/test/bench/baseline-server.js');
const CLI = join(ROOT, 'dist/src/cli/main.js');
export const BENCH_TOKEN = 'bench-admin-token-0123456789abcdef';
/** Every benchmark device uses this secret (hashed once, below). */
export const BENCH_SECRET = 'bench-device-secret-0123456789abcdefghijkl';

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

export const tempDir = (name: string) => mkdtempSync(join(tmpdir(), `dalaba-bench-${name}-`));

export interface BenchServerOptions {
  name: string;
  /** Any other setting. */
  env?: Record<string, string>;
  /**
   * Run a naive baseline instead of the product: `naive` saves and sends one delivery at a time and
   * applies each device event in its own transaction; the other two do one of those.
   */
  baseline?: 'naive' | 'per-device-dispatch' | 'per-event-ingest' | 'no-evidence';
  /** An external broker (MQTT_URL) instead of the embedded one. */
  mqttUrl?: string;
  /** Write a CPU profile (`node --cpu-prof`) of the server into this directory when it stops. */
  profileDir?: string;
  /** Open the inspector on a local port, so the memory scenario can collect garbage before reading RSS. */
  inspect?: boolean;
}

export class BenchServer {
  readonly dataDir: string;
  readonly dbPath: string;
  url = '';
  mqttUrl = '';
  private child?: ChildProcess;
  private output = '';
  private readonly watchers: { pattern: RegExp; lines: string[] }[] = [];
  private httpPort = 0;
  private mqttPort = 0;
  private inspectPort = 0;
  readonly topicPrefix: string;

  constructor(readonly options: BenchServerOptions) {
    this.dataDir = tempDir(options.name);
    this.dbPath = join(this.dataDir, 'dalaba.db');
    // On a shared external broker each server keeps to its own topics.
    this.topicPrefix = options.mqttUrl ? `bench-${randomBytes(4).toString('hex')}/v1` : 'dalaba/v1';
  }

  get pid(): number {
    return this.child!.pid!;
  }

  private env(): Record<string, string> {
    return {
      PATH: process.env.PATH ?? '',
      DATA_DIR: this.dataDir,
      PORT: String(this.httpPort),
      HOST: '127.0.0.1',
      PUBLIC_URL: `http://127.0.0.1:${this.httpPort}`,
      MQTT_PORT: String(this.mqttPort),
      MQTT_HOST: '127.0.0.1',
      ADMIN_TOKEN: BENCH_TOKEN,
      SEED_SAMPLE: 'false',
      LOG_LEVEL: 'warn',
      LOG_FORMAT: 'json',
      TZ_DEFAULT: 'Asia/Shanghai',
      ...(this.options.mqttUrl
        ? {
            MQTT_URL: this.options.mqttUrl,
            MQTT_TOPIC_PREFIX: this.topicPrefix,
            MQTT_CLIENT_ID: `dalaba-bench-${this.options.name}-${process.pid}`,
          }
        : {}),
      ...this.options.env,
      ...(this.options.baseline ? { BENCH_BASELINE: this.options.baseline } : {}),
    };
  }

  /** Applies the migrations and registers `count` devices (ids `<prefix>-000000`…, 100 per village). */
  async prepare(count: number, prefix = 'bd'): Promise<string[]> {
    this.httpPort = await freePort();
    this.mqttPort = await freePort();
    await promisify(execFile)(process.execPath, [CLI, 'migrate'], { env: this.env() });
    if (count === 0) return [];
    const hash = hashDeviceSecret(BENCH_SECRET);
    const mosquitto = await mosquittoHash(BENCH_SECRET);
    const db = new Database(this.dbPath);
    const now = Date.now();
    const ids = Array.from({ length: count }, (_, i) => `${prefix}-${String(i).padStart(6, '0')}`);
    const villages = Math.ceil(count / 100);
    db.transaction(() => {
      db.prepare('INSERT INTO towns VALUES (?, ?, ?, ?)').run('999999100', '压测镇', now, now);
      const v = db.prepare(
        'INSERT INTO villages (code, name, town_code, created_at, updated_at) VALUES (?, ?, ?, ?, ?)',
      );
      for (let i = 0; i < villages; i++)
        v.run(villageCode(i), `压测村${i + 1}`, '999999100', now, now);
      const d = db.prepare(
        `INSERT INTO devices (id, village_code, type, enabled, secret_hash, mqtt_password_hash,
           secret_rotated_at, created_at, updated_at) VALUES (?, ?, 'village_loudspeaker', 1, ?, ?, ?, ?, ?)`,
      );
      ids.forEach((id, i) => d.run(id, villageOf(i), hash, mosquitto, now, now, now));
    })();
    db.close();
    return ids;
  }

  async start(): Promise<void> {
    if (!this.httpPort) {
      this.httpPort = await freePort();
      this.mqttPort = await freePort();
    }
    this.output = '';
    const profile = this.options.profileDir
      ? ['--cpu-prof', `--cpu-prof-dir=${this.options.profileDir}`]
      : [];
    if (this.options.inspect) this.inspectPort ||= await freePort();
    const inspect = this.options.inspect ? [`--inspect=127.0.0.1:${this.inspectPort}`] : [];
    const child = spawn(
      process.execPath,
      [
        '--max-old-space-size=8192',
        ...profile,
        ...inspect,
        this.options.baseline ? BASELINE_MAIN : MAIN,
      ],
      {
        cwd: ROOT,
        env: this.env(),
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    this.child = child;
    const keep = (d: Buffer) => (this.output = (this.output + d.toString()).slice(-20_000));
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    let partial = '';
    child.stdout!.on('data', (d: Buffer) => {
      if (!this.watchers.length) return;
      const lines = (partial + d.toString()).split('\n');
      partial = lines.pop()!;
      for (const line of lines)
        for (const w of this.watchers) if (w.pattern.test(line)) w.lines.push(line);
    });
    process.once('exit', () => child.kill('SIGKILL'));
    await new Promise<void>((resolve, reject) => {
      const onData = () => {
        if (this.output.includes('Dalaba is running')) {
          child.stdout!.off('data', onData);
          resolve();
        }
      };
      child.stdout!.on('data', onData);
      child.once('exit', (code) =>
        reject(new Error(`server ${this.options.name} exited (${code}):\n${this.output}`)),
      );
    });
    this.url = `http://127.0.0.1:${this.httpPort}`;
    this.mqttUrl = this.options.mqttUrl ?? `mqtt://127.0.0.1:${this.mqttPort}`;
    this.died = undefined;
    // The bench measures delivery: a second person's approval is their time, not the server's.
    await this.api('PUT', '/api/approval-policy', {
      levels: LEVELS.map((level) => ({ level, needsApproval: false, maxWaitMin: 15 })),
    });
    // A server that dies on its own is the finding, not a detail: say so with its last words.
    child.once('exit', (code, signal) => {
      if (this.child !== child || this.stopping) return;
      this.died = `server ${this.options.name} died (exit code ${code}, signal ${signal})`;
      console.error(`bench: ${this.died}; its last output:\n${this.output.slice(-6000)}`);
    });
  }

  /** Why the server exited without being asked to, if it did. */
  died?: string;
  private stopping = false;

  /** SIGTERM and wait (graceful), or SIGKILL. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    this.stopping = true;
    child.kill(signal);
    await exited;
    this.stopping = false;
  }

  async api<T = unknown>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await fetch(this.url + path, {
      method,
      headers: {
        Authorization: `Bearer ${BENCH_TOKEN}`,
        ...(body ? { 'Content-Type': 'application/json' } : {}),
      },
      body: body ? JSON.stringify(body) : undefined,
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${path}: HTTP ${res.status} ${text.slice(0, 300)}`);
    return (res.headers.get('content-type')?.includes('json') ? JSON.parse(text) : text) as T;
  }

  /** A GET read to its last byte and not parsed (timing a query); returns the bytes. */
  async fetchBytes(path: string): Promise<number> {
    const res = await fetch(this.url + path, {
      headers: { Authorization: `Bearer ${BENCH_TOKEN}` },
    });
    const body = await res.arrayBuffer();
    if (!res.ok) throw new Error(`GET ${path}: HTTP ${res.status}`);
    return body.byteLength;
  }

  /**
   * Uploads a 2-second tone (made with ffmpeg; about 17 kB once transcoded) and waits until it is
   * ready: every device downloads it, and the benchmark measures dispatch, not bulk HTTP transfer.
   */
  async uploadClip(): Promise<string> {
    const wav = join(this.dataDir, 'bench-tone.wav');
    await promisify(execFile)('ffmpeg', [
      '-hide_banner',
      '-loglevel',
      'error',
      '-y',
      '-f',
      'lavfi',
      '-i',
      'sine=frequency=880:duration=2',
      '-ac',
      '1',
      wav,
    ]);
    const form = new FormData();
    const audio = await readFile(wav);
    form.append('file', new Blob([audio], { type: 'audio/wav' }), 'bench-tone.wav');
    form.append('title', 'bench');
    const res = await fetch(`${this.url}/api/clips?wait=true`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${BENCH_TOKEN}` },
      body: form,
    });
    const body = (await res.json()) as { id: string; status: string };
    if (res.status !== 201 || body.status !== 'ready')
      throw new Error(`clip upload: HTTP ${res.status} ${JSON.stringify(body)}`);
    return body.id;
  }

  /**
   * Connections the kernel has accepted on the embedded broker's port that the server has not yet
   * taken (the listening socket's accept queue, from /proc/net/tcp; Linux only, else NaN). libuv
   * takes one connection each time it polls, so a busy server leaves devices waiting here.
   */
  acceptQueue(): number {
    let table: string;
    try {
      table = readFileSync('/proc/net/tcp', 'utf8');
    } catch {
      return NaN;
    }
    const local = `0100007F:${this.mqttPort.toString(16).toUpperCase().padStart(4, '0')}`;
    for (const line of table.split('\n')) {
      const f = line.trim().split(/\s+/);
      // st 0A: LISTEN; for a listening socket rx_queue is its accept queue.
      if (f[1] === local && f[3] === '0A') return parseInt(f[4].split(':')[1], 16);
    }
    return NaN;
  }

  /** One gauge from /metrics (the server's own prom-client registry, prefix `dalaba_`). */
  async metric(name: string): Promise<number> {
    return Object.values(await this.series(name))[0] ?? NaN;
  }

  /** Every series of one metric from /metrics, by its labels (`reason="auth_failed"`, say). */
  async series(name: string): Promise<Record<string, number>> {
    return (await this.scrape([name]))[name] ?? {};
  }

  /**
   * Several gauges from one scrape: reading the event-loop delay resets its histogram, so its
   * p99 and max must come from the same one.
   */
  async metrics<N extends string>(names: N[]): Promise<Record<N, number>> {
    const all = await this.scrape(names);
    return Object.fromEntries(
      names.map((n) => [n, Object.values(all[n] ?? {})[0] ?? NaN]),
    ) as Record<N, number>;
  }

  private async scrape(names: string[]): Promise<Record<string, Record<string, number>>> {
    const text = await (await fetch(`${this.url}/metrics`)).text();
    const out: Record<string, Record<string, number>> = {};
    for (const line of text.split('\n')) {
      const m = line.match(/^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/);
      if (m && names.includes(m[1])) (out[m[1]] ??= {})[m[2] ?? ''] = Number(m[3]);
    }
    return out;
  }

  /**
   * A full garbage collection in the server (through its inspector: `inspect` must be set), so
   * that RSS read afterwards is what the server holds, not how much garbage the last burst left.
   */
  async collectGarbage(): Promise<void> {
    if (!this.options.inspect)
      throw new Error('collectGarbage needs a server started with inspect');
    const [target] = (await (
      await fetch(`http://127.0.0.1:${this.inspectPort}/json/list`)
    ).json()) as { webSocketDebuggerUrl: string }[];
    const ws = new WebSocket(target.webSocketDebuggerUrl);
    try {
      await new Promise<void>((resolve, reject) => {
        ws.once('open', () =>
          ws.send(JSON.stringify({ id: 1, method: 'HeapProfiler.collectGarbage' })),
        );
        ws.on('message', (data: Buffer) => {
          const reply = JSON.parse(data.toString()) as { id?: number; error?: { message: string } };
          if (reply.id !== 1) return;
          if (reply.error) reject(new Error(`collectGarbage: ${reply.error.message}`));
          else resolve();
        });
        ws.once('error', reject);
      });
    } finally {
      ws.close();
    }
  }

  /** Resident memory of the server process, bytes (from /proc). */
  rss(): number {
    const status = readFileSync(`/proc/${this.pid}/status`, 'utf8');
    return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) * 1024;
  }

  /** A read-only connection to the server's SQLite file (WAL: reads do not block its writer). */
  readDb(): Database.Database {
    return new Database(this.dbPath, { readonly: true, fileMustExist: true });
  }

  lastOutput(): string {
    return this.output;
  }

  /**
   * Lines of the server's standard output matching `pattern` from now on, across restarts (the
   * last 20 kB kept for `lastOutput` hold a few dozen request log lines at info level).
   */
  watch(pattern: RegExp): string[] {
    const lines: string[] = [];
    this.watchers.push({ pattern, lines });
    return lines;
  }
}

export function villageCode(i: number): string {
  return `999999100${String(i + 1).padStart(3, '0')}`;
}

/** The village of the bench's `i`-th device: 100 devices to a village. */
export const villageOf = (deviceIndex: number) => villageCode(Math.floor(deviceIndex / 100));
