import { Injectable, Logger, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import { Observable, Subject } from 'rxjs';
import type { AppConfig } from '../config/app-config.js';
import { InjectConfig } from '../config/config.module.js';
import { Clock } from '../common/clock.js';
import { DomainError, NotFoundError } from '../common/domain-error.js';
import { Ticker } from '../common/ticker.js';
import {
  type AnnouncedKey,
  endorsementInput,
  generateKeyPair,
  keyIdOf,
  type SignatureAlgorithm,
  signBytes,
} from '../contract/signing.js';
import type { KeyStatus } from './signing.entity.js';
import type { SigningErrorCode } from './signing-errors.js';
import { ServerKeysRepository, StoredKey } from './server-keys.repository.js';

/** The key the server signs with, private half included: it never leaves the server. */
export interface ActiveKey {
  kid: string;
  alg: SignatureAlgorithm;
  publicKey: string;
  privateKey: string;
}

/** A key as listings show it: never the private half. */
export interface KeyInfo {
  kid: string;
  alg: SignatureAlgorithm;
  publicKey: string;
  /** `retired`: a retiring key whose overlap has ended (no longer announced nor accepted). */
  status: KeyStatus | 'retired';
  createdAt: number;
  /** Accepted by devices until then (a retiring key). */
  until: number | null;
  revokedAt: number | null;
  endorsedBy: string | null;
  endorsement: string | null;
}

/** What changed in the key set, seen by this server (its own change or another process's). */
export interface KeysChange {
  active: string;
  revoked: string[];
}

/**
 * How often the keys are read again from the database. A rotation or revocation is usually made
 * by `npm run cli -- keys …`, another process: a short poll of a table of a few rows is the
 * simplest way every server notices (no broker message or database notification to set up), and
 * until it does it keeps signing with a key devices still accept (the old one retires over
 * KEY_OVERLAP_H, not at once). A revocation reaches devices within this time.
 */
export const KEYS_REFRESH_MS = 10_000;
const REFRESH_JOB = 'server keys refresh';

/** At most this many keys and revoked ids in one announcement (the `keys` command's schema limits). */
const MAX_ANNOUNCED = 10;
const MAX_REVOKED = 100;
/**
 * The announced keys and revoked ids together stay under this many bytes of JSON, so the whole
 * signed `keys` command fits a device's 4 KiB payload limit (LIMITS.maxPayloadBytes) with room for
 * the envelope and signature fields. Ten SM2 keys and a hundred revoked ids would not: the oldest
 * revoked ids go first (devices told before remember them), then the oldest retiring keys.
 */
const MAX_ANNOUNCEMENT_BYTES = 3500;

/**
 * The server's signing keys (docs/operations.md, "Command signing and keys"): the first one is
 * made at first start, `rotate()` makes a new active key endorsed by the previous one, which
 * retires after KEY_OVERLAP_H; `revoke()` withdraws a key at once. Kept in memory, read again
 * every {@link KEYS_REFRESH_MS}; a change is published on {@link changes} so devices are told.
 */
@Injectable()
export class ServerKeys implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger('keys');
  private keys: StoredKey[] = [];
  private fingerprint = '';
  private loaded?: Promise<void>;
  /** Reads of the table, one at a time, so two refreshes never publish one change twice. */
  private reading: Promise<unknown> = Promise.resolve();
  private readonly changes$ = new Subject<KeysChange>();

  constructor(
    private readonly repo: ServerKeysRepository,
    private readonly ticker: Ticker,
    private readonly clock: Clock,
    @InjectConfig() private readonly config: AppConfig,
  ) {}

  /** A rotation or revocation, by this process or another one (seen at the next refresh). */
  get changes(): Observable<KeysChange> {
    return this.changes$.asObservable();
  }

  async onApplicationBootstrap(): Promise<void> {
    await this.ensureLoaded();
    const active = this.activeRow();
    if (active.alg !== this.config.signing.alg) {
      this.logger.warn(
        `COMMAND_SIGNING_ALG=${this.config.signing.alg} but the active key ${active.kid} is ${active.alg}: ` +
          'run `npm run cli -- keys rotate` to sign with the configured algorithm',
      );
    }
    this.ticker.every(REFRESH_JOB, KEYS_REFRESH_MS, () => this.refresh());
  }

  onModuleDestroy(): void {
    this.ticker.cancel(REFRESH_JOB);
    this.changes$.complete();
  }

  /** The key commands are signed with now. */
  async active(): Promise<ActiveKey> {
    if (!this.keys.length) await this.ensureLoaded();
    const { kid, alg, publicKey, privateKey } = this.activeRow();
    return { kid, alg, publicKey, privateKey };
  }

  /**
   * What a `keys` announcement (and a provisioning bundle) carries: the active key and the
   * retiring ones still in their overlap, newest first, with endorsements and `until`; and the
   * revoked key ids.
   */
  async published(): Promise<{ keys: AnnouncedKey[]; revoked: string[] }> {
    if (!this.keys.length) await this.ensureLoaded();
    return this.publishedNow();
  }

  /**
   * {@link published} from memory, at once (the keys are loaded): the signer fills a `keys`
   * command with it in the same step as it picks the signing key, so an announcement always
   * carries the key it is signed with, even when a rotation lands while it waits for its seq.
   */
  publishedNow(): { keys: AnnouncedKey[]; revoked: string[] } {
    const now = this.clock.now().getTime();
    const live = this.keys
      .filter((k) => k.status === 'active' || (k.status === 'retiring' && (k.retireAt ?? 0) > now))
      // The active key, then the retiring ones newest first: the newest are the links devices need.
      .sort((a, b) =>
        a.status === 'active' ? -1 : b.status === 'active' ? 1 : b.createdAt - a.createdAt,
      )
      .slice(0, MAX_ANNOUNCED);
    const keys = live.map((k) => {
      const entry: AnnouncedKey = { kid: k.kid, alg: k.alg, publicKey: k.publicKey };
      if (k.endorsedBy && k.endorsement) {
        entry.endorsedBy = k.endorsedBy;
        entry.endorsement = k.endorsement;
      }
      if (k.status === 'retiring' && k.retireAt !== null) entry.until = k.retireAt;
      return entry;
    });
    // A key past its overlap is announced as revoked too: a device without a clock cannot tell it
    // retired, and whoever still holds it must not sign or vouch for anything any more.
    const ended = (k: (typeof this.keys)[number]) => k.revokedAt ?? k.retireAt ?? 0;
    const revoked = this.keys
      .filter(
        (k) => k.status === 'revoked' || (k.status === 'retiring' && (k.retireAt ?? 0) <= now),
      )
      .sort((a, b) => ended(b) - ended(a))
      .slice(0, MAX_REVOKED)
      .map((k) => k.kid);
    while (Buffer.byteLength(JSON.stringify({ keys, revoked })) > MAX_ANNOUNCEMENT_BYTES) {
      if (revoked.length) revoked.pop();
      else if (keys.length > 1) keys.pop();
      else break;
    }
    return { keys, revoked };
  }

  /** Signs a document (a coverage certificate…) with the active key. */
  async signDocument(
    data: Buffer,
  ): Promise<{ kid: string; alg: SignatureAlgorithm; publicKey: string; sig: string }> {
    const key = await this.active();
    return {
      kid: key.kid,
      alg: key.alg,
      publicKey: key.publicKey,
      sig: signBytes(key.alg, key.privateKey, data),
    };
  }

  /**
   * A new active key of COMMAND_SIGNING_ALG, endorsed by the current one, which retires after
   * KEY_OVERLAP_H. Devices are told at once (this server) or at the next refresh (the others).
   */
  async rotate(): Promise<KeyInfo> {
    await this.refresh();
    const previous = this.activeRow();
    const now = this.clock.now().getTime();
    const next = this.newKey(now, previous);
    const retireAt = now + this.config.signing.keyOverlapMs;
    if (!(await this.repo.rotate(previous.kid, retireAt, next))) {
      await this.refresh();
      throw new DomainError<SigningErrorCode>(
        'conflict',
        'KEYS_CHANGED',
        `Key ${previous.kid} is no longer the active key (rotated meanwhile); list the keys and try again`,
      );
    }
    this.logger.log(
      `rotated: key=${next.kid} alg=${next.alg} is active; key=${previous.kid} retires at ${new Date(retireAt).toISOString()}`,
    );
    await this.refresh();
    return this.info(next, now);
  }

  /** Withdraws a retiring key at once; the active key must be rotated away first. */
  async revoke(kid: string): Promise<KeyInfo> {
    await this.refresh();
    const key = this.keys.find((k) => k.kid === kid);
    if (!key) throw new NotFoundError('key', kid);
    if (key.status === 'active') {
      throw new DomainError<SigningErrorCode>(
        'conflict',
        'KEY_IS_ACTIVE',
        `Key ${kid} is the active key: rotate first (npm run cli -- keys rotate), then revoke it`,
      );
    }
    if (key.status === 'revoked') {
      throw new DomainError<SigningErrorCode>(
        'conflict',
        'KEY_ALREADY_REVOKED',
        `Key ${kid} is already revoked`,
      );
    }
    const now = this.clock.now().getTime();
    if (!(await this.repo.revoke(kid, now))) {
      await this.refresh();
      throw new DomainError<SigningErrorCode>(
        'conflict',
        'KEYS_CHANGED',
        `Key ${kid} changed meanwhile; list the keys and try again`,
      );
    }
    this.logger.warn(`revoked: key=${kid}; devices are told with the next keys announcement`);
    await this.refresh();
    return this.info(
      this.keys.find((k) => k.kid === kid)!,
      now,
    );
  }

  /** Every key, oldest first, without private halves. */
  async list(): Promise<KeyInfo[]> {
    await this.refresh();
    const now = this.clock.now().getTime();
    return this.keys.map((k) => this.info(k, now));
  }

  /** Reads the keys again; publishes a change when another process rotated or revoked one. */
  refresh(): Promise<void> {
    const run = this.reading.then(() => this.read());
    this.reading = run.catch(() => undefined);
    return run;
  }

  private ensureLoaded(): Promise<void> {
    this.loaded ??= this.refresh().catch((err: unknown) => {
      this.loaded = undefined;
      throw err;
    });
    return this.loaded;
  }

  private async read(): Promise<void> {
    let rows = await this.repo.loadAll();
    if (!rows.some((k) => k.status === 'active')) {
      const first = this.newKey(this.clock.now().getTime());
      if (await this.repo.insertFirst(first)) {
        this.logger.log(`created the first command-signing key: key=${first.kid} alg=${first.alg}`);
      }
      rows = await this.repo.loadAll();
    }
    const fingerprint = rows
      .map((k) => `${k.kid}:${k.status}:${k.retireAt ?? ''}:${k.revokedAt ?? ''}`)
      .join(',');
    const changed = this.fingerprint !== '' && fingerprint !== this.fingerprint;
    this.keys = rows;
    this.fingerprint = fingerprint;
    if (changed) {
      this.changes$.next({
        active: this.activeRow().kid,
        revoked: rows.filter((k) => k.status === 'revoked').map((k) => k.kid),
      });
    }
  }

  private activeRow(): StoredKey {
    const active = this.keys.find((k) => k.status === 'active');
    if (!active) throw new Error('no active command-signing key loaded');
    return active;
  }

  private newKey(now: number, endorser?: StoredKey): StoredKey {
    const pair = generateKeyPair(this.config.signing.alg);
    const kid = keyIdOf(pair.alg, pair.publicKey);
    return {
      kid,
      alg: pair.alg,
      publicKey: pair.publicKey,
      privateKey: pair.privateKey,
      status: 'active',
      createdAt: now,
      retireAt: null,
      revokedAt: null,
      endorsedBy: endorser?.kid ?? null,
      endorsement: endorser
        ? signBytes(
            endorser.alg,
            endorser.privateKey,
            endorsementInput({ alg: pair.alg, kid, publicKey: pair.publicKey }),
          )
        : null,
    };
  }

  private info(k: StoredKey, now: number): KeyInfo {
    return {
      kid: k.kid,
      alg: k.alg,
      publicKey: k.publicKey,
      status: k.status === 'retiring' && (k.retireAt ?? 0) <= now ? 'retired' : k.status,
      createdAt: k.createdAt,
      until: k.status === 'retiring' ? k.retireAt : null,
      revokedAt: k.revokedAt,
      endorsedBy: k.endorsedBy,
      endorsement: k.endorsement,
    };
  }
}
