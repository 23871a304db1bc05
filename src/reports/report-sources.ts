import { Injectable } from '@nestjs/common';
import { LRUCache } from 'lru-cache';
import { AlertsService } from '../alerts/alerts.service.js';
import type { AlertEntity } from '../alerts/alert.entity.js';
import { BroadcastFactsRepository } from '../broadcasts/broadcast-facts.repository.js';
import { BroadcastHistoryRepository } from '../broadcasts/broadcast-history.repository.js';
import { BroadcastsService } from '../broadcasts/broadcasts.service.js';
import type { BroadcastDto, DeliveryDto } from '../broadcasts/dto/broadcast.dto.js';
import type { ClipDto } from '../clips/dto/clip.dto.js';
import { ClipsService } from '../clips/clips.service.js';
import { MediaService } from '../clips/media.service.js';
import { MAX_PAGE_SIZE } from '../common/pagination.js';
import type { AppConfig } from '../config/app-config.js';
import { InjectConfig } from '../config/config.module.js';
import type { CoverageReport } from '../coverage/coverage.js';
import { CoverageService } from '../coverage/coverage.service.js';
import type { VillageRef } from '../villages/village-ref.js';
import { VillagesService } from '../villages/villages.service.js';
import {
  BroadcastKind,
  CODE_LIST_SEPARATOR,
  DRILL_TITLE_PREFIX,
  placeholderEbrId,
} from './gyt-mapping.js';

/** Everything a report of one broadcast says, read once. */
export interface BroadcastFacts {
  broadcast: BroadcastDto;
  clip: ClipDto;
  /** The alert it was made from, if any (AlertsService). */
  alert: AlertEntity | null;
  kind: BroadcastKind;
  /** 12-digit codes of the villages it reaches (see {@link ReportSources.areaCodes}). */
  areaCodes: string[];
  villages: Map<string, VillageRef>;
}

/** SHA-1 digests kept (the feed asks for its 50 latest clips' on every read). */
const DIGEST_CACHE = 256;

/** Where the county's area code comes from when it has no village yet. */
const UNKNOWN_COUNTY = '000000';

/**
 * What reports up read of the other modules, through their services only: the broadcast, its
 * clip, alert, villages, coverage (the coverage module's own figures) and deliveries, and who the
 * station is.
 */
@Injectable()
export class ReportSources {
  /** sha256 → SHA-1 of the same audio: content-addressed, so never stale. */
  private readonly sha1s = new LRUCache<string, string>({ max: DIGEST_CACHE });

  constructor(
    private readonly broadcasts: BroadcastsService,
    private readonly facts: BroadcastFactsRepository,
    private readonly history: BroadcastHistoryRepository,
    private readonly clips: ClipsService,
    private readonly media: MediaService,
    private readonly alerts: AlertsService,
    private readonly villagesService: VillagesService,
    private readonly coverageService: CoverageService,
    @InjectConfig() private readonly config: AppConfig,
  ) {}

  /** 404 (BROADCAST_NOT_FOUND) for an unknown id. */
  async broadcast(id: string): Promise<BroadcastFacts> {
    const broadcast = await this.broadcasts.get(id);
    const [clip, alert, villages, targeted] = await Promise.all([
      this.clips.get(broadcast.clipId),
      this.alerts.alertOfBroadcast(id),
      this.villageMap(),
      this.facts.targetedVillages(id),
    ]);
    return {
      broadcast,
      clip,
      alert,
      kind: kindOf(broadcast, alert),
      areaCodes: this.areaCodes(broadcast, targeted, await this.countyCode()),
      villages,
    };
  }

  /**
   * Dispatched: the villages it targeted (fixed at dispatch). Before: its target as given — each
   * village, each town's code padded to 12 digits, the county's for `all` (or a target of device
   * types or devices, which names no place).
   */
  areaCodes(broadcast: BroadcastDto, targeted: string[], countyCode: string): string[] {
    if (targeted.length) return [...targeted].sort();
    const t = broadcast.target;
    if (t.villages?.length) return [...t.villages].sort();
    if (t.towns?.length) return t.towns.map((c) => c.padEnd(12, '0')).sort();
    return [countyCode.padEnd(12, '0')];
  }

