/**
 * The reference device: the device side of the Dalaba protocol (docs/protocol.md), on mqtt.js and
 * the shared contract. Runs as one real device next to an amplifier, or by the thousand in a fleet.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import {
  closeSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { setTimeout as wait } from 'node:timers/promises';
import mqtt, { MqttClient } from 'mqtt';
import {
  AnnouncedKey,
  applyKeyAnnouncement,
  checkCommand,
  CommandRejection,
  decode,
  DEFAULT_TOPIC_PREFIX,
  DeliveryEvent,
  DeviceReportedState,
  DeviceType,
  deviceTopic,
  encode,
  generateKeyPair,
  isSignatureAlgorithm,
  KeyPair,
  keyIdOf,
  MessagesByKind,
  outranks,
  PlayCommand,
  PROTOCOL_VERSION,
  PublicKeyInfo,
  publicKeyOf,
  SIGNATURE_ALGORITHMS,
  SignatureAlgorithm,
  signOwnMessage,
  StateMessage,
  StopCommand,
  TIMING,
  TopicKind,
} from '../src/contract/index.js';
import { fetchClip } from './clip-fetcher.js';

/** Knobs that make the device misbehave on purpose, for tests and benchmarks. */
export interface Faults {
  /** Share (0–1) of commands silently ignored, as if lost. */
  dropCommands?: number;
  /** Share (0–1) of downloads that fail. */
  failDownloads?: number;
  /** Extra wait before each download request, ms. */
  downloadDelayMs?: number;
  /**
   * Added to this device's clock, ms: the `ts` of what it sends. Its `notBefore` and `expiresAt`
   * checks follow the server's clock once a `config` arrived (protocol, "Clocks").
   */
  clockSkewMs?: number;
  /** Claim no codecs the server uses, so every play is rejected. */
  rejectCodec?: boolean;
  /**
   * Answer `received`, then hold the play until `confirmHeld()`, which reports `played` for every
   * held one at once without downloading (a burst of confirmations for the benchmarks).
   */
  holdPlays?: boolean;
}

export interface AgentOptions {
  url: string;
  id: string;
  secret: string;
  prefix?: string;
  deviceType?: DeviceType;
  firmware?: string;
  volume?: number;
  heartbeatIntervalS?: number;
  keepAliveS?: number;
  /** Playback speed: 1 plays for the clip's real duration, 10 ten times faster, 0 instantly. */
  speed?: number;
  /** A real player: a command with `{file}`, e.g. `mpg123 -q {file}`; needs `cacheDir`. */
  player?: string;
  cacheDir?: string;
  faults?: Faults;
  /** Battery level to report (speaker carts); omitted when undefined. */
  batteryPct?: number;
  log?: (line: string) => void;
  random?: () => number;
  /**
   * Follow docs/protocol.md to the letter: a `play` for a delivery the device already knows is
   * answered with its latest state and never played again, unless it is a resumption (`resume`
   * higher than any acted on) of a delivery the device reported `preempted`. The default agent is
   * lenient where a server might not be: it plays a preempted delivery again on any `play` of it.
   * Strict or not, the agent records a `violation` whenever the server sends what the document
   * says it never does. A strict agent that holds server keys also refuses unsigned commands
   * (required mode, docs/protocol.md section 9.7).
   */
  strict?: boolean;
  /**
   * The server's public keys this device trusts, from its provisioning bundle. With at least one
   * (here or kept in `stateDir`), the agent checks every command before acting on it (section 9);
   * without any it cannot tell a genuine command from a forged one and acts on both, as a device
   * made before signatures does.
   */
  serverKeys?: readonly (PublicKeyInfo & { until?: number })[];
  /** Refuse unsigned commands from the start (provisioning `signing.mode: "required"`). */
  signingRequired?: boolean;
  /**
   * Keeps the highest accepted `seq`, the server keys as announced, required mode and the device
   * key in `<stateDir>/<id>.json`, so a restart does not make a captured command acceptable again.
   */
  stateDir?: string;
  /**
   * Protocol 1.1: the device's own key pair, or the algorithm of one to create (kept in `stateDir`
   * when given, so the server's pinned key stays valid across restarts). The agent announces the
   * public key in its hello and signs its `playing` and `played` events with it.
   */
  deviceKey?: KeyPair | SignatureAlgorithm;
}

/** A server key as the device holds it: a revoked one stays, marked, to be told from an unknown one. */
type HeldKey = PublicKeyInfo & { revoked?: boolean; until?: number };

