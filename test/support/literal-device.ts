import { createHash, createPublicKey, verify } from 'node:crypto';
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
 * docs/protocol.md section 9.2, as a device maker would write it from the text: members sorted by
 * key (UTF-16 code units, what `sort()` compares), no whitespace, strings and numbers as
 * `JSON.stringify` writes them (the shortest escapes, UTF-8 left as it is), arrays in order.
 * Deliberately not the `canonicalize` package the server uses.
 */
export function literalCanonical(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(literalCanonical).join(',')}]`;
  const object = value as Record<string, unknown>;
  return `{${Object.keys(object)
    .filter((k) => object[k] !== undefined)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${literalCanonical(object[k])}`)
    .join(',')}}`;
}

/** Section 9.1: Ed25519 over the UTF-8 bytes, base64url key and signature, with Node's own crypto. */
export function literalVerify(publicKey: string, text: string, sig: string): boolean {
  try {
    const key = createPublicKey({
      key: { kty: 'OKP', crv: 'Ed25519', x: publicKey },
      format: 'jwk',
    });
    const signature = Buffer.from(sig, 'base64url');
    return signature.length === 64 && verify(null, Buffer.from(text, 'utf8'), key, signature);
  } catch {
    return false;
  }
}

/** Section 9.1: `ed25519-` and the first 16 hex digits of the SHA-256 of the raw public key. */
export function literalKeyId(alg: string, publicKey: string): string {
  return `${alg}-${createHash('sha256').update(Buffer.from(publicKey, 'base64url')).digest('hex').slice(0, 16)}`;
}

interface LiteralKey {
  kid: string;
  alg: string;
  publicKey: string;
  revoked?: boolean;
  until?: number;
}

export type LiteralVerdict = { ok: true } | { ok: false; reason: string; detail: string };

/**
 * What a device keeps and checks for section 9: the server keys, the highest `seq`, required mode.
 * Ed25519 only (9.1 makes SM2 a station's choice); it says so in its hello (`verifies`).
 */
export class LiteralVerifier {
  readonly keys = new Map<string, LiteralKey>();
  lastSeq = 0;

  constructor(
    readonly deviceId: string,
    keys: { kid: string; alg: string; publicKey: string }[],
    public required = false,
  ) {
    for (const k of keys)
      if (literalKeyId(k.alg, k.publicKey) === k.kid) this.keys.set(k.kid, { ...k });
  }

  /** Section 9.3, steps 1–7, with `now` the server's time (undefined: not known, skip step 6). */
  check(cmd: Record<string, unknown>, now: number | undefined, keys = this.keys): LiteralVerdict {
    const fields = ['to', 'seq', 'exp', 'kid', 'sig'];
    const present = fields.filter((f) => cmd[f] !== undefined);
    if (present.length === 0)
      return this.required ? refuse('unsigned', 'no signature') : { ok: true };
    if (present.length < fields.length) return refuse('bad_signature', 'fields missing');
    const key = keys.get(String(cmd.kid));
    if (!key) return refuse('unknown_key', `key ${String(cmd.kid)} is not known`);
    if (key.revoked || (key.until !== undefined && now !== undefined && now > key.until))
      return refuse('revoked_key', `key ${key.kid} is revoked`);
    const { sig, ...rest } = cmd;
    if (key.alg !== 'ed25519' || !literalVerify(key.publicKey, literalCanonical(rest), String(sig)))
      return refuse('bad_signature', `signature does not verify with ${key.kid}`);
    if (cmd.to !== this.deviceId) return refuse('wrong_device', `addressed to ${String(cmd.to)}`);
    if (typeof cmd.seq !== 'number' || cmd.seq <= this.lastSeq)
      return refuse('replayed', `seq ${String(cmd.seq)} ≤ ${this.lastSeq} already seen`);
    if (now !== undefined && typeof cmd.exp === 'number' && now > cmd.exp)
      return refuse('expired', `expired ${now - cmd.exp} ms ago`);
    this.lastSeq = cmd.seq;
    return { ok: true };
  }

  /** Section 9.4: revoked marked, endorsed keys taken (chains too), then the announcement checked. */
  announce(cmd: Record<string, unknown>, now: number | undefined): LiteralVerdict {
    if (cmd.sig === undefined) return refuse('unsigned', 'a keys announcement must be signed');
    const next = new Map([...this.keys].map(([kid, k]) => [kid, { ...k }]));
    const revoked = Array.isArray(cmd.revoked) ? (cmd.revoked as string[]) : [];
    for (const kid of revoked) {
      const k = next.get(kid);
      if (k) k.revoked = true;
    }
    const announced = (Array.isArray(cmd.keys) ? cmd.keys : []) as (LiteralKey & {
      endorsedBy?: string;
      endorsement?: string;
    })[];
    for (let taken = true; taken;) {
      taken = false;
      for (const a of announced) {
        if (literalKeyId(a.alg, a.publicKey) !== a.kid) continue;
        const held = next.get(a.kid);
        if (held) {
          if (!held.revoked && held.publicKey === a.publicKey) held.until = a.until;
          continue;
        }
        const by = a.endorsedBy ? next.get(a.endorsedBy) : undefined;
        const endorsed = literalCanonical({ alg: a.alg, kid: a.kid, publicKey: a.publicKey });
        if (!by || by.revoked || by.alg !== 'ed25519' || !a.endorsement) continue;
        // A key past its `until` vouches for nothing (9.4).
        if (by.until !== undefined && now !== undefined && now > by.until) continue;
        if (!literalVerify(by.publicKey, endorsed, a.endorsement)) continue;
        next.set(a.kid, { kid: a.kid, alg: a.alg, publicKey: a.publicKey, until: a.until });
        taken = true;
      }
    }
    const verdict = this.check(cmd, now, next);
    if (verdict.ok) {
      this.keys.clear();
      for (const [kid, k] of next) this.keys.set(kid, k);
    }
    return verdict;
  }
}

function refuse(reason: string, detail: string): LiteralVerdict {
  return { ok: false, reason, detail };
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
 * Given server keys, it first checks every command as §9 says, with its own canonical form and
 * Node's Ed25519 ({@link LiteralVerifier}), and answers what fails with one `rejected` event.
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
  /**
   * Server keys from its provisioning (section 9.1): with any, it checks every command as section
   * 9.3 says, refuses with a `rejected` event what does not pass, and says `verifies` in its hello.
   */
  serverKeys?: { kid: string; alg: string; publicKey: string }[];
  /** Refuse unsigned commands from the start (section 9.7). */
  requireSignatures?: boolean;
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
  /** Section 9: present when it was given server keys. */
  readonly verifier?: LiteralVerifier;
  /** The `rejected` events it sent (section 9.3). */
  readonly rejections: Record<string, unknown>[] = [];
  /** Server clock minus its own, from `config` (section 6); undefined until one came. */
  private offsetMs?: number;

  constructor(
    private readonly s: TestServer,
    readonly device: { id: string; secret: string },
    private readonly options: LiteralDeviceOptions = {},
  ) {
    if (options.serverKeys?.length)
      this.verifier = new LiteralVerifier(
        device.id,
        options.serverKeys,
        options.requireSignatures === true,
      );
  }

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
    if (this.verifier && !this.admitted(cmd)) return;
    switch (cmd.type) {
      case 'config':
        if (typeof cmd.ts === 'number') this.offsetMs = cmd.ts - Date.now();
        if (cmd.signing === 'required' && cmd.sig !== undefined && this.verifier)
          this.verifier.required = true;
        return;
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

  /** Section 9.3 (and 9.4 for `keys`): false when refused, after the one `rejected` event. */
  private admitted(cmd: Record<string, unknown>): boolean {
    const verifier = this.verifier!;
    const now = this.offsetMs === undefined ? Date.now() : Date.now() + this.offsetMs;
    const verdict = cmd.type === 'keys' ? verifier.announce(cmd, now) : verifier.check(cmd, now);
    if (verdict.ok) return true;
    const report = {
      type: 'rejected',
      ...(typeof cmd.id === 'string' ? { ref: cmd.id } : {}),
      ...(typeof cmd.type === 'string' ? { command: cmd.type } : {}),
      reason: verdict.reason,
      ...(typeof cmd.seq === 'number' ? { seq: cmd.seq } : {}),
      ...(typeof cmd.kid === 'string' ? { kid: cmd.kid } : {}),
      detail: verdict.detail.slice(0, 200),
    };
    this.rejections.push(report);
    this.publish(report);
    return false;
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
              ...(this.verifier ? { verifies: ['ed25519'] } : {}),
            },
          }
        : {}),
    };
  }

  private topic(kind: string): string {
    return `dalaba/v1/d/${this.device.id}/${kind}`;
  }
}
