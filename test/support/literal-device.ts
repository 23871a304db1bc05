import { createHash } from 'node:crypto';
import mqtt, { MqttClient } from 'mqtt';
import { mqttUrl, nextPresence } from './mqtt.js';
import { api, type TestServer } from './server.js';

/**
 * Returns once a device has everything the server published to it before: a ping goes out on
 * the same topic after it, and its pong comes back only after all of it arrived. Tests await this
 * before asserting that nothing more came.
 */
export async function everythingArrived(s: TestServer, deviceId: string): Promise<void> {
  await api(s.url, s.adminToken).post(`/api/devices/${deviceId}/ping`).expect(200);
}

/**
 * A device written from docs/protocol.md alone, on purpose not the reference agent and not the
 * shared contract code: it parses JSON by hand and does exactly what the document says, so a test
 * run with it fails when the server does something the document does not promise.
 *
 * What it does (protocol §4): answers a `play` with `received` at once; a `deliveryId` it knows is
 * answered with its latest state and never played again, unless the `play` carries a `resume`
 * higher than any it acted on and it last reported that delivery `preempted`; downloads the clip
 * (skipping `downloading` when the clip is already in its cache), checks size and sha256, reports
 * `ready`, waits for `notBefore`, then `playing` and `played`. A more urgent level interrupts what
 * is playing (`preempted`); the same or a lower level waits for the speaker. Every event names
 * the run it is about (`resume`, 0 for the first). `stop` ends matching deliveries and is
 * acknowledged; a `play` of a broadcast it was told to stop is `rejected`; `ping` gets a `pong`.
 */
export interface LiteralDeviceOptions {
  /** How long one playback lasts, ms (repeats included: the speaker plays `repeat` times this). */
  playMs?: number;
  /** Report `preempted` right after every `playing`, as if always interrupted. */
  alwaysPreempted?: boolean;
  /** Do not finish playing until `release()` is called. */
  holdPlaying?: boolean;
  /** Ignore (never acknowledge) the first n `play` commands, as if lost. */
  ignorePlays?: number;
  /** Ignore every resumption (a `play` with `resume`), as if lost. */
  ignoreResumptions?: boolean;
}

interface Play {
  id: string;
  deliveryId: string;
  broadcastId: string;
  level: string;
  clip: { url: string; sha256: string; bytes: number };
  notBefore: number;
  expiresAt: number;
  repeat: number;
  resume?: number;
}

interface Known {
  play: Play;
  state: string;
  resume: number;
  timer?: NodeJS.Timeout;
  release?: () => void;
}

const LEVELS = ['I', 'II', 'III', 'IV', 'routine', 'test'];

export class LiteralDevice {
  /** Every command received, parsed, in order. */
  readonly commands: Record<string, unknown>[] = [];
  /** How often the speaker began each delivery. */
  readonly starts = new Map<string, number>();
  private readonly known = new Map<string, Known>();
  private readonly cache = new Set<string>();
  private playing?: Known;
  private queue: Known[] = [];
  private client?: MqttClient;
  private seq = 0;
  private session = '';
  private ignored = 0;
  private readonly releases: (() => void)[] = [];
  private readonly stoppedBroadcasts = new Set<string>();

  constructor(
    private readonly s: TestServer,
    readonly device: { id: string; secret: string },
    private readonly options: LiteralDeviceOptions = {},
  ) {}

