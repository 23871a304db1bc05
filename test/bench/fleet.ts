import { ChildProcess, fork } from 'node:child_process';
import { setTimeout as wait } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

export interface PlayTimes {
  /** Play commands each device got for the broadcast (1 each when nothing was resent). */
  commands: number[];
  /** When each device first had the play command (epoch ms, fractional). */
  firstReceived: number[];
  /** When each device reported `played`. */
  played: number[];
  /** The `notBefore` of each device's first play command (epoch ms): when it may play. */
  notBefore: number[];
}

/** What the fleet counts per broadcast: devices that had its play command, played it, were told to stop. */
export type Milestone = 'received' | 'played' | 'stopped';

export type FleetRequest =
  | { op: 'start'; url: string; ids: string[]; secret: string; prefix: string }
  | { op: 'hold'; hold: boolean }
  | { op: 'confirm' }
  | { op: 'count'; broadcastId: string; what: Milestone }
  | { op: 'times'; broadcastId: string }
  | { op: 'online' }
  | { op: 'kill' }
  | { op: 'kill-one'; id: string }
  | { op: 'listen'; url: string; listeners: Listener[] }
  | { op: 'heard'; round: string; times?: boolean }
  | { op: 'stop' };

/** A bare MQTT subscriber of the group-topic scenario: a device id and the topics it subscribes to. */
export interface Listener {
  id: string;
  topics: string[];
}

export type FleetReply =
  | { ok: true }
  | { connected: number; failed: { id: string; error: string }[]; ms: number }
  | { at: number; confirmed: number }
  | { count: number }
  | PlayTimes
  | { online: number; connectFailures?: Record<string, number> }
  | { heard: number; times?: number[] };

/**
 * A bench child process driven over IPC: each request carries a sequence number and gets one reply
 * (or an error) back. The fleet's agents run in such processes, and the group-topic scenario's broker.
 */
export class IpcChild<Req extends { op: string }, Rep> {
  private seq = 0;
  private readonly pending = new Map<
    number,
    { resolve: (r: Rep) => void; reject: (e: Error) => void }
  >();
  readonly child: ChildProcess;

  /** `script`: a compiled module next to this one, e.g. `./fleet-worker.js`; `name` prefixes errors. */
  constructor(
    script: string,
    private readonly name: string,
  ) {
    this.child = fork(fileURLToPath(new URL(script, import.meta.url)), [], {
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
      execArgv: ['--max-old-space-size=8192'],
    });
    this.child.on('message', (msg: { seq: number; reply?: Rep; error?: string }) => {
      const p = this.pending.get(msg.seq);
      if (!p) return;
      this.pending.delete(msg.seq);
      if (msg.error) p.reject(new Error(`${this.name}: ${msg.error}`));
      else p.resolve(msg.reply!);
    });
    this.child.on('exit', (code) => {
      for (const p of this.pending.values())
        p.reject(new Error(`${this.name} process exited (${code})`));
      this.pending.clear();
    });
  }

  /** Sends a request; fails after `timeoutMs` (a fleet that never answers must not hang the run). */
  request<R extends Rep>(req: Req, timeoutMs = 300_000): Promise<R> {
    const seq = ++this.seq;
    return new Promise<R>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(seq);
        reject(new Error(`${this.name}: no answer to ${req.op} within ${timeoutMs} ms`));
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

  async close(): Promise<void> {
    if (this.child.exitCode !== null) return;
    await this.request({ op: 'stop' } as Req).catch(() => undefined);
    const exited = new Promise((r) => this.child.once('exit', r));
    this.child.disconnect();
    await exited;
  }
}

/**
 * The benchmark's devices: agents spread over `processes` child processes (so that parsing a
 * thousand commands in one event loop does not pass for the server's latency), driven as one.
 */
type FleetProcess = IpcChild<FleetRequest, FleetReply>;

export class BenchFleet {
  private readonly procs: FleetProcess[];
  private owner = new Map<string, FleetProcess>();

  constructor(processes = 2) {
    this.procs = Array.from(
      { length: Math.max(1, processes) },
      () => new IpcChild<FleetRequest, FleetReply>('./fleet-worker.js', 'fleet'),
    );
  }

  private all<R extends FleetReply>(req: FleetRequest): Promise<R[]> {
    return Promise.all(this.procs.map((p) => p.request<R>(req)));
  }

