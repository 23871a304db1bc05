import { Injectable, Logger, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import { AddressPolicy, boundedFetch, FetchFailed } from '../../common/bounded-fetch.js';
import { Clock } from '../../common/clock.js';
import { DomainError, NotFoundError } from '../../common/domain-error.js';
import { redactUrl } from '../../common/redact-url.js';
import { Ticker } from '../../common/ticker.js';
import { isoTime } from '../../common/time.js';
import type { AppConfig } from '../../config/app-config.js';
import { InjectConfig } from '../../config/config.module.js';
import type { AlertFeedEntity } from '../alert.entity.js';
import { AlertsService } from '../alerts.service.js';
import { CapRefusal } from '../cap/cap-model.js';
import { toFeedDto, type FeedEntryResultDto, type FeedPollDto } from './dto/feed.dto.js';
import { nextPollDelayMs } from './feed-backoff.js';
import { XmlPool } from '../xml-pool.js';
import { FeedEntry, FeedUnreadable, pointsInward } from './feed-parser.js';
import { FeedsRepository } from './feeds.repository.js';

/** How often due feeds are looked for; each feed's own interval (≥ 10 s) decides when it is due. */
export const FEED_TICK_MS = 5_000;
/**
 * A feed document larger than this is refused: a feed of a few hundred CAP entries fits, and the
 * synchronous parse of what fits stays short (safe-xml's MAX_XML_ELEMENTS).
 */
export const FEED_MAX_BYTES = 1024 * 1024;
/** Deadline of each request: the feed, and each linked CAP message. */
export const FEED_FETCH_TIMEOUT_MS = 20_000;
/**
 * How long a claimed poll keeps the feed from other servers; longer than any poll takes, and what
 * a server that died mid-poll delays the feed by.
 */
export const POLL_LEASE_MS = 15 * 60_000;
/**
 * Entry ids remembered per feed, at least: a feed listing more is remembered at twice its length,
 * so none of what it lists is forgotten and fetched again.
 */
export const REMEMBERED_ENTRIES = 1_000;
/**
 * New entries handled per poll: the newest this many (oldest of them first); the rest are handled
 * at the next polls, so a feed of thousands of new entries does not make one poll of hours.
 */
export const ENTRIES_PER_POLL = 50;
/** Feeds polled at most per tick (in parallel); the rest are still due at the next tick. */
const FEEDS_PER_TICK = 50;

/** Says who asks, so a publisher can tell Dalaba's polls from anyone else's. */
const USER_AGENT = 'Dalaba-CAP-feed-reader/1 (county emergency broadcasting)';
const FEED_ACCEPT =
  'application/atom+xml, application/rss+xml;q=0.9, application/xml;q=0.8, text/xml;q=0.8, */*;q=0.1';
const CAP_ACCEPT = 'application/cap+xml, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.1';

/** One entry's fate, and whether to skip it from now on (false: try it again next poll). */
interface Handled {
  result: FeedEntryResultDto;
  remember: boolean;
}

/**
 * Polls the configured CAP feeds (Atom or RSS 2.0 of CAP entries) and hands each new entry's CAP
 * message to the intake, as the API would. A conditional GET (If-None-Match / If-Modified-Since)
 * makes an unchanged feed cost one 304; a failing feed backs off (interval × 2^failures, ≤ 1 h).
 * Each feed is polled by one server at a time (a lease on `next_poll_at`) and once at a time here;
 * a slow feed holds up no other feed. A refusal or a duplicate is the intake's answer about one
 * message, not a fault of the feed.
 */
@Injectable()
export class CapFeedsService implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger('alert-feeds');
  /** Polls under way on this server, by feed: a second request for one joins it. */
  private readonly polling = new Map<string, Promise<FeedPollDto>>();
  /**
   * Entries already handled, by feed: id → its `updated`, oldest first. Lost on restart, which
   * costs a fetch per entry once; the intake answers those as duplicates.
   */
  private readonly seen = new Map<string, Map<string, string>>();

  constructor(
    private readonly repo: FeedsRepository,
    private readonly alerts: AlertsService,
    private readonly clock: Clock,
    private readonly ticker: Ticker,
    private readonly xml: XmlPool,
    @InjectConfig() private readonly config: AppConfig,
  ) {}

  onApplicationBootstrap(): void {
    this.ticker.every('alert feeds', FEED_TICK_MS, (at) => this.tick(at));
  }

  onModuleDestroy(): void {
    this.ticker.cancel('alert feeds');
  }

  /**
   * Polls one feed now, whether due or not (even disabled: an admin trying it out), and answers
   * what it found. A poll of it already under way here is joined rather than doubled; one under
   * way on another server is not waited for (the intake answers its messages as duplicates).
   */
  async pollNow(id: string): Promise<FeedPollDto> {
    const running = this.polling.get(id);
    if (running) {
      this.logger.log(`feed=${id} poll requested while one is under way: joining it`);
      return running;
    }
    const row = await this.found(id);
    // The lease keeps the other servers' ticks off it while it runs.
    await this.repo.update(id, { nextPollAt: this.clock.now().getTime() + POLL_LEASE_MS });
    return this.polling.get(id) ?? this.poll(row);
  }

  /**
   * Claims and polls every due feed, in parallel, and resolves once they are all done (the test's
   * tick waits for them; the server's timer does not wait for one tick before the next, and a
   * feed still being polled is skipped).
   */
  async tick(at: Date = this.clock.now()): Promise<void> {
    const now = at.getTime();
    const due = (await this.repo.due(now, FEEDS_PER_TICK)).filter((f) => !this.polling.has(f.id));
    await Promise.all(
      due.map(async (f) => {
        try {
          if (await this.repo.claim(f.id, f.nextPollAt, now + POLL_LEASE_MS)) await this.poll(f);
        } catch (err) {
          // The feed's lease runs out and it is polled again: a database hiccup loses nothing.
          this.logger.error(`feed=${f.id} poll crashed: ${(err as Error).stack ?? err}`);
        }
      }),
    );
  }

  private poll(feed: AlertFeedEntity): Promise<FeedPollDto> {
    const run = this.runPoll(feed).finally(() => this.polling.delete(feed.id));
    this.polling.set(feed.id, run);
    return run;
  }

  private async runPoll(feed: AlertFeedEntity): Promise<FeedPollDto> {
    const headers: Record<string, string> = { Accept: FEED_ACCEPT, 'User-Agent': USER_AGENT };
    if (feed.etag) headers['If-None-Match'] = feed.etag;
    if (feed.lastModified) headers['If-Modified-Since'] = feed.lastModified;
    let status: number | null = null;
    try {
      const res = await boundedFetch(feed.url, {
        maxBytes: FEED_MAX_BYTES,
        timeoutMs: FEED_FETCH_TIMEOUT_MS,
        headers,
        addresses: this.addresses(),
      });
      status = res.status;
      if (res.status === 304) return await this.finish(feed, { status, entries: [], seen: 0 });
      if (res.status < 200 || res.status > 299)
        throw new FeedUnreadable(`the feed answered HTTP ${res.status}`);
      const parsed = await this.xml.parseFeed(res.body, {
        maxBytes: FEED_MAX_BYTES,
        baseUrl: feed.url,
        contentType: res.headers.get('content-type'),
      });
      const { results, seen, deferred } = await this.handleEntries(feed, parsed.entries);
      return await this.finish(feed, {
        status,
        entries: results,
        seen,
        deferred,
        total: parsed.entries.length,
        etag: res.headers.get('etag'),
        lastModified: res.headers.get('last-modified'),
      });
    } catch (err) {
      return this.fail(feed, status, describe(err));
    }
  }

  /** Each entry not handled before, oldest first: an Update must find the Alert it replaces. */
  private async handleEntries(
    feed: AlertFeedEntity,
    entries: FeedEntry[],
  ): Promise<{ results: FeedEntryResultDto[]; seen: number; deferred: number }> {
    const memory = this.seen.get(feed.id) ?? new Map<string, string>();
    this.seen.set(feed.id, memory);
    const limit = Math.max(REMEMBERED_ENTRIES, 2 * entries.length);
    const fresh = entries.filter((e) => !e.id || memory.get(e.id) !== e.updated);
    const now = oldestFirst(fresh).slice(-ENTRIES_PER_POLL);
    const results: FeedEntryResultDto[] = [];
    for (const entry of now) {
      const handled = await this.handleEntry(feed, entry);
      results.push(handled.result);
      if (handled.remember && entry.id) {
        memory.delete(entry.id);
        memory.set(entry.id, entry.updated);
        while (memory.size > limit) memory.delete(memory.keys().next().value!);
      }
    }
    return { results, seen: entries.length - fresh.length, deferred: fresh.length - now.length };
  }

  private async handleEntry(feed: AlertFeedEntity, entry: FeedEntry): Promise<Handled> {
    const result: FeedEntryResultDto = {
      id: entry.id,
      result: 'no-cap',
      url: entry.capUrl,
      alertId: null,
      outcome: null,
      rule: null,
      reason: null,
    };
    let xml: Buffer;
    if (entry.inlineCap !== null) xml = Buffer.from(entry.inlineCap, 'utf8');
    else if (entry.capUrl !== null) {
      const fetched = pointsInward(entry.capUrl, feed.url)
        ? {
            error: `${redactUrl(entry.capUrl)} points into this server's own network`,
            permanent: true,
          }
        : await this.fetchCap(entry.capUrl);
      if ('error' in fetched) {
        this.logger.warn(`feed=${feed.id} entry=${JSON.stringify(entry.id)}: ${fetched.error}`);
        return {
          result: { ...result, result: 'error', reason: fetched.error },
          remember: fetched.permanent,
        };
      }
      xml = fetched.body;
    } else return { result, remember: true };
    try {
      const alert = await this.alerts.receive(xml, {
        source: 'feed',
        ref: feed.id,
        by: `feed:${feed.name}`,
      });
      const refused = alert.outcome === 'refused';
      return {
        result: {
          ...result,
          result: refused ? 'refused' : 'alert',
          alertId: alert.id,
          outcome: alert.outcome,
          rule: alert.rule,
          reason: alert.reason,
        },
        // A failed one (TTS down...) is tried again at the next poll, as the intake allows.
        remember: alert.outcome !== 'failed',
      };
    } catch (err) {
      // The intake's refusal (400/422, recorded in the inbox) is its answer about this message;
      // anything else (it could not store it) is tried again at the next poll.
      if (err instanceof DomainError && err.status < 500) {
        const { rule, alertId } = (err.details ?? {}) as { rule?: unknown; alertId?: unknown };
        return {
          result: {
            ...result,
            result: 'refused',
            alertId: typeof alertId === 'string' ? alertId : null,
            outcome: 'refused',
            rule: typeof rule === 'string' ? rule : err.code,
            reason: err.message,
          },
          remember: true,
        };
      }
      this.logger.error(
        `feed=${feed.id} entry=${JSON.stringify(entry.id)}: the intake failed: ${(err as Error).message}`,
      );
      return {
        result: { ...result, result: 'error', reason: `intake: ${(err as Error).message}` },
        remember: false,
      };
    }
  }

  /** A linked CAP message; a failure says whether trying again could help. */
  private async fetchCap(
    url: string,
  ): Promise<{ body: Buffer } | { error: string; permanent: boolean }> {
    // A link's query string may hold the publisher's key: the error is logged and stored.
    const shown = redactUrl(url);
    try {
      const res = await boundedFetch(url, {
        // The intake's own limit (ALERT_MAX_BYTES): a larger message would only be refused.
        maxBytes: this.config.alerts.maxBytes,
        timeoutMs: FEED_FETCH_TIMEOUT_MS,
        headers: { Accept: CAP_ACCEPT, 'User-Agent': USER_AGENT },
        addresses: this.addresses(),
      });
      if (res.status !== 200)
        return { error: `${shown} answered HTTP ${res.status}`, permanent: false };
      // A web page about the alert is not the alert: the inbox would fill with refused HTML.
      if (/^text\/html\b/i.test(res.headers.get('content-type') ?? ''))
        return { error: `${shown} is a web page (text/html), not a CAP message`, permanent: true };
      return { body: res.body };
    } catch (err) {
      const permanent =
        err instanceof FetchFailed && ['too-large', 'scheme', 'refused'].includes(err.why);
      return { error: `${shown}: ${(err as Error).message}`, permanent };
    }
  }

  /**
   * Public addresses only, checked at every redirect, unless the station's feeds and media are on
   * its own network (ALERT_FETCH_PRIVATE): a feed and what it links to come from outside.
   */
  private addresses(): AddressPolicy {
    return this.config.alerts.fetchPrivate ? 'any' : 'public-only';
  }

  /** A poll the feed answered: back to its interval; entry errors are kept in last_error. */
  private async finish(
    feed: AlertFeedEntity,
    o: {
      status: number;
      entries: FeedEntryResultDto[];
      seen: number;
      deferred?: number;
      total?: number;
      etag?: string | null;
      lastModified?: string | null;
    },
  ): Promise<FeedPollDto> {
    const now = this.clock.now().getTime();
    const entryError = o.entries.find((e) => e.result === 'error');
    const patch: Partial<AlertFeedEntity> = {
      failures: 0,
      lastError: entryError ? `entry ${entryError.id}: ${entryError.reason}`.slice(0, 500) : null,
      lastPolledAt: now,
      lastOkAt: now,
      nextPollAt: now + nextPollDelayMs(feed.intervalS, 0),
    };
    if (o.status !== 304) {
      // An entry to try again, or one left for the next poll, must not hide behind a 304 next
      // time: ask for the whole feed.
      const again = entryError !== undefined || (o.deferred ?? 0) > 0;
      patch.etag = again ? null : (o.etag?.slice(0, 500) ?? null);
      patch.lastModified = again ? null : (o.lastModified?.slice(0, 100) ?? null);
    }
    const after = await this.store(feed, patch);
    const count = (pred: (e: FeedEntryResultDto) => boolean) => o.entries.filter(pred).length;
    const dto: FeedPollDto = {
      feedId: feed.id,
      status: o.status === 304 ? 'not-modified' : 'ok',
      httpStatus: o.status,
      error: null,
      entries: o.total ?? 0,
      seen: o.seen,
      newAlerts: count((e) => e.result === 'alert' && e.outcome !== 'duplicate'),
      duplicates: count((e) => e.outcome === 'duplicate'),
      refusals: count((e) => e.result === 'refused'),
      results: o.entries,
      feed: toFeedDto(after),
    };
    if (o.status !== 304 || dto.entries > 0)
      this.logger.log(
        `feed=${feed.id} polled: HTTP ${o.status} entries=${dto.entries} seen=${dto.seen} ` +
          `new=${dto.newAlerts} duplicates=${dto.duplicates} refused=${dto.refusals}` +
          (entryError ? ` errors=${count((e) => e.result === 'error')}` : '') +
          (o.deferred ? ` left-for-next-poll=${o.deferred}` : ''),
      );
    return dto;
  }

  /** A poll the feed did not answer usably: the wait doubles, up to an hour. */
  private async fail(
    feed: AlertFeedEntity,
    status: number | null,
    error: string,
  ): Promise<FeedPollDto> {
    const now = this.clock.now().getTime();
    const failures = feed.failures + 1;
    const after = await this.store(feed, {
      failures,
      lastError: error.slice(0, 500),
      lastPolledAt: now,
      nextPollAt: now + nextPollDelayMs(feed.intervalS, failures),
    });
    this.logger.warn(
      `feed=${feed.id} poll failed (${failures} in a row): ${error}; next at ${isoTime(after.nextPollAt)}`,
    );
    return {
      feedId: feed.id,
      status: 'failed',
      httpStatus: status,
      error,
      entries: 0,
      seen: 0,
      newAlerts: 0,
      duplicates: 0,
      refusals: 0,
      results: [],
      feed: toFeedDto(after),
    };
  }

  /**
   * Writes a poll's result unless the feed changed under it: a new URL (reset by the PATCH) must
   * not get the old document's ETag, and a deleted feed stays deleted.
   */
  private async store(
    feed: AlertFeedEntity,
    patch: Partial<AlertFeedEntity>,
  ): Promise<AlertFeedEntity> {
    const current = await this.repo.find(feed.id);
    if (!current) this.seen.delete(feed.id);
    if (!current || current.url !== feed.url) return { ...(current ?? feed) };
    await this.repo.update(feed.id, patch);
    return { ...current, ...patch };
  }

  /** Forgets what it remembers of a feed's entries (a new URL, or the feed deleted). */
  forget(id: string): void {
    this.seen.delete(id);
  }

  private async found(id: string): Promise<AlertFeedEntity> {
    const row = await this.repo.find(id);
    if (!row) throw new NotFoundError('feed', id);
    return row;
  }
}

/**
 * Entries in the order they were issued: by their times when every one has a time, else in the
 * feed's order reversed (feeds list the newest first).
 */
function oldestFirst(entries: FeedEntry[]): FeedEntry[] {
  const timed = entries.map((e, i) => ({ e, i, at: Date.parse(e.updated) }));
  if (timed.some((t) => Number.isNaN(t.at))) return [...entries].reverse();
  return timed.sort((a, b) => a.at - b.at || b.i - a.i).map((t) => t.e);
}

function describe(err: unknown): string {
  if (err instanceof CapRefusal) return `the feed's XML was refused (${err.rule}): ${err.message}`;
  if (err instanceof FetchFailed) return `fetching the feed failed (${err.why}): ${err.message}`;
  if (err instanceof FeedUnreadable) return err.message;
  return `unexpected: ${(err as Error).message}`;
}
