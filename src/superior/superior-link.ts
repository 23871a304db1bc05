import { Injectable, Logger, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import { Counter } from 'prom-client';
import { randomBytes, randomUUID } from 'node:crypto';
import type { Subscription } from 'rxjs';
import { BroadcastEvents } from '../broadcasts/broadcast-events.js';
import { boundedFetch, FetchFailed } from '../common/bounded-fetch.js';
import { Clock } from '../common/clock.js';
import { ReadinessChecks } from '../common/readiness-checks.js';
import { Ticker } from '../common/ticker.js';
import type { AppConfig } from '../config/app-config.js';
import { InjectConfig } from '../config/config.module.js';
import { DevicesService } from '../devices/devices.service.js';
import { PresenceService } from '../devices/presence.service.js';
import { MetricsService } from '../metrics/metrics.service.js';
import { GytReports } from '../reports/gyt-reports.js';
import { ServerKeys } from '../signing/server-keys.js';
import { signBytes } from '../contract/signing.js';
import { type Page, pageWindow } from '../common/pagination.js';
import {
  type SuperiorPackageDto,
  type SuperiorPackageQuery,
  toSuperiorPackageDto,
} from './dto/superior.dto.js';
import {
  beijingTime,
  EBD_TYPES,
  ebdXml,
  type EbdHeader,
  type EbdSigner,
  heartbeatXml,
  makeEbdId,
  packageFileName,
  packEbdb,
  PackageRefusal,
  parsePackage,
  readResponse,
  RESULT_CODES,
  verifyPackage,
} from './ebd-package.js';
import type { SuperiorPackageEntity } from './superior-package.entity.js';
import { SuperiorPackagesRepository } from './superior-packages.repository.js';

/** The link's job on the {@link Ticker}: heartbeat when due, then the outbox. */
const LINK_JOB = 'superior link';
const TICK_MS = 1000;
/** Back-off after a failed attempt: 1 s doubling to 10 min, each wait jittered down to half. */
export const RETRY_MIN_MS = 1000;
export const RETRY_MAX_MS = 600_000;
/** Packages sent per tick at most; the rest wait for the next one. */
const BATCH = 50;
/** A claimed package is someone's for this long; a crash mid-send frees it after. */
const LEASE_MS = 120_000;
const SEND_TIMEOUT_MS = 30_000;
/** A receipt is a few hundred bytes; anything near this is not one. */
const RECEIPT_MAX_BYTES = 1024 * 1024;
/**
 * A package the superior keeps not taking is given up (status `failed`, the last reason kept)
 * after this many attempts made while its heartbeats are answered (the superior is up, so it is
 * this package), or once it is this old whatever the link did, so the others go on.
 */
export const GIVE_UP_ATTEMPTS = 10;
export const GIVE_UP_AGE_MS = 72 * 3_600_000;
/** Finished packages (sent, failed, received) are deleted this long after their last change. */
export const KEEP_MS = 90 * 24 * 3_600_000;
const SWEEP_EVERY_MS = 3_600_000;
/** Broadcast statuses after which its state is final and reported up. */
const ENDED = new Set(['completed', 'cancelled', 'expired']);

/** What an attempt came to. */
type Outcome =
  | { kind: 'sent'; receipt: Buffer; code: string }
  | { kind: 'refused'; receipt: Buffer | null; code: string | null; why: string }
  | { kind: 'retry'; why: string };

/** The link as the status route and readiness show it. */
export interface LinkStatus {
  enabled: boolean;
  url: string | null;
  ebrId: string | null;
  superiorEbrId: string | null;
  signature: string | null;
  /** The key packages are signed with now (what the superior verifies). */
  kid: string | null;
  publicKey: string | null;
  /** Why nothing can be signed now (the active key's algorithm is not SUPERIOR_SIGNATURE). */
  keyProblem: string | null;
  up: boolean;
  lastHeartbeatAt: number | null;
  lastHeartbeatOk: boolean | null;
  lastError: string | null;
  retryAt: number | null;
  pending: number;
  /** Outgoing packages that failed (given up, or refused by the superior), kept 90 days. */
  failed: number;
  refusedInbound: number;
}

/** `i`-th wait (1-based) of the back-off: exponential, capped, jittered to [half, whole]. */
export function retryDelayMs(failures: number, random: () => number = Math.random): number {
  const whole = Math.min(RETRY_MAX_MS, RETRY_MIN_MS * 2 ** Math.max(0, failures - 1));
  return Math.round(whole / 2 + (whole / 2) * random());
}

/**
 * The live link to the superior platform (docs/superior.md): queues an EBMStateResponse when a
 * broadcast ends and an EBRDTState when devices go online or offline, sends them signed in order
 * with the receipt kept, backs off while the superior is down (the table is the outbox, so a
 * restart loses nothing), and sends the ConnectionCheck heartbeat. Off without SUPERIOR_URL.
 */
@Injectable()
export class SuperiorLink implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger('superior');
  private readonly subscriptions: Subscription[] = [];
  /** Devices whose online state changed since the last terminal-state package. */
  private readonly changedDevices = new Set<string>();
  /** Enqueues under way: a tick waits for them, so a test's tick sees what was just queued. */
  private readonly enqueuing = new Set<Promise<unknown>>();
  private running: Promise<void> | null = null;
  private failures = 0;
  private retryAt: number | null = null;
  private lastError: string | null = null;
  private lastHeartbeatAt: number | null = null;
  private lastHeartbeatOk: boolean | null = null;
  private nextHeartbeatAt = 0;
  private nextSweepAt = 0;
  private sequence = 0n;
  private refusedInbound = 0;
  private counter?: Counter<'direction' | 'result'>;

  constructor(
    private readonly repo: SuperiorPackagesRepository,
    private readonly keys: ServerKeys,
    private readonly reports: GytReports,
    private readonly broadcastEvents: BroadcastEvents,
    private readonly presence: PresenceService,
    private readonly devices: DevicesService,
    private readonly ticker: Ticker,
    private readonly readiness: ReadinessChecks,
    private readonly metrics: MetricsService,
    private readonly clock: Clock,
    @InjectConfig() private readonly config: AppConfig,
  ) {}

  get enabled(): boolean {
    return this.config.superior.url !== undefined;
  }

  onApplicationBootstrap(): void {
    if (!this.enabled) return;
    const s = this.config.superior;
    this.counter = new Counter({
      name: 'dalaba_superior_packages_total',
      help: 'Packages exchanged with the superior platform, by direction (out, in) and result: sent, refused (by the superior), retry (out); received, refused (bad signature or address), unreadable (in)',
      labelNames: ['direction', 'result'] as const,
      registers: [this.metrics.registry],
    });
    // Time-based and random: two servers sharing the table, or a restart, never make one EBDID twice.
    this.sequence =
      BigInt(this.clock.now().getTime()) * 1000n + BigInt(randomBytes(2).readUInt16BE() % 1000);
    this.subscriptions.push(
      this.broadcastEvents.changes.subscribe((c) => {
        if (c.kind === 'broadcast' && ENDED.has(c.status))
          this.track(this.enqueue(EBD_TYPES.stateResponse, c.broadcastId, ''));
      }),
      this.presence.changes.subscribe((c) => this.changedDevices.add(c.deviceId)),
    );
    this.readiness.register('superior', () => this.check(), { critical: false });
    this.ticker.every(LINK_JOB, TICK_MS, (at) => this.tick(at));
    this.logger.log(
      `link on: ebr=${s.ebrId} superior=${s.superiorEbrId} signature=${s.signature} heartbeat=${s.heartbeatMs / 1000}s`,
    );
  }

  onModuleDestroy(): void {
    this.ticker.cancel(LINK_JOB);
    for (const s of this.subscriptions) s.unsubscribe();
  }

  /** The next EBDID of a package from this platform. */
  nextEbdId(): string {
    this.sequence += 1n;
    return makeEbdId(this.config.superior.ebrId, this.sequence);
  }

  /** The server's active key as a package signer, or why it cannot sign for the superior. */
  async signer(): Promise<EbdSigner | string> {
    const key = await this.keys.active();
    if (key.alg !== this.config.superior.signature) {
      return (
        `the active signing key ${key.kid} is ${key.alg}, the superior expects ${this.config.superior.signature}: ` +
        'run `npm run cli -- keys rotate` (COMMAND_SIGNING_ALG is already set to it)'
      );
    }
    return {
      alg: key.alg,
      kid: key.kid,
      sign: (data) => signBytes(key.alg, key.privateKey, data),
    };
  }

  /** The header of a package to the superior. */
  header(type: string, relatedEbdId: string | null = null, destEbrId?: string): EbdHeader {
    return {
      ebdId: this.nextEbdId(),
      type,
      srcEbrId: this.config.superior.ebrId,
      destEbrId: destEbrId ?? this.config.superior.superiorEbrId,
      time: beijingTime(this.clock.now().getTime()),
      relatedEbdId,
    };
  }

  /** An inbound package refused (bad signature, wrong address, unreadable): counted for the status. */
  countInbound(result: 'received' | 'refused' | 'unreadable'): void {
    if (result !== 'received') this.refusedInbound += 1;
    this.counter?.inc({ direction: 'in', result });
  }

  /** The packages exchanged, newest first, with their receipts. */
  async list(q: SuperiorPackageQuery): Promise<Page<SuperiorPackageDto>> {
    const { limit, offset } = pageWindow(q);
    const [rows, total] = await this.repo.list(
      { direction: q.direction, status: q.status, type: q.type },
      limit,
      offset,
    );
    return { items: rows.map(toSuperiorPackageDto), total, limit, offset };
  }

  async status(): Promise<LinkStatus> {
    if (!this.enabled) {
      return {
        enabled: false,
        url: null,
        ebrId: null,
        superiorEbrId: null,
        signature: null,
        kid: null,
        publicKey: null,
        keyProblem: null,
        up: false,
        lastHeartbeatAt: null,
        lastHeartbeatOk: null,
        lastError: null,
        retryAt: null,
        pending: 0,
        failed: 0,
        refusedInbound: 0,
      };
    }
    const s = this.config.superior;
    const key = await this.keys.active();
    const signer = await this.signer();
    const url = new URL(s.url!);
    return {
      enabled: true,
      // Never the credentials a URL may carry.
      url: `${url.origin}${url.pathname}`,
      ebrId: s.ebrId,
      superiorEbrId: s.superiorEbrId,
      signature: s.signature,
      kid: key.kid,
      publicKey: key.publicKey,
      keyProblem: typeof signer === 'string' ? signer : null,
      up: this.failures === 0 && this.lastHeartbeatOk !== false,
      lastHeartbeatAt: this.lastHeartbeatAt,
      lastHeartbeatOk: this.lastHeartbeatOk,
      lastError: this.lastError,
      retryAt: this.retryAt,
      pending: await this.repo.countPending(),
      failed: await this.repo.countFailed(),
      refusedInbound: this.refusedInbound,
    };
  }

  /**
   * One round: the terminal states changed since the last one, the heartbeat when due, the due
   * packages. Rounds never overlap; a second caller waits for the one under way and runs after.
   */
  async tick(at?: Date): Promise<void> {
    while (this.running) await this.running;
    const run = this.round((at ?? this.clock.now()).getTime());
    this.running = run.finally(() => {
      this.running = null;
    });
    return this.running;
  }

  private async round(now: number): Promise<void> {
    await Promise.all(this.enqueuing);
    await this.queueTerminalStates(now);
    if (now >= this.nextSweepAt) await this.sweep(now);
    if (now >= this.nextHeartbeatAt) await this.heartbeat(now);
    if (this.retryAt !== null && now < this.retryAt) return;
    for (const row of await this.repo.due(now, BATCH)) {
      if (!(await this.repo.claim(row, now + LEASE_MS))) continue;
      if (!(await this.attempt(row, now))) break;
    }
  }

  private async sweep(now: number): Promise<void> {
    this.nextSweepAt = now + SWEEP_EVERY_MS;
    const n = await this.repo.sweep(now - KEEP_MS);
    if (n) this.logger.log(`swept ${n} packages finished over ${KEEP_MS / 86_400_000} days ago`);
  }

  private track(p: Promise<unknown>): void {
    const tracked = p
      .catch((err: Error) => this.logger.error(`queueing failed: ${err.stack ?? err.message}`))
      .finally(() => this.enqueuing.delete(tracked));
    this.enqueuing.add(tracked);
  }

  /**
   * A package in the outbox. `ebdb` may be empty: an EBMStateResponse is written at its first
   * attempt, when the broadcast's coverage is final, and kept as written for the retries.
   */
  async enqueue(type: string, subject: string | null, ebdb: string): Promise<string> {
    return this.queue(this.header(type), subject, ebdb);
  }

  /**
   * A report the superior asked for (an EBMStateRequest, an OMDRequest): written now, as things
   * are, naming the request as its RelatedEBD, and sent through the outbox like every package.
   */
  async enqueueAnswer(
    type: string,
    subject: string | null,
    body: string,
    requestEbdId: string,
  ): Promise<string> {
    const header = this.header(type, requestEbdId);
    return this.queue(header, subject, ebdXml(header, stripDeclaration(body)));
  }

  private async queue(header: EbdHeader, subject: string | null, ebdb: string): Promise<string> {
    const now = this.clock.now().getTime();
    const type = header.type;
    await this.repo.insert({
      id: randomUUID(),
      ebdId: header.ebdId,
      direction: 'out',
      type,
      subject,
      status: 'pending',
      body: ebdb,
      attempts: 0,
      nextAttemptAt: this.retryAt !== null && this.retryAt > now ? this.retryAt : now,
      lastError: null,
      receipt: null,
      resultCode: null,
      createdAt: now,
      updatedAt: now,
    });
    this.logger.log(`queued: ebd=${header.ebdId} type=${type} subject=${subject ?? '-'}`);
    return header.ebdId;
  }

  /**
   * The changed devices' states as one EBRDTState package. While one is still waiting, never
   * attempted, it is rewritten with the union of its devices and these (their states now)
   * rather than a package added per round: an outage queues one terminal-state package, not one
   * a second.
   */
  private async queueTerminalStates(now: number): Promise<void> {
    if (!this.changedDevices.size) return;
    const ids = [...this.changedDevices];
    this.changedDevices.clear();
    try {
      const newest = await this.repo.unattempted(EBD_TYPES.terminalState);
      // An answer to the superior's own request names it (RelatedEBD): never folded into.
      const waiting = newest && !newest.body.includes('<RelatedEBD>') ? newest : null;
      // Its terminals are named by EBRID, a device's resource code where it has one.
      const earlier = waiting ? await this.devices.idsOfTerminals(devicesIn(waiting.body)) : [];
      const all = [...new Set([...earlier, ...ids])];
      const body = stripDeclaration(
        await this.reports.terminalStates(all, { goneAsOffline: true }),
      );
      const subject = all.length === 1 ? all[0] : `${all.length} devices`;
      if (waiting) {
        const ebdb = ebdXml(
          { ...this.header(EBD_TYPES.terminalState), ebdId: waiting.ebdId },
          body,
        );
        if (await this.repo.rewrite(waiting, { body: ebdb, subject, updatedAt: now })) return;
      }
      const header = this.header(EBD_TYPES.terminalState);
      await this.repo.insert({
        id: randomUUID(),
        ebdId: header.ebdId,
        direction: 'out',
        type: header.type,
        subject,
        status: 'pending',
        body: ebdXml(header, body),
        attempts: 0,
        nextAttemptAt: now,
        lastError: null,
        receipt: null,
        resultCode: null,
        createdAt: now,
        updatedAt: now,
      });
    } catch (err) {
      // Not lost: the next round tries these devices again (with whatever changed meanwhile). A
      // device deleted since is no such error: it goes up as offline.
      for (const id of ids) this.changedDevices.add(id);
      this.logger.error(`terminal states not queued: ${(err as Error).message}`);
    }
  }

  private async heartbeat(now: number): Promise<void> {
    this.nextHeartbeatAt = now + this.config.superior.heartbeatMs;
    this.lastHeartbeatAt = now;
    const header = this.header(EBD_TYPES.heartbeat);
    const outcome = await this.post(header.ebdId, ebdXml(header, heartbeatXml(now)), now);
    this.lastHeartbeatOk = outcome.kind === 'sent';
    this.counter?.inc({ direction: 'out', result: outcome.kind });
    if (outcome.kind === 'sent') {
      // The superior answers: the link-level wait ends. Each package keeps its own back-off (one
      // it keeps refusing must not be retried every heartbeat), and rows another server has
      // claimed stay claimed.
      if (this.failures > 0) this.logger.log('superior answers again: resuming the outbox');
      this.failures = 0;
      this.retryAt = null;
    } else {
      this.lastError = `heartbeat: ${outcome.why}`;
      this.logger.warn(`heartbeat failed: ebd=${header.ebdId} ${outcome.why}`);
    }
  }

  /** One attempt at a claimed package; false when the link is down (stop this round). */
  private async attempt(row: SuperiorPackageEntity, now: number): Promise<boolean> {
    try {
      if (row.body === '') {
        const body = stripDeclaration(await this.reports.ebmStateResponse(row.subject!));
        row.body = ebdXml({ ...this.header(row.type), ebdId: row.ebdId }, body);
        await this.repo.update(row.id, { body: row.body, updatedAt: now });
      }
    } catch (err) {
      // The report could not be written (yet): this package waits, the others go on.
      const why = `report not written: ${(err as Error).message}`.slice(0, 500);
      await this.repo.update(row.id, {
        attempts: row.attempts + 1,
        nextAttemptAt: now + retryDelayMs(row.attempts + 1),
        lastError: why,
        updatedAt: now,
      });
      this.logger.error(`ebd=${row.ebdId} ${why}`);
      return true;
    }
    const outcome = await this.post(row.ebdId, row.body, now);
    this.counter?.inc({ direction: 'out', result: outcome.kind });
    if (outcome.kind === 'retry') {
      // Two waits: the link's (this round stops, the next after it; a heartbeat answered ends
      // it) and the package's own, from its attempts (kept in the table: a restart keeps it).
      this.failures += 1;
      this.retryAt = now + retryDelayMs(this.failures);
      this.lastError = outcome.why;
      const attempts = row.attempts + 1;
      const giveUp =
        (attempts >= GIVE_UP_ATTEMPTS && this.lastHeartbeatOk === true) ||
        now - row.createdAt >= GIVE_UP_AGE_MS;
      const retryAt = now + retryDelayMs(attempts);
      await this.repo.update(row.id, {
        status: giveUp ? 'failed' : 'pending',
        attempts,
        nextAttemptAt: giveUp ? null : retryAt,
        lastError: (giveUp
          ? `gave up after ${attempts} attempts: ${outcome.why}`
          : outcome.why
        ).slice(0, 500),
        updatedAt: now,
      });
      if (giveUp)
        this.logger.error(
          `given up: ebd=${row.ebdId} type=${row.type} attempts=${attempts} ${outcome.why}`,
        );
      else
        this.logger.warn(
          `not delivered: ebd=${row.ebdId} type=${row.type} attempt=${attempts} ${outcome.why}; retry at ${new Date(retryAt).toISOString()}`,
        );
      return false;
    }
    this.failures = 0;
    this.retryAt = null;
    this.lastError = outcome.kind === 'refused' ? outcome.why : null;
    await this.repo.update(row.id, {
      status: outcome.kind === 'sent' ? 'sent' : 'failed',
      attempts: row.attempts + 1,
      nextAttemptAt: null,
      lastError: outcome.kind === 'refused' ? outcome.why.slice(0, 500) : null,
      receipt: outcome.receipt?.toString('base64') ?? null,
      resultCode: outcome.code,
      updatedAt: now,
    });
    if (outcome.kind === 'sent')
      this.logger.log(`delivered: ebd=${row.ebdId} type=${row.type} result=${outcome.code}`);
    else this.logger.warn(`refused by the superior: ebd=${row.ebdId} ${outcome.why}`);
    return true;
  }

  /** Signs and POSTs one package (its EBDB as written); reads and checks the receipt. */
  private async post(ebdId: string, ebdb: string, now: number): Promise<Outcome> {
    const signer = await this.signer();
    if (typeof signer === 'string') return { kind: 'retry', why: signer };
    const tar = packEbdb(ebdId, ebdb, signer, now);
    const boundary = `----dalaba${randomBytes(12).toString('hex')}`;
    const body = Buffer.concat([
      Buffer.from(
        `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${packageFileName(ebdId)}"\r\n` +
          'Content-Type: application/x-tar\r\n\r\n',
      ),
      tar,
      Buffer.from(`\r\n--${boundary}--\r\n`),
    ]);
    let res;
    try {
      res = await boundedFetch(this.config.superior.url!, {
        method: 'POST',
        body,
        headers: { 'content-type': `multipart/form-data; boundary=${boundary}` },
        maxBytes: RECEIPT_MAX_BYTES,
        timeoutMs: SEND_TIMEOUT_MS,
      });
    } catch (err) {
      return { kind: 'retry', why: err instanceof FetchFailed ? err.message : String(err) };
    }
    if (res.status < 200 || res.status > 299) {
      // The superior refused this package itself; anything else (down, overloaded, moved,
      // misconfigured credentials) is the link's problem and worth another try.
      if ([400, 413, 415, 422].includes(res.status))
        return { kind: 'refused', receipt: null, code: null, why: `HTTP ${res.status}` };
      return { kind: 'retry', why: `HTTP ${res.status}` };
    }
    try {
      const receipt = parsePackage(res.body);
      const bad = verifyPackage(
        receipt,
        this.config.superior.signature,
        this.config.superior.publicKey,
      );
      if (bad) return { kind: 'retry', why: `receipt not trusted: ${bad}` };
      if (receipt.header.relatedEbdId !== ebdId)
        return {
          kind: 'retry',
          why: `receipt for EBD ${receipt.header.relatedEbdId ?? '(none)'}, not ${ebdId}`,
        };
      const { code, desc } = readResponse(receipt);
      if (code === RESULT_CODES.ok.code) return { kind: 'sent', receipt: res.body, code };
      return {
        kind: 'refused',
        receipt: res.body,
        code,
        why: `result ${code}${desc ? ` ${desc}` : ''}`,
      };
    } catch (err) {
      const why = err instanceof PackageRefusal ? err.message : String(err);
      return { kind: 'retry', why: `no readable receipt: ${why}` };
    }
  }

  private async check(): Promise<void> {
    const signer = await this.signer();
    if (typeof signer === 'string') throw new Error(signer);
    if (this.failures > 0 || this.lastHeartbeatOk === false)
      throw new Error(`superior unreachable: ${this.lastError ?? 'unknown error'}`);
  }
}

/** A report's element without the XML declaration it may start with (it goes inside `<EBD>`). */
function stripDeclaration(xml: string): string {
  return xml.replace(/^\uFEFF?\s*<\?xml[^>]*\?>\s*/, '').trim();
}

/** The EBRIDs of the devices in an EBRDTState package written by {@link SuperiorLink}. */
function devicesIn(ebdb: string): string[] {
  return [
    ...ebdb.matchAll(/<EBRDT>\s*(?:<RptTime>[^<]*<\/RptTime>\s*)?<EBRID>([^<]+)<\/EBRID>/g),
  ].map((m) => m[1]);
}