  /** Connects `ids` (more devices on each further call) and resolves when all are connected. */
  async start(url: string, ids: string[], secret: string, prefix = 'dalaba/v1') {
    const shares = this.procs.map((_, i) => ids.filter((_, k) => k % this.procs.length === i));
    shares.forEach((share, i) => share.forEach((id) => this.owner.set(id, this.procs[i])));
    const replies = await Promise.all(
      this.procs.map((p, i) =>
        p.request<{ connected: number; failed: { id: string; error: string }[]; ms: number }>({
          op: 'start',
          url,
          ids: shares[i],
          secret,
          prefix,
        }),
      ),
    );
    const connected = replies.reduce((n, r) => n + r.connected, 0);
    if (connected !== ids.length)
      throw new Error(
        `only ${connected} of ${ids.length} devices connected: ${JSON.stringify(replies.flatMap((r) => r.failed))}`,
      );
    return { connected, ms: Math.max(...replies.map((r) => r.ms)) };
  }

  async hold(hold: boolean): Promise<void> {
    await this.all({ op: 'hold', hold });
  }

  /** Every held play is confirmed `played` at once; returns when the first process began. */
  async confirm(): Promise<number> {
    const replies = await this.all<{ at: number; confirmed: number }>({ op: 'confirm' });
    return Math.min(...replies.map((r) => r.at));
  }

  /** Resolves once `count` devices have reported `played` for the broadcast. */
  waitPlayed(broadcastId: string, count: number, timeoutMs = 300_000): Promise<void> {
    return this.waitFor(broadcastId, 'played', count, timeoutMs);
  }

  /** Resolves once `count` devices have reached `what` for the broadcast. */
  async waitFor(
    broadcastId: string,
    what: Milestone,
    count: number,
    timeoutMs = 300_000,
  ): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const n = await this.count(broadcastId, what);
      if (n >= count) return;
      if (Date.now() > deadline)
        throw new Error(`only ${n} of ${count} devices ${what} ${broadcastId} in ${timeoutMs} ms`);
      await wait(20);
    }
  }

  async times(broadcastId: string): Promise<PlayTimes> {
    const replies = await this.all<PlayTimes>({ op: 'times', broadcastId });
    return {
      commands: replies.flatMap((r) => r.commands),
      firstReceived: replies.flatMap((r) => r.firstReceived),
      played: replies.flatMap((r) => r.played),
      notBefore: replies.flatMap((r) => r.notBefore),
    };
  }

  /**
   * Connects bare subscribers (the group-topic scenario: no agents, no play flow). Each records when
   * it first heard a message of a round meant for it: one without a `devices` map, or one whose
   * map has its id.
   */
  async listen(url: string, listeners: Listener[]): Promise<void> {
    await Promise.all(
      this.procs.map((p, i) =>
        p.request({
          op: 'listen',
          url,
          listeners: listeners.filter((_, k) => k % this.procs.length === i),
        }),
      ),
    );
  }

  /** How many subscribers heard the round, and with `times` when each first did (epoch ms). */
  async heard(round: string, times = false): Promise<{ heard: number; times: number[] }> {
    const replies = await this.all<{ heard: number; times?: number[] }>({
      op: 'heard',
      round,
      times,
    });
    return {
      heard: replies.reduce((n, r) => n + r.heard, 0),
      times: replies.flatMap((r) => r.times ?? []),
    };
  }

  /** Devices connected now, and every connection attempt so far that did not get in, by why. */
  async connectStats(): Promise<{ connected: number; failures: Record<string, number> }> {
    const replies = await this.all<{ online: number; connectFailures?: Record<string, number> }>({
      op: 'online',
    });
    const failures: Record<string, number> = {};
    for (const r of replies)
      for (const [why, n] of Object.entries(r.connectFailures ?? {}))
        failures[why] = (failures[why] ?? 0) + n;
    return { connected: replies.reduce((n, r) => n + r.online, 0), failures };
  }

  /** Devices that reported `played` for the broadcast so far. */
  playedCount(broadcastId: string): Promise<number> {
    return this.count(broadcastId, 'played');
  }

  /** Devices that have reached `what` for the broadcast so far. */
  async count(broadcastId: string, what: Milestone): Promise<number> {
    const replies = await this.all<{ count: number }>({ op: 'count', broadcastId, what });
    return replies.reduce((n, r) => n + r.count, 0);
  }

  async killOne(id: string): Promise<void> {
    await this.owner.get(id)?.request({ op: 'kill-one', id });
  }

  async close(): Promise<void> {
    await Promise.all(this.procs.map((p) => p.close()));
  }
}