  /** The coverage module's figures of a broadcast (the same as its coverage page). */
  async coverage(id: string): Promise<CoverageReport> {
    return (await this.coverageService.computeBroadcast(id)).report;
  }

  /** Every delivery of a broadcast, by village then device. */
  async deliveries(id: string): Promise<DeliveryDto[]> {
    const out: DeliveryDto[] = [];
    for (let offset = 0; ; offset += MAX_PAGE_SIZE) {
      const page = await this.broadcasts.deliveries(id, { limit: MAX_PAGE_SIZE, offset });
      out.push(...page.items);
      if (out.length >= page.total || page.items.length === 0) return out;
    }
  }

  /** The county's latest broadcasts, newest first. */
  async latest(n: number): Promise<BroadcastDto[]> {
    return (await this.broadcasts.list({ limit: n, offset: 0 })).items;
  }

  /** Ids of the broadcasts that start in [from, to), oldest first. */
  async startingBetween(from: number, to: number): Promise<string[]> {
    const headers = await this.history.inPeriod(from, to);
    return [...headers].sort((a, b) => a.startAt - b.startAt).map((h) => h.id);
  }

  /** The broadcasts made, and those cancelled, at this instant (naming one by its EBMID). */
  madeOrCancelledAt(at: number): Promise<{ made: string[]; cancelled: string[] }> {
    return this.history.madeOrCancelledAt(at);
  }

  async villageMap(): Promise<Map<string, VillageRef>> {
    return new Map((await this.villagesService.refs()).map((v) => [v.code, v]));
  }

  /** The county's 6-digit code: its villages' first six digits. */
  async countyCode(): Promise<string> {
    const [first] = await this.villagesService.refs();
    return first ? first.code.slice(0, 6) : UNKNOWN_COUNTY;
  }

  /** CAP `sender` of the station: STATION_SENDER, else `dalaba@<county code>`. */
  async sender(): Promise<string> {
    return this.config.reports.stationSender ?? `dalaba@${await this.countyCode()}`;
  }

  /**
   * Dalaba's EBRID (SenderCode, EBRPS): `EBR_ID` when the station has one (the superior link's),
   * else a placeholder made from the county code (gyt-mapping.ts).
   */
  async platformEbrId(): Promise<string> {
    return this.config.superior.ebrId || placeholderEbrId(await this.countyCode());
  }

  /** An absolute URL of this server (PUBLIC_URL), as readers elsewhere reach it. */
  url(path: string): string {
    return `${this.config.publicUrl}${path}`;
  }

  /** The absolute URL of a clip's audio (GET /api/clips/:id/audio, any signed-in reader). */
  clipAudioUrl(clipId: string): string {
    return this.url(`/api/clips/${clipId}/audio`);
  }

  /** SHA-1 of stored audio (CAP digests), undefined when the file is gone. */
  async audioSha1(sha256: string): Promise<string | undefined> {
    const known = this.sha1s.get(sha256);
    if (known) return known;
    const digest = await this.media.audioDigest(sha256, 'sha1');
    if (digest) this.sha1s.set(sha256, digest);
    return digest;
  }
}

/** A list of codes as one element's text. */
export function codeList(codes: readonly string[]): string {
  return codes.join(CODE_LIST_SEPARATOR);
}

/**
 * Drill: a broadcast made from a CAP `Exercise`, or titled as the intake titles drills; otherwise
 * its level.
 */
export function kindOf(broadcast: BroadcastDto, alert: AlertEntity | null): BroadcastKind {
  if (alert?.status === 'Exercise') return 'drill';
  if (broadcast.level === 'routine' && broadcast.title.startsWith(DRILL_TITLE_PREFIX))
    return 'drill';
  return broadcast.level;
}