  /** Connects as §1 says and resolves when the server has the device online. */
  async connect(): Promise<void> {
    this.session = `lit${Math.random().toString(36).slice(2, 10)}`;
    const online = nextPresence(this.s, (c) => c.deviceId === this.device.id && c.online);
    const client = mqtt.connect(mqttUrl(this.s), {
      clientId: this.device.id,
      username: this.device.id,
      password: this.device.secret,
      protocolVersion: 4,
      clean: true,
      keepalive: 60,
      reconnectPeriod: 0,
      will: {
        topic: this.topic('state'),
        payload: Buffer.from(JSON.stringify(this.state('offline'))),
        qos: 1,
        retain: true,
      },
    });
    this.client = client;
    await new Promise<void>((resolve, reject) => {
      client.once('connect', () => resolve());
      client.once('error', reject);
    });
    client.on('message', (_topic, payload) => this.onCommand(payload.toString()));
    await client.subscribeAsync(this.topic('cmd'), { qos: 1 });
    await client.publishAsync(this.topic('state'), JSON.stringify(this.state('online')), {
      qos: 1,
      retain: true,
    });
    await online;
  }

  /** Drops the connection without DISCONNECT (the broker publishes the Will). */
  async drop(): Promise<void> {
    const offline = nextPresence(this.s, (c) => c.deviceId === this.device.id && !c.online);
    const client = this.client;
    this.client = undefined;
    client?.end(true);
    await offline;
  }

  async close(): Promise<void> {
    for (const k of this.known.values()) clearTimeout(k.timer);
    await this.client?.endAsync(true);
    this.client = undefined;
  }

  /** The play commands received for one delivery, by id. */
  playIds(deliveryId: string): string[] {
    return this.commands
      .filter((c) => c.type === 'play' && c.deliveryId === deliveryId)
      .map((c) => c.id as string);
  }

  /** Lets every held playback finish. */
  release(): void {
    for (const r of this.releases.splice(0)) r();
  }

  stateOf(deliveryId: string): string | undefined {
    return this.known.get(deliveryId)?.state;
  }

  // ---- §3 and §4 ----

  private onCommand(text: string): void {
    let cmd: Record<string, unknown>;
    try {
      cmd = JSON.parse(text) as Record<string, unknown>;
    } catch {
      return;
    }
    this.commands.push(cmd);
    switch (cmd.type) {
      case 'ping':
        return this.publish({ type: 'pong', ref: cmd.id });
      case 'volume':
        return this.publish({ type: 'ack', ref: cmd.id, ok: true });
      case 'stop':
        return this.stop(cmd);
      case 'play':
        return this.play(cmd as unknown as Play);
    }
  }

  private play(p: Play): void {
    if (this.ignored < (this.options.ignorePlays ?? 0)) {
      this.ignored++;
      return;
    }
    if (this.options.ignoreResumptions && p.resume !== undefined) return;
    const k = this.known.get(p.deliveryId);
    const resume = p.resume ?? 0;
    if (k && !(k.state === 'preempted' && resume > k.resume)) {
      // "A deliveryId the device already knows is answered with its latest state."
      if (k.state === 'stopped') this.report(p.deliveryId, 'rejected', 'stopped');
      else this.report(p.deliveryId, k.state);
      return;
    }
    if (this.stoppedBroadcasts.has(p.broadcastId)) {
      const stopped: Known = { play: p, state: 'stopped', resume };
      this.known.set(p.deliveryId, stopped);
      this.report(p.deliveryId, 'received');
      this.report(p.deliveryId, 'rejected', 'stopped');
      return;
    }
    const run: Known = { play: p, state: 'received', resume };
    this.known.set(p.deliveryId, run);
    this.report(p.deliveryId, 'received');
    if (Date.now() >= p.expiresAt) return this.end(run, 'rejected', 'expired before it arrived');
    void this.fetchThenPlay(run);
  }

  private async fetchThenPlay(run: Known): Promise<void> {
    const p = run.play;
    if (!this.cache.has(p.clip.sha256)) {
      this.set(run, 'downloading');
      try {
        const body = Buffer.from(await (await fetch(p.clip.url)).arrayBuffer());
        const sha = createHash('sha256').update(body).digest('hex');
        if (body.length !== p.clip.bytes || sha !== p.clip.sha256)
          return this.end(run, 'failed', 'sha256 mismatch');
        this.cache.add(sha);
      } catch (err) {
        return this.end(run, 'failed', `download failed: ${(err as Error).message}`.slice(0, 200));
      }
    }
    if (run.state !== 'downloading' && run.state !== 'received') return; // stopped meanwhile
    this.set(run, 'ready');
    run.timer = setTimeout(() => this.toSpeaker(run), Math.max(0, p.notBefore - Date.now()));
  }