/** What `<stateDir>/<id>.json` holds. */
interface PersistedState {
  lastSeq: number;
  required: boolean;
  keys: HeldKey[];
  deviceKey?: KeyPair;
}

/** CONNACK return codes (MQTT 3.1.1, section 3.2.2.3) the agent acts on. */
const SERVER_UNAVAILABLE = 3;
const BAD_USERNAME_OR_PASSWORD = 4;
const NOT_AUTHORIZED = 5;

/** `lost`: cut off by a power cut (`kill`); reported `preempted` when the device is back. */
type LocalState = DeviceReportedState | 'waiting' | 'stopped' | 'preempted' | 'lost';

interface Job {
  cmd: PlayCommand;
  state: LocalState;
  abort: AbortController;
  file?: string;
  /** The resumption this run of the delivery answers (0: the first run). */
  resume: number;
  /** Ids of the play commands seen for this run (a resend repeats one). */
  commandIds: Set<string>;
}

/**
 * Events: `connected`, `disconnected`, `command` (a valid command, accepted by the signature
 * checks when the agent verifies), `delivery` (deliveryId, state: every report sent, including
 * repeats for a resent command), `playback` (deliveryId: the speaker actually starts it),
 * `acknowledged` (deliveryId, state: the PUBACK of a report), `invalid` (reason) for a command that
 * fails validation, `refused` (reason, command) for a command the signature checks refused
 * (docs/protocol.md section 9.3; its `rejected` event is on its way), `violation` (description)
 * for a command the protocol says the server never sends, `auth-failed` (a refused login, CONNACK
 * 4 or 5: the agent stops trying; CONNACK 3, a lock-out, is retried with back-off instead), and
 * `connect-failed` (why: a socket error code such as `ECONNREFUSED`, a CONNACK code such as `3`,
 * or mqtt.js' message such as `connack timeout`) for every connection attempt that did not get in.
 */
export class DeviceAgent extends EventEmitter {
  private client?: MqttClient;
  private session = '';
  private readonly prefix: string;
  private readonly faults: Faults;
  private readonly random: () => number;
  private readonly startedAt = Date.now();
  private heartbeat?: NodeJS.Timeout;
  private seq = 0;
  private failures = 0;
  private volume: number;
  /** Telemetry period: the option, until the server's `config` says otherwise. */
  private heartbeatS: number;
  /** Server clock minus this device's clock, from the last `config` (0 until then). */
  private serverOffsetMs = 0;
  private readonly jobs = new Map<string, Job>();
  private playing?: Job;
  private readonly queue: Job[] = [];
  private held: Job[] = [];
  private stopped = false;
  /** What the server sent that docs/protocol.md says it never does (see `strict`). */
  readonly violations: string[] = [];
  /** Broadcasts this device was told to stop: a play for one is refused. */
  private readonly stoppedBroadcasts = new Set<string>();
  /** Server keys, by kid (section 9.4). */
  private serverKeys = new Map<string, HeldKey>();
  /** Highest `seq` accepted (section 9.5). */
  private lastSeq = 0;
  /** Refuse unsigned commands (section 9.7); once set, it stays. */
  private required: boolean;
  /**
   * Whether this device's clock (plus the offset from `config`) is the server's: a device with a
   * skewed clock and no `config` yet has no idea, and skips the `exp` check (section 9.3, step 6).
   */
  private clockKnown: boolean;
  private readonly ownKey?: KeyPair;
  private readonly stateFile?: string;

  constructor(readonly options: AgentOptions) {
    super();
    this.prefix = options.prefix ?? DEFAULT_TOPIC_PREFIX;
    this.faults = options.faults ?? {};
    this.random = options.random ?? Math.random;
    this.volume = options.volume ?? 80;
    this.heartbeatS = options.heartbeatIntervalS ?? TIMING.heartbeatIntervalS;
    this.clockKnown = !this.faults.clockSkewMs;
    this.stateFile = options.stateDir ? join(options.stateDir, `${options.id}.json`) : undefined;
    const saved = this.stateFile ? readState(this.stateFile) : undefined;
    for (const k of saved?.keys ?? []) this.serverKeys.set(k.kid, k);
    // A key from a new provisioning is added; one the device has since learnt is revoked stays so.
    for (const k of options.serverKeys ?? []) {
      if (keyIdOf(k.alg, k.publicKey) !== k.kid)
        throw new Error(`server key ${k.kid} does not match its public key`);
      if (!this.serverKeys.has(k.kid)) this.serverKeys.set(k.kid, { ...k });
    }
    this.lastSeq = saved?.lastSeq ?? 0;
    this.required =
      saved?.required === true || options.signingRequired === true || !!options.strict;
    if (typeof options.deviceKey === 'object') this.ownKey = options.deviceKey;
    else if (options.deviceKey !== undefined) {
      const kept = saved?.deviceKey;
      this.ownKey =
        kept && kept.alg === options.deviceKey ? kept : generateKeyPair(options.deviceKey);
    }
    if (
      this.ownKey &&
      publicKeyOf(this.ownKey.alg, this.ownKey.privateKey) !== this.ownKey.publicKey
    )
      throw new Error('device key: the public key is not that of the private key');
    if (this.stateFile && (!saved || (this.ownKey && saved.deviceKey !== this.ownKey)))
      this.persist();
  }

