import { Injectable, Logger, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import type { Response } from 'express';
import type { Subscription } from 'rxjs';
import { ApiTokensService } from '../auth/api-tokens.service.js';
import type { Principal } from '../auth/auth.decorators.js';
import { roleAllows } from '../auth/roles.js';
import { BroadcastEvents } from '../broadcasts/broadcast-events.js';
import { BroadcastsService } from '../broadcasts/broadcasts.service.js';
import { targetReachesTowns, TargetScopeSnapshot } from '../broadcasts/target-scope.js';
import type { BroadcastDto } from '../broadcasts/dto/broadcast.dto.js';
import { Clock } from '../common/clock.js';
import { DomainError } from '../common/domain-error.js';
import type { LiveErrorCode } from './live-errors.js';
import { isoTime } from '../common/time.js';
import { DevicesService } from '../devices/devices.service.js';
import { PresenceService } from '../devices/presence.service.js';
import { VillagesService } from '../villages/villages.service.js';

/** Changes are gathered this long and sent as one `update`, however many there were. */
export const LIVE_COALESCE_MS = 500;
/** A comment line this often keeps proxies from closing an idle stream. */
const HEARTBEAT_MS = 15_000;
/** Broadcasts sent per update at most; the rest follow in the next. */
const MAX_BROADCASTS_PER_UPDATE = 100;
/** A client that has not read this much is too slow: it is dropped and reconnects. */
const MAX_BUFFERED_BYTES = 1 << 20;
export const MAX_LIVE_CLIENTS = 200;
/** Streams one token may hold: a few dashboard tabs, never the whole allowance. */
export const MAX_STREAMS_PER_TOKEN = 10;

/** What one `update` event carries. */
export interface LiveUpdate {
  at: string;
  /** Broadcasts that changed, as GET /api/broadcasts/:id returns them (status, counts by state). */
  broadcasts: BroadcastDto[];
  /** Villages whose devices' presence or latest broadcast outcome changed: refetch their status. */
  villages: string[];
  /** Devices online now, across the county (a town official's stream: across their towns). */
  devicesOnline: number;
}

interface Client {
  id: number;
  res: Response;
  who: string;
  tokenId: string;
  /** A town official's towns: their stream carries only what concerns them. Null: the county. */
  towns: string[] | null;
  /** Who opened it: {@link LiveEvents.publish} picks its clients by this. */
  principal: Principal;
}

/** County staff of any role (no town official): who may read the alerts inbox, and hears of it. */
export const isCountyStaff = (p: Principal): boolean => p.towns === null;

/** County operators and admins: who hears of drafts to approve and of overrides. */
export const isCountyOperator = (p: Principal): boolean =>
  p.towns === null && roleAllows(p.role, 'operator');

/**
 * The dashboard's live feed (`GET /api/events`, Server-Sent Events). Delivery, broadcast and
 * presence changes are only marked dirty as they happen; every {@link LIVE_COALESCE_MS} one
 * update carrying the current figures of what changed goes to every client, so ten thousand
 * acknowledgements a second are two messages a second, not ten thousand.
 */
@Injectable()
export class LiveEvents implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger('live');
  private readonly clients = new Set<Client>();
  private readonly byToken = new Map<string, Set<Client>>();
  private readonly subscriptions: Subscription[] = [];
  private dirtyBroadcasts = new Set<string>();
  private dirtyVillages = new Set<string>();
  private dirtyDevices = new Set<string>();
  private presenceChanged = false;
  private timer?: NodeJS.Timeout;
  private heartbeat?: NodeJS.Timeout;
  private sending: Promise<void> = Promise.resolve();
  private nextId = 1;
  /** Updates sent (to all clients at once), for tests and metrics. */
  updatesSent = 0;

  constructor(
    private readonly broadcastEvents: BroadcastEvents,
    private readonly presence: PresenceService,
    private readonly broadcasts: BroadcastsService,
    private readonly devices: DevicesService,
    private readonly clock: Clock,
    private readonly tokens: ApiTokensService,
    private readonly villages: VillagesService,
  ) {}

  onModuleInit(): void {
    this.subscriptions.push(
      this.broadcastEvents.changes.subscribe((c) => {
        if (this.clients.size === 0) return;
        this.dirtyBroadcasts.add(c.broadcastId);
        if (c.kind !== 'broadcast') this.dirtyVillages.add(c.villageCode);
      }),
      this.presence.changes.subscribe((c) => {
        if (this.clients.size === 0) return;
        this.dirtyDevices.add(c.deviceId);
        this.presenceChanged = true;
      }),
      this.tokens.revocations.subscribe((tokenId) => this.endStreamsOf(tokenId, 'revoked')),
      // An emergency sent without its second person: every county operator should know at once.
      this.broadcastEvents.overrides.subscribe((o) =>
        this.publish(
          'override',
          {
            broadcastId: o.broadcastId,
            title: o.title,
            level: o.level,
            by: o.by,
            reason: o.reason,
            at: isoTime(o.at),
          },
          isCountyOperator,
        ),
      ),
    );
  }

  /**
   * Sends one named event now (not coalesced: these are rare and someone is waiting for them) to
   * the open streams whose principal `to` accepts.
   */
  publish(event: string, data: unknown, to: (p: Principal) => boolean): void {
    const frame = `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
    for (const c of [...this.clients]) if (to(c.principal)) this.write(c, frame);
  }

  get clientCount(): number {
    return this.clients.size;
  }

  /** Turns the response into an event stream for this client until either side closes it. */
  attach(res: Response, principal: Principal): void {
    const own = this.byToken.get(principal.credentialId);
    if (own && own.size >= MAX_STREAMS_PER_TOKEN) {
      throw new DomainError<LiveErrorCode>(
        'rate_limited',
        'TOO_MANY_STREAMS',
        `At most ${MAX_STREAMS_PER_TOKEN} live streams per token; close another dashboard tab and retry`,
      );
    }
    if (this.clients.size >= MAX_LIVE_CLIENTS) {
      throw new DomainError<LiveErrorCode>(
        'unavailable',
        'TOO_MANY_STREAMS',
        `At most ${MAX_LIVE_CLIENTS} live streams at once; close another dashboard tab and retry`,
      );
    }
    const client: Client = {
      id: this.nextId++,
      res,
      who: principal.name,
      tokenId: principal.credentialId,
      towns: principal.towns,
      principal,
    };
    res.status(200);
    res.setHeader('Content-Type', 'text/event-stream; charset=utf-8');
    res.setHeader('Cache-Control', 'no-cache, no-transform');
    res.setHeader('Connection', 'keep-alive');
    res.setHeader('X-Accel-Buffering', 'no');
    res.flushHeaders();
    res.socket?.setNoDelay(true);
    this.clients.add(client);
    if (own) own.add(client);
    else this.byToken.set(client.tokenId, new Set([client]));
    res.on('close', () => this.detach(client));
    const hello = (devicesOnline: number) =>
      this.write(
        client,
        `retry: 3000\nevent: hello\ndata: ${JSON.stringify({
          at: isoTime(this.clock.now().getTime()),
          devicesOnline,
          coalesceMs: LIVE_COALESCE_MS,
        })}\n\n`,
      );
    const towns = client.towns;
    if (towns === null) hello(this.presence.onlineCount());
    // Their count needs their villages (a query): queued with the updates, so it still comes first.
    else
      this.sending = this.sending
        .then(async () =>
          hello(await this.devices.onlineIn(await this.villages.villageCodesOfTowns(towns))),
        )
        .catch((err: Error) => this.logger.error(`hello failed: ${err.message}`));
    this.logger.log(
      `stream=${client.id} opened by=${JSON.stringify(client.who)} token=${client.tokenId} (${this.clients.size} open)`,
    );
    if (!this.timer) {
      // Stream timing, not domain work (not on the Ticker): it paces writes to open clients only.
      this.timer = setInterval(() => this.schedule(), LIVE_COALESCE_MS);
      this.timer.unref();
      this.heartbeat = setInterval(() => {
        for (const c of this.clients) this.write(c, ': heartbeat\n\n');
        this.endStreamsOfRevokedTokens().catch((err: Error) =>
          this.logger.warn(`revoked tokens not checked: ${err.message}`),
        );
      }, HEARTBEAT_MS);
      this.heartbeat.unref();
    }
  }

  /** Ends every stream (at shutdown; clients reconnect to whichever server answers next). */
  endAll(): void {
    for (const c of [...this.clients]) {
      c.res.end();
      this.detach(c);
    }
    this.stopTimers();
  }

  onModuleDestroy(): void {
    for (const s of this.subscriptions) s.unsubscribe();
    this.endAll();
  }

  /** Ends every stream opened with `tokenId`, as soon as the token stops being valid. */
  private endStreamsOf(tokenId: string, why: string): void {
    for (const c of [...(this.byToken.get(tokenId) ?? [])]) {
      this.logger.log(`stream=${c.id} ended: token=${tokenId} ${why}`);
      c.res.end();
      this.detach(c);
    }
  }

  /** Tokens revoked where this server did not see it (the CLI, another server), at each heartbeat. */
  private async endStreamsOfRevokedTokens(): Promise<void> {
    const ids = [...this.byToken.keys()];
    if (ids.length === 0) return;
    const active = await this.tokens.activeOf(ids);
    for (const id of ids) if (!active.has(id)) this.endStreamsOf(id, 'no longer valid');
  }

  private detach(client: Client): void {
    if (!this.clients.delete(client)) return;
    const own = this.byToken.get(client.tokenId);
    own?.delete(client);
    if (own?.size === 0) this.byToken.delete(client.tokenId);
    this.logger.log(`stream=${client.id} closed (${this.clients.size} open)`);
    if (this.clients.size === 0) {
      this.stopTimers();
      this.dirtyBroadcasts.clear();
      this.dirtyVillages.clear();
      this.dirtyDevices.clear();
      this.presenceChanged = false;
    }
  }

  private stopTimers(): void {
    clearInterval(this.timer);
    clearInterval(this.heartbeat);
    this.timer = undefined;
    this.heartbeat = undefined;
  }

  /** One update at a time: a slow database makes updates rarer, never pile up. */
  private schedule(): void {
    this.sending = this.sending
      .then(() => this.sendUpdate())
      .catch((err: Error) => this.logger.error(`update failed: ${err.message}`));
  }

  private async sendUpdate(): Promise<void> {
    if (this.clients.size === 0) return;
    if (!this.dirtyBroadcasts.size && !this.dirtyVillages.size && !this.presenceChanged) return;
    const ids = [...this.dirtyBroadcasts].slice(0, MAX_BROADCASTS_PER_UPDATE);
    for (const id of ids) this.dirtyBroadcasts.delete(id);
    const villages = this.dirtyVillages;
    const devices = this.dirtyDevices;
    this.dirtyVillages = new Set();
    this.dirtyDevices = new Set();
    this.presenceChanged = false;
    for (const code of await this.devices.villagesOf([...devices])) villages.add(code);
    const update: LiveUpdate = {
      at: isoTime(this.clock.now().getTime()),
      broadcasts: ids.length ? await this.broadcasts.getMany(ids) : [],
      villages: [...villages].sort(),
      devicesOnline: this.presence.onlineCount(),
    };
    const frame = `event: update\ndata: ${JSON.stringify(update)}\n\n`;
    // Town officials' streams share one narrowed update per set of towns.
    const scoped = new Map<string, { towns: string[]; clients: Client[] }>();
    for (const c of this.clients) {
      if (c.towns === null) {
        this.write(c, frame);
        continue;
      }
      const key = [...c.towns].sort().join(',');
      const group = scoped.get(key);
      if (group) group.clients.push(c);
      else scoped.set(key, { towns: c.towns, clients: [c] });
    }
    if (scoped.size > 0) {
      // Raw village rows, and only when a broadcast needs placing: this runs twice a second.
      const snapshot: TargetScopeSnapshot = update.broadcasts.length
        ? {
            villages: await this.villages.matchingRefs({}),
            devices: await this.devices.targetingSnapshot(),
          }
        : { villages: [], devices: [] };
      for (const { towns, clients } of scoped.values()) {
        const narrowed = await this.narrow(update, towns, snapshot);
        // Nothing of theirs changed: no update, as for a county stream when nothing changed.
        if (!narrowed) continue;
        const own = `event: update\ndata: ${JSON.stringify(narrowed)}\n\n`;
        for (const c of clients) this.write(c, own);
      }
    }
    this.updatesSent++;
  }

  /** The part of an update about these towns: their villages, broadcasts reaching them, their devices. */
  private async narrow(
    update: LiveUpdate,
    towns: string[],
    snapshot: TargetScopeSnapshot,
  ): Promise<LiveUpdate | null> {
    const mine = await this.villages.villageCodesOfTowns(towns);
    const villages = update.villages.filter((code) => mine.has(code));
    const reaching = update.broadcasts
      .filter((b) => targetReachesTowns(b.target, towns, snapshot))
      .map((b) => b.id);
    // A presence change of one of their devices lists its village, so with neither their count
    // cannot have moved either.
    if (!villages.length && !reaching.length) return null;
    // Counted again over their villages: the county's figures are not theirs to see.
    const broadcasts = reaching.length ? await this.broadcasts.getMany(reaching, towns) : [];
    return {
      at: update.at,
      broadcasts,
      villages,
      devicesOnline: await this.devices.onlineIn(mine),
    };
  }

  private write(client: Client, frame: string): void {
    if (client.res.writableEnded) return;
    if (client.res.writableLength > MAX_BUFFERED_BYTES) {
      this.logger.warn(`stream=${client.id} is not reading: dropped, it will reconnect`);
      client.res.destroy();
      this.detach(client);
      return;
    }
    client.res.write(frame);
  }
}