  private toSpeaker(run: Known): void {
    if (run.state !== 'ready') return;
    const current = this.playing;
    if (current) {
      if (LEVELS.indexOf(run.play.level) < LEVELS.indexOf(current.play.level)) {
        clearTimeout(current.timer);
        this.playing = undefined;
        this.set(current, 'preempted', `preempted by a level ${run.play.level} broadcast`);
      } else {
        this.queue.push(run);
        return;
      }
    }
    this.speak(run);
  }

  private speak(run: Known): void {
    if (Date.now() >= run.play.expiresAt)
      return this.end(run, 'failed', 'expired before it could play');
    this.playing = run;
    this.starts.set(run.play.deliveryId, (this.starts.get(run.play.deliveryId) ?? 0) + 1);
    this.set(run, 'playing');
    if (this.options.alwaysPreempted) {
      this.playing = undefined;
      this.set(run, 'preempted', 'preempted by a stronger signal');
      return;
    }
    const done = () => {
      if (this.playing !== run || run.state !== 'playing') return;
      this.playing = undefined;
      this.end(run, 'played');
      const next = this.queue.shift();
      if (next) this.speak(next);
    };
    if (this.options.holdPlaying) this.releases.push(done);
    else run.timer = setTimeout(done, (this.options.playMs ?? 50) * run.play.repeat);
  }

  private stop(cmd: Record<string, unknown>): void {
    if (typeof cmd.broadcastId === 'string') this.stoppedBroadcasts.add(cmd.broadcastId);
    for (const k of this.known.values()) {
      const matches =
        (cmd.deliveryId !== undefined && k.play.deliveryId === cmd.deliveryId) ||
        (cmd.broadcastId !== undefined && k.play.broadcastId === cmd.broadcastId);
      if (!matches || ['played', 'failed', 'rejected', 'stopped'].includes(k.state)) continue;
      clearTimeout(k.timer);
      k.state = 'stopped';
      if (this.playing === k) this.playing = undefined;
      this.queue = this.queue.filter((q) => q !== k);
    }
    this.publish({ type: 'ack', ref: cmd.id, ok: true });
  }

  private end(run: Known, state: 'played' | 'failed' | 'rejected', reason?: string): void {
    this.set(run, state, reason);
  }

  private set(run: Known, state: string, reason?: string): void {
    run.state = state;
    this.report(run.play.deliveryId, state, reason);
  }

  private report(deliveryId: string, state: string, reason?: string): void {
    if (state === 'stopped') return;
    const resume = this.known.get(deliveryId)?.resume ?? 0;
    this.publish({ type: 'delivery', deliveryId, state, resume, ...(reason ? { reason } : {}) });
  }

  private publish(body: Record<string, unknown>): void {
    const message = { v: 1, type: body.type, id: `${this.session}-${++this.seq}`, ts: Date.now() };
    this.client?.publish(this.topic('evt'), JSON.stringify({ ...message, ...body }), { qos: 1 });
  }

  private state(status: 'online' | 'offline') {
    return {
      v: 1,
      type: 'state',
      id: `${this.session}-${status}`,
      ts: Date.now(),
      status,
      session: this.session,
      ...(status === 'online'
        ? {
            hello: {
              deviceType: 'village_loudspeaker',
              firmware: 'literal/1',
              codecs: ['mp3'],
              volume: 80,
            },
          }
        : {}),
    };
  }

  private topic(kind: string): string {
    return `dalaba/v1/d/${this.device.id}/${kind}`;
  }
}