  /** Whether this device checks command signatures: it does once it holds a server key. */
  get verifies(): boolean {
    return this.serverKeys.size > 0;
  }

  /** The highest `seq` accepted so far (0: none). */
  get highestSeq(): number {
    return this.lastSeq;
  }

  /** Whether unsigned commands are refused (required mode). */
  get signingRequired(): boolean {
    return this.verifies && this.required;
  }

  /** The server keys held: revoked ones marked, retiring ones with `until`. */
  heldServerKeys(): HeldKey[] {
    return [...this.serverKeys.values()].map((k) => ({ ...k }));
  }

  /** Protocol 1.1: this device's public key, when it has one. */
  get devicePublicKey(): { alg: SignatureAlgorithm; publicKey: string } | undefined {
    return this.ownKey ? { alg: this.ownKey.alg, publicKey: this.ownKey.publicKey } : undefined;
  }

  /** The telemetry period in use, seconds. */
  get heartbeatIntervalS(): number {
    return this.heartbeatS;
  }

  get id(): string {
    return this.options.id;
  }

  get connected(): boolean {
    return this.client?.connected === true;
  }

  /** What this device knows of each delivery it was sent. */
  deliveryState(deliveryId: string): LocalState | undefined {
    return this.jobs.get(deliveryId)?.state;
  }

  /** Connects (and keeps reconnecting with jittered back-off). Resolves on the first connection. */
  start(): Promise<void> {
    this.stopped = false;
    this.connect();
    return new Promise((resolve, reject) => {
      const onConnect = () => {
        this.off('auth-failed', onFail);
        resolve();
      };
      const onFail = (err: Error) => {
        this.off('connected', onConnect);
        reject(err);
      };
      this.once('connected', onConnect);
      this.once('auth-failed', onFail);
    });
  }

