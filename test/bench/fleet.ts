import { ChildProcess, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export interface PlayTimes {
  /** Play commands each device got for the broadcast (1 each when nothing was resent). */
  commands: number[];
  /** When each device first had the play command (epoch ms, fractional). */
  firstReceived: number[];
  /** When each device reported `played`. */
  played: number[];
}

export type FleetRequest =
  | { op: 'start'; url: string; ids: string[]; secret: string; prefix: string }
  | { op: 'hold'; hold: boolean }
  | { op: 'confirm' }
  | { op: 'wait-played'; broadcastId: string; count: number }
  | { op: 'times'; broadcastId: string }
  | { op: 'online' }
  | { op: 'kill' }
  | { op: 'kill-one'; id: string }
  | { op: 'stop' };

export type FleetReply =
  | { ok: true }
  | { connected: number; failed: { id: string; error: string }[]; ms: number }
  | { at: number; confirmed: number }
  | PlayTimes
  | { online: number };

/** A fleet of device agents in a child process (test/bench/fleet-worker.ts), driven over IPC. */
export class BenchFleet {
  private seq = 0;
  private readonly pending = new Map<
    number,
    { resolve: (r: FleetReply) => void; reject: (e: Error) => void }
  >();
  readonly child: ChildProcess;

  constructor() {
    this.child = fork(fileURLToPath(new URL('./fleet-worker.js', import.meta.url)), [], {
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
      execArgv: ['--max-old-space-size=8192'],
    });
    this.child.on('message', (msg: { seq: number; reply?: FleetReply; error?: string }) => {
      const p = this.pending.get(msg.seq);
      if (!p) return;
      this.pending.delete(msg.seq);
      if (msg.error) p.reject(new Error(`fleet: ${msg.error}`));
      else p.resolve(msg.reply!);
    });
    this.child.on('exit', (code) => {
      for (const p of this.pending.values()) p.reject(new Error(`fleet process exited (${code})`));
      this.pending.clear();
    });
  }

  /** Sends a request; fails after `timeoutMs` (a fleet that never answers must not hang the run). */
  request<R extends FleetReply>(req: FleetRequest, timeoutMs = 300_000): Promise<R> {
    const seq = ++this.seq;
    return new Promise<R>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(seq);
        reject(new Error(`fleet: no answer to ${req.op} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(seq, {
        resolve: (r) => {
          clearTimeout(timer);
          resolve(r as R);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      this.child.send({ seq, req });
    });
  }

  async start(url: string, ids: string[], secret: string, prefix = 'dalaba/v1') {
    const r = await this.request<{
      connected: number;
      failed: { id: string; error: string }[];
      ms: number;
    }>({ op: 'start', url, ids, secret, prefix });
    if (r.connected !== ids.length)
      throw new Error(
        `only ${r.connected} of ${ids.length} devices connected: ${JSON.stringify(r.failed)}`,
      );
    return r;
  }

  times(broadcastId: string): Promise<PlayTimes> {
    return this.request<PlayTimes>({ op: 'times', broadcastId });
  }

  async close(): Promise<void> {
    if (this.child.exitCode !== null) return;
    await this.request({ op: 'stop' }).catch(() => undefined);
    const exited = new Promise((r) => this.child.once('exit', r));
    this.child.disconnect();
    await exited;
  }
}