  /** Says `offline` and disconnects cleanly (no Will). */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.heartbeat);
    for (const job of this.jobs.values()) job.abort.abort(new Error('agent stopped'));
    const client = this.client;
    this.client = undefined;
    if (!client) return;
    if (client.connected) {
      await client
        .publishAsync(this.topic('state'), encode(this.stateMessage('offline')), {
          qos: 1,
          retain: true,
        })
        .catch(() => undefined);
    }
    await client.endAsync();
  }

  /** Drops the connection without a DISCONNECT, as a power cut would: the broker publishes the Will. */
  kill(): void {
    this.stopped = true;
    clearInterval(this.heartbeat);
    for (const job of this.jobs.values()) {
      if (isFinished(job.state) || job.state === 'preempted') continue;
      // Still known when the power comes back (a real device keeps it in storage).
      job.state = 'lost';
      job.abort.abort(new Error('agent killed'));
    }
    const client = this.client;
    this.client = undefined;
    client?.end(true);
    (client as unknown as { stream?: { destroy(): void } } | undefined)?.stream?.destroy();
  }

  /** Goes silent for `ms` (abrupt disconnect, then reconnects), e.g. a mast losing power. */
  async goOffline(ms: number): Promise<void> {
    this.kill();
    await new Promise((r) => setTimeout(r, ms));
    await this.start();
  }

  // ---- connection ----

  private connect(): void {
    this.newSession();
    const client = mqtt.connect(this.options.url, {
      clientId: this.options.id,
      username: this.options.id,
      password: this.options.secret,
      protocolVersion: 4,
      clean: true,
      keepalive: this.options.keepAliveS ?? TIMING.keepAliveS,
      reconnectPeriod: 1000,
      connectTimeout: TIMING.connackWaitS * 1000,
      // mqtt.js gives up after any refused CONNACK otherwise; 4 and 5 end the client below.
      reconnectOnConnackError: true,
      will: this.will(),
    });
    this.client = client;
    // Each connection gets its own session id, in its Will and in its `online` state alike.
    client.on('reconnect', () => {
      this.newSession();
      client.options.will = this.will();
    });
    // Jittered exponential back-off (mqtt.js alone retries every second, all devices in lock-step).
    // A refused CONNACK sets the wait itself, before mqtt.js schedules the retry (see below).
    let waitSet = false;
    client.prependListener('close', () => {
      if (this.stopped) return;
      if (!waitSet) client.options.reconnectPeriod = this.nextWait();
      waitSet = false;
      clearInterval(this.heartbeat);
      this.emit('disconnected');
    });
    client.on('error', (err: Error & { code?: number | string }) => {
      if (!client.connected) this.emit('connect-failed', String(err.code ?? err.message));
      if (typeof err.code !== 'number') return; // a socket error: the close that follows backs off
      if (err.code === BAD_USERNAME_OR_PASSWORD || err.code === NOT_AUTHORIZED) {
        // Retrying cannot help until the station fixes the registration: stop and say so.
        this.log(`login refused by the broker (${err.message}); not retrying`);
        client.end(true);
        this.emit('auth-failed', err);
        return;
      }
      // Any other refusal, above all CONNACK 3 (locked out after too many failed logins, or the
      // server is busy: the secret may well be right): wait and try again. mqtt.js schedules the
      // retry (reconnectOnConnackError) right after this handler, before the connection's close,
      // so the wait is set here.
      client.options.reconnectPeriod = this.nextWait();
      waitSet = true;
      const why = err.code === SERVER_UNAVAILABLE ? 'server unavailable (CONNACK 3)' : err.message;
      this.log(`${why}: retrying in ${(client.options.reconnectPeriod / 1000).toFixed(1)} s`);
    });
    client.on('connect', () => {
      this.failures = 0;
      client.options.reconnectPeriod = 1000;
      void this.onConnected(client);
    });
    client.on('message', (topic, payload) => this.onMessage(topic, payload));
  }

  /** The next reconnect wait: between half and all of the current back-off step, ms. */
  private nextWait(): number {
    const ceiling = Math.min(TIMING.reconnectMaxS * 1000, 1000 * 2 ** this.failures++);
    return Math.round(ceiling / 2 + this.random() * (ceiling / 2));
  }

  private async onConnected(client: MqttClient): Promise<void> {
    try {
      await client.subscribeAsync(this.topic('cmd'), { qos: 1 });
      await client.publishAsync(this.topic('state'), encode(this.stateMessage('online')), {
        qos: 1,
        retain: true,
      });
      this.sendTelemetry();
      this.startHeartbeat();
      // What the power cut interrupted is played again: the server resumes what is reported so.
      for (const job of this.jobs.values()) {
        if (job.state !== 'lost') continue;
        job.state = 'preempted';
        this.report(job.cmd.deliveryId, 'preempted', 'power lost');
      }
      // Says whether forged commands would be refused: the first thing to check on a new install.
      this.log(
        this.verifies
          ? `online; checks command signatures (${this.serverKeys.size} key(s)${this.signingRequired ? ', unsigned refused' : ''}, highest seq ${this.lastSeq})`
          : 'online',
      );
      this.emit('connected');
    } catch (err) {
      this.log(`could not finish connecting: ${(err as Error).message}`);
    }
  }

  private startHeartbeat(): void {
    clearInterval(this.heartbeat);
    this.heartbeat = setInterval(() => this.sendTelemetry(), this.heartbeatS * 1000);
    this.heartbeat.unref();
  }

  // ---- commands ----

  private onMessage(topic: string, payload: Buffer): void {
    if (topic !== this.topic('cmd')) return;
    const decoded = decode('cmd', payload);
    if (!decoded.ok) {
      this.log(`ignored an invalid command: ${decoded.reason} ${decoded.detail}`);
      this.emit('invalid', decoded.reason);
      return;
    }
    const cmd = decoded.message;
    if (this.faults.dropCommands && this.random() < this.faults.dropCommands) {
      this.log(`dropped ${cmd.type} ${cmd.id} (fault injection)`);
      return;
    }
    if (this.verifies && !this.admit(cmd)) return;
    this.emit('command', cmd);
    switch (cmd.type) {
      case 'ping':
        this.publish('evt', {
          v: PROTOCOL_VERSION,
          type: 'pong',
          id: this.nextId(),
          ts: this.now(),
          ref: cmd.id,
        });
        return;
      case 'volume':
        this.volume = cmd.volume;
        this.ack(cmd.id);
        this.sendTelemetry();
        return;
      case 'stop':
        this.handleStop(cmd);
        return;
      case 'play':
        void this.handlePlay(cmd);
        return;
      case 'keys':
        return; // taken in admit(); a device that does not verify has no use for keys it cannot trust
      case 'config':
        // notBefore and expiresAt are on the server's clock: keep the offset, not the device's word;
        // once it checks signatures only a signed config moves it (anyone on a broker can send one).
        if (!this.verifies || cmd.sig !== undefined) {
          this.serverOffsetMs = cmd.ts - this.now();
          this.clockKnown = true;
        }
        if (cmd.heartbeatIntervalS !== this.heartbeatS) {
          this.heartbeatS = cmd.heartbeatIntervalS;
          if (this.client?.connected) this.startHeartbeat();
          this.log(`heartbeat every ${this.heartbeatS} s, as the server asks`);
        }
        return;
    }
  }

  /**
   * The checks of docs/protocol.md section 9.3 (`checkCommand`), plus what a `keys` announcement
   * and a `config` change; true when the command may be acted on. Its `seq` is stored (on disk with
   * a `stateDir`) before the caller acts, so a crash right after cannot make it acceptable again.
   */
  private admit(cmd: MessagesByKind['cmd']): boolean {
    const message = cmd as unknown as Record<string, unknown>;
    // An announcement is checked with the keys it brings: a new key signs its first announcement.
    const keys =
      cmd.type === 'keys'
        ? applyKeyAnnouncement(
            this.serverKeys,
            cmd.keys as AnnouncedKey[],
            cmd.revoked,
            this.clockKnown ? this.serverNow() : undefined,
          )
        : this.serverKeys;
    const check = checkCommand(message, {
      deviceId: this.options.id,
      keys,
      lastSeq: this.lastSeq,
      now: this.clockKnown ? this.serverNow() : undefined,
      required: this.required,
    });
    if (!check.ok) {
      this.refuse(cmd, check.reason, check.detail);
      return false;
    }
    let changed = false;
    if (check.signed) {
      this.lastSeq = check.seq;
      changed = true;
    }
    if (cmd.type === 'keys') {
      this.serverKeys = keys;
      this.log(`server keys: ${describeKeys(keys)}`);
    }
    // Only the station's own word switches it: an unsigned `config` could come from anyone.
    if (cmd.type === 'config' && check.signed && cmd.signing === 'required' && !this.required) {
      this.required = true;
      changed = true;
      this.log('signing required by the server: unsigned commands are refused from now on');
    }
    if (changed) this.persist();
    return true;
  }

  /** Reports a refused command once (`rejected`, section 9.3) and otherwise ignores it. */
  private refuse(cmd: MessagesByKind['cmd'], reason: CommandRejection, detail: string): void {
    const { seq, kid } = cmd as { seq?: number; kid?: string };
    this.log(`refused ${cmd.type} ${cmd.id}: ${reason} (${detail})`);
    this.emit('refused', reason, cmd);
    this.publish('evt', {
      v: PROTOCOL_VERSION,
      type: 'rejected',
      id: this.nextId(),
      ts: this.now(),
      ref: cmd.id,
      command: cmd.type,
      reason,
      ...(seq !== undefined ? { seq } : {}),
      ...(kid !== undefined ? { kid } : {}),
      detail: detail.slice(0, 200),
    });
  }

  /** Writes the state file whole, then renames it over the old one: a power cut leaves either. */
  private persist(): void {
    if (!this.stateFile) return;
    const state: PersistedState = {
      lastSeq: this.lastSeq,
      required: this.required,
      keys: [...this.serverKeys.values()],
      ...(this.ownKey ? { deviceKey: this.ownKey } : {}),
    };
    mkdirSync(this.options.stateDir!, { recursive: true });
    const tmp = `${this.stateFile}.tmp`;
    const fd = openSync(tmp, 'w', 0o600);
    try {
      writeSync(fd, `${JSON.stringify(state)}\n`);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, this.stateFile);
  }

  private handleStop(cmd: StopCommand): void {
    if (cmd.broadcastId !== undefined) {
      this.stoppedBroadcasts.add(cmd.broadcastId);
      // Kept for a play that might still come for it; the oldest go first.
      if (this.stoppedBroadcasts.size > 1000)
        this.stoppedBroadcasts.delete(this.stoppedBroadcasts.values().next().value!);
    }
    let stopped = 0;
    for (const job of this.jobs.values()) {
      const matches =
        (cmd.deliveryId !== undefined && job.cmd.deliveryId === cmd.deliveryId) ||
        (cmd.broadcastId !== undefined && job.cmd.broadcastId === cmd.broadcastId);
      if (matches && !isFinished(job.state)) {
        job.state = 'stopped';
        job.abort.abort(new Error('stopped'));
        stopped++;
      }
    }
    this.log(`stop (${cmd.reason}): ${stopped} delivery(ies) stopped`);
    this.ack(cmd.id);
  }

  private ack(ref: string): void {
    this.publish('evt', {
      v: PROTOCOL_VERSION,
      type: 'ack',
      id: this.nextId(),
      ts: this.now(),
      ref,
      ok: true,
    });
  }

  /** The play flow: received → downloading → ready → (wait) → playing → played, or failed/rejected. */
  private async handlePlay(cmd: PlayCommand): Promise<void> {
    const known = this.jobs.get(cmd.deliveryId);
    const resume = cmd.resume ?? 0;
    if (known) {
      const resumption = resume > known.resume;
      if (!resumption && !known.commandIds.has(cmd.id))
        this.violation(
          `play ${cmd.id} for known delivery ${cmd.deliveryId} with a new id and no higher resume`,
        );
      if (resumption && known.state !== 'preempted')
        this.violation(
          `resume ${resume} of delivery ${cmd.deliveryId}, which was not preempted but ${known.state}`,
        );
      const restart = known.state === 'preempted' && (resumption || !this.options.strict);
      if (!restart) {
        // A resend: say again where we are; never play the same delivery twice.
        known.commandIds.add(cmd.id);
        if (known.state === 'stopped') this.report(cmd.deliveryId, 'rejected', 'stopped');
        else if (isReportable(known.state)) this.report(cmd.deliveryId, known.state);
        return;
      }
    }
    if (this.stoppedBroadcasts.has(cmd.broadcastId)) {
      this.violation(`play ${cmd.id} of broadcast ${cmd.broadcastId}, which it was told to stop`);
      const stopped: Job = {
        cmd,
        state: 'stopped',
        abort: new AbortController(),
        resume,
        commandIds: new Set([cmd.id]),
      };
      this.jobs.set(cmd.deliveryId, stopped);
      this.report(cmd.deliveryId, 'received');
      this.report(cmd.deliveryId, 'rejected', 'stopped');
      return;
    }
    const job: Job = {
      cmd,
      state: 'received',
      abort: new AbortController(),
      resume: Math.max(resume, known?.resume ?? 0),
      commandIds: new Set([cmd.id]),
    };
    this.jobs.set(cmd.deliveryId, job);
    this.report(cmd.deliveryId, 'received');

    if (this.serverNow() >= cmd.expiresAt)
      return this.finish(job, 'rejected', 'expired before it arrived');
    if (this.faults.rejectCodec || cmd.clip.codec !== 'mp3')
      return this.finish(job, 'rejected', `codec ${cmd.clip.codec} not supported`);
    if (this.faults.holdPlays) {
      this.held.push(job);
      return;
    }

    try {
      job.state = 'downloading';
      this.report(cmd.deliveryId, 'downloading', undefined, 0);
      if (this.faults.failDownloads && this.random() < this.faults.failDownloads) {
        throw new Error('download failed: simulated network fault');
      }
      const fetched = await fetchClip(cmd.clip, {
        cacheDir: this.options.player ? this.options.cacheDir : undefined,
        delayMs: this.faults.downloadDelayMs,
        deadline: Date.now() + (cmd.expiresAt - this.serverNow()),
        signal: job.abort.signal,
      });
      job.file = fetched.path;
      job.state = 'ready';
      this.report(cmd.deliveryId, 'ready');
      await wait(Math.max(0, cmd.notBefore - this.serverNow()), undefined, {
        signal: job.abort.signal,
      });
      if (this.serverNow() >= cmd.expiresAt)
        return this.finish(job, 'failed', 'expired before it could play');
      await this.speak(job);
    } catch (err) {
      if (job.state === 'stopped' || job.state === 'preempted' || job.state === 'lost') return;
      this.finish(job, 'failed', (err as Error).message.slice(0, 200));
    }
  }

  /** Takes the speaker: now if free or if this job is more urgent; otherwise after what is ahead. */
  private async speak(job: Job): Promise<void> {
    const current = this.playing;
    if (current && current !== job) {
      if (outranks(job.cmd.level, current.cmd.level)) {
        // A more urgent broadcast interrupts; the server resumes the other with a new `play`.
        current.state = 'preempted';
        current.abort.abort(new Error('preempted'));
        this.report(
          current.cmd.deliveryId,
          'preempted',
          `preempted by a level ${job.cmd.level} broadcast`,
        );
      } else {
        this.queue.push(job);
        this.queue.sort((a, b) => levelRank(a) - levelRank(b) || a.cmd.notBefore - b.cmd.notBefore);
        await new Promise<void>((resolve, reject) => {
          const check = () => {
            if (job.abort.signal.aborted) return reject(job.abort.signal.reason);
            if (!this.playing && this.queue[0] === job) {
              this.queue.shift();
              this.off('speaker-free', check);
              resolve();
            }
          };
          this.on('speaker-free', check);
          job.abort.signal.addEventListener('abort', () => {
            this.off('speaker-free', check);
            this.queue.splice(this.queue.indexOf(job), 1);
            reject(job.abort.signal.reason);
          });
        });
        if (this.serverNow() >= job.cmd.expiresAt)
          return this.finish(job, 'failed', 'expired while waiting for the speaker');
      }
    }
    this.playing = job;
    try {
      job.state = 'playing';
      this.emit('playback', job.cmd.deliveryId);
      this.report(job.cmd.deliveryId, 'playing');
      for (let i = 0; i < job.cmd.repeat; i++) await this.playOnce(job);
      this.finish(job, 'played');
    } finally {
      if (this.playing === job) this.playing = undefined;
      this.emit('speaker-free');
    }
  }

  private async playOnce(job: Job): Promise<void> {
    const { player, speed = 1 } = this.options;
    if (player && job.file) {
      const [bin, ...args] = player.split(' ').map((p) => p.replace('{file}', job.file!));
      await new Promise<void>((resolve, reject) => {
        const child = spawn(bin, args, { stdio: 'ignore' });
        const onAbort = () => child.kill('SIGTERM');
        job.abort.signal.addEventListener('abort', onAbort, { once: true });
        child.on('error', reject);
        child.on('exit', (code) => {
          job.abort.signal.removeEventListener('abort', onAbort);
          if (job.abort.signal.aborted) reject(job.abort.signal.reason);
          else if (code === 0) resolve();
          else reject(new Error(`player exited with ${code}`));
        });
      });
      return;
    }
    await wait(speed > 0 ? job.cmd.clip.durationMs / speed : 0, undefined, {
      signal: job.abort.signal,
    });
  }

  private finish(job: Job, state: 'played' | 'failed' | 'rejected', reason?: string): void {
    job.state = state;
    this.report(job.cmd.deliveryId, state, reason);
  }

  /** Reports `played` for every play held by the `holdPlays` fault; returns how many. */
  confirmHeld(): number {
    const held = this.held;
    this.held = [];
    for (const job of held) if (job.state === 'received') this.finish(job, 'played');
    return held.length;
  }

  // ---- publishing ----

  private report(
    deliveryId: string,
    state: DeviceReportedState,
    reason?: string,
    progressPct?: number,
  ): void {
    const event: DeliveryEvent = {
      v: PROTOCOL_VERSION,
      type: 'delivery',
      id: this.nextId(),
      ts: this.now(),
      deliveryId,
      state,
      // The run it is about: a late event of an earlier one is then ignored by the server.
      resume: this.jobs.get(deliveryId)?.resume ?? 0,
    };
    if (reason) event.reason = reason;
    if (progressPct !== undefined) event.progressPct = progressPct;
    this.emit('delivery', deliveryId, state);
    // Protocol 1.1: the device vouches for the two events coverage rests on (section 9.6).
    const signed =
      this.ownKey && (state === 'playing' || state === 'played')
        ? signOwnMessage(event, this.ownKey)
        : event;
    this.publish('evt', signed);
  }

  private sendTelemetry(): void {
    const playing = this.playing
      ? { deliveryId: this.playing.cmd.deliveryId, broadcastId: this.playing.cmd.broadcastId }
      : null;
    this.publish('telemetry', {
      v: PROTOCOL_VERSION,
      type: 'telemetry',
      id: this.nextId(),
      ts: this.now(),
      volume: this.volume,
      signalDbm: -70,
      uptimeS: Math.floor((Date.now() - this.startedAt) / 1000),
      playing,
      ...(this.options.batteryPct !== undefined ? { batteryPct: this.options.batteryPct } : {}),
    });
  }

  private publish<K extends Exclude<TopicKind, 'cmd'>>(kind: K, message: MessagesByKind[K]): void {
    const client = this.client;
    if (!client) return;
    const qos = kind === 'telemetry' ? 0 : 1;
    // QoS 1 messages published while disconnected wait in mqtt.js and go out on reconnect.
    client.publish(this.topic(kind), encode(message), { qos }, (err) => {
      if (err && !this.stopped) this.log(`publish on ${kind} failed: ${err.message}`);
      // QoS 1: called on the PUBACK, when the server has taken the event and the device forgets it.
      else if (!err && message.type === 'delivery')
        this.emit('acknowledged', message.deliveryId, message.state);
    });
  }

  /** A fresh session id: a late Will of an older connection then cannot mark this one offline. */
  private newSession(): void {
    this.session = randomBytes(8).toString('hex');
  }

  private will() {
    return {
      topic: this.topic('state'),
      payload: encode(this.stateMessage('offline')),
      qos: 1 as const,
      retain: true,
    };
  }

  private stateMessage(status: 'online' | 'offline'): StateMessage {
    const msg: StateMessage = {
      v: PROTOCOL_VERSION,
      type: 'state',
      id: this.nextId(),
      ts: this.now(),
      status,
      session: this.session,
    };
    if (status === 'online') {
      msg.hello = {
        deviceType: this.options.deviceType ?? 'village_loudspeaker',
        firmware: this.options.firmware ?? 'dalaba-agent/0.1',
        codecs: this.faults.rejectCodec ? ['opus'] : ['mp3'],
        volume: this.volume,
        // The contract checks both algorithms; said only once there is a key to check with.
        ...(this.verifies ? { verifies: [...SIGNATURE_ALGORITHMS] } : {}),
        ...(this.ownKey ? { keyAlg: this.ownKey.alg, publicKey: this.ownKey.publicKey } : {}),
      };
    }
    return msg;
  }

  private topic(kind: TopicKind): string {
    return deviceTopic(this.prefix, this.options.id, kind);
  }

  private nextId(): string {
    return `${this.session || 'x'}-${++this.seq}`;
  }

  /** This device's clock: the `ts` of what it sends (the server only logs it). */
  private now(): number {
    return Date.now() + (this.faults.clockSkewMs ?? 0);
  }

  /** The server's clock as best known, for `notBefore` and `expiresAt`. */
  private serverNow(): number {
    return this.now() + this.serverOffsetMs;
  }

  private violation(description: string): void {
    this.violations.push(description);
    this.log(`protocol violation by the server: ${description}`);
    this.emit('violation', description);
  }

  private log(line: string): void {
    this.options.log?.(`${new Date().toISOString()} device=${this.options.id} ${line}`);
  }
}

/** Over for good: nothing (a stop, a power cut) changes it any more. A preempted one is not. */
function isFinished(state: LocalState): boolean {
  return ['played', 'failed', 'rejected', 'stopped'].includes(state);
}

function isReportable(state: LocalState): state is DeviceReportedState {
  return !['waiting', 'stopped', 'lost'].includes(state);
}

function levelRank(job: Job): number {
  return ['I', 'II', 'III', 'IV', 'routine', 'test'].indexOf(job.cmd.level);
}

function describeKeys(keys: ReadonlyMap<string, HeldKey>): string {
  return [...keys.values()]
    .map(
      (k) =>
        `${k.kid}${k.revoked ? ' (revoked)' : k.until ? ` (until ${new Date(k.until).toISOString()})` : ''}`,
    )
    .join(', ');
}

/** The state file, or undefined when there is none yet; a damaged one is an error, not a reset. */
function readState(file: string): PersistedState | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  const raw = JSON.parse(text) as Partial<PersistedState>;
  const keys = (Array.isArray(raw.keys) ? raw.keys : []).filter(
    (k): k is HeldKey =>
      typeof k?.kid === 'string' &&
      isSignatureAlgorithm(k.alg) &&
      typeof k.publicKey === 'string' &&
      keyIdOf(k.alg, k.publicKey) === k.kid,
  );
  if (!Number.isSafeInteger(raw.lastSeq) || (raw.lastSeq as number) < 0)
    throw new Error(`${file}: lastSeq is not a non-negative integer`);
  const dk = raw.deviceKey;
  return {
    lastSeq: raw.lastSeq as number,
    required: raw.required === true,
    keys,
    ...(dk && isSignatureAlgorithm(dk.alg) && typeof dk.privateKey === 'string'
      ? {
          deviceKey: {
            alg: dk.alg,
            privateKey: dk.privateKey,
            publicKey: publicKeyOf(dk.alg, dk.privateKey),
          },
        }
      : {}),
  };
}
