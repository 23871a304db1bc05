import { Injectable } from '@nestjs/common';
import type { AppConfig } from '../config/app-config.js';
import { InjectConfig } from '../config/config.module.js';
import {
  BroadcastFactsRepository,
  BroadcastHeader,
} from '../broadcasts/broadcast-facts.repository.js';
import { BroadcastHistoryRepository } from '../broadcasts/broadcast-history.repository.js';
import type { ManualGroup } from '../broadcasts/delivery-groups.js';
import { Clock } from '../common/clock.js';
import { DomainError, NotFoundError, ValidationFailedError } from '../common/domain-error.js';
import type { CoverageErrorCode } from './coverage-errors.js';
import { isoTime } from '../common/time.js';
import { parsePeriod } from '../common/period.js';
import { formatLocal } from '../common/zoned-time.js';
import type { DeviceType } from '../contract/device.js';
import { DevicesService } from '../devices/devices.service.js';
import { ChainHead, EvidenceChain } from '../evidence/evidence-chain.js';
import { PresenceService } from '../devices/presence.service.js';
import { VillagesService } from '../villages/villages.service.js';
import { milestoneTimes } from '../broadcasts/broadcast-outcome.js';
import { BroadcastScope } from '../broadcasts/broadcast-scope.js';
import { approvalOf } from '../broadcasts/broadcast-dto.js';
import { BroadcastsService } from '../broadcasts/broadcasts.service.js';
import type { BroadcastDto } from '../broadcasts/dto/broadcast.dto.js';
import {
  classifyVillage,
  computeCoverage,
  CoverageReport,
  failureList,
  Milestone,
  VillageCoverage,
  VillageRef,
} from './coverage.js';
import type {
  BroadcastCoverageDto,
  CoverageQuery,
  LatestBroadcastDto,
  PeriodQuery,
  PeriodReportDto,
  ReportLang,
  VillageBroadcastDto,
} from './dto/coverage.dto.js';
import { computePeriodReport, isCounted, PeriodReport } from './period-report.js';
import {
  broadcastCoverageTable,
  periodReportTable,
  reportCsv,
  ReportTable,
  reportXlsx,
} from './report-csv.js';
import { groupBy } from '../common/group-by.js';

const DAY_MS = 86_400_000;

/** How long after a broadcast's start its resend still counts as the same (approved) alert. */
const RESEND_AS_SAME_MS = 24 * 3600_000;
/** The village board looks this many broadcasts back for a village's latest. */
const BOARD_LOOKBACK = 200;
/** Times a broadcast's coverage is worked out again when an event arrived while it was. */
const EVIDENCE_ATTEMPTS = 3;

const isoOrNull = (ms: number | null) => (ms === null ? null : isoTime(ms));

/** A report download: CSV text, or an Excel workbook (see common/xlsx.ts for why both). */
export interface ReportFile {
  filename: string;
  contentType: string;
  body: string | Buffer;
}

const XLSX_TYPE = 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet';

function reportFile(name: string, format: 'csv' | 'xlsx', table: ReportTable): ReportFile {
  return format === 'xlsx'
    ? { filename: `${name}.xlsx`, contentType: XLSX_TYPE, body: reportXlsx(table) }
    : { filename: `${name}.csv`, contentType: 'text/csv; charset=utf-8', body: reportCsv(table) };
}

/** Online enabled devices now, per village and type. */
type OnlineMap = Map<string, Partial<Record<DeviceType, number>>>;

/**
 * Coverage from the devices' own confirmations: one broadcast's, a period's, and each village's
 * latest for the status board. Figures are grouped in SQL (see BroadcastFactsRepository); the
 * arithmetic is the pure code in coverage.ts and period-report.ts.
 */
@Injectable()
export class CoverageService {
  constructor(
    private readonly facts: BroadcastFactsRepository,
    private readonly history: BroadcastHistoryRepository,
    private readonly villages: VillagesService,
    private readonly devices: DevicesService,
    private readonly presence: PresenceService,
    private readonly broadcasts: BroadcastsService,
    private readonly scope: BroadcastScope,
    private readonly clock: Clock,
    private readonly evidence: EvidenceChain,
    @InjectConfig() private readonly config: AppConfig,
  ) {}

  /** A town official (`towns`) gets the figures of their villages only, and 404 for a broadcast reaching none. */
  async broadcast(
    id: string,
    query: CoverageQuery,
    towns: readonly string[] | null = null,
  ): Promise<BroadcastCoverageDto> {
    const { header, report, generatedAt, manual, evidence } = await this.computeBroadcast(
      id,
      towns,
    );
    const villages = query.outcome
      ? report.villages.filter((v) => v.outcome === query.outcome)
      : report.villages;
    return {
      broadcast: {
        id: header.id,
        title: header.title,
        level: header.level,
        status: header.status,
        outcome: header.outcome,
        startAt: isoTime(header.startAt),
        expiresAt: isoTime(header.expiresAt),
        endReason: header.endReason,
        cancelledBy: header.cancelledBy,
        approval: approvalOf(header),
      },
      generatedAt: isoTime(generatedAt),
      evidence,
      summary: report.summary,
      byTown: report.byTown,
      byType: report.byType,
      deliveries: report.deliveries as Record<string, number>,
      milestones: {
        firstSound: report.milestones.firstSound.map(milestoneDto),
        played: report.milestones.played.map(milestoneDto),
      },
      villages: villages.map((v) => ({
        code: v.code,
        name: v.name,
        townCode: v.townCode,
        townName: v.townName,
        outcome: v.outcome,
        coveredBy: v.coveredBy,
        reason: v.reason,
        failures: v.failures,
        devices: v.devices,
        played: v.played,
        states: v.states as Record<string, number>,
        firstSoundAt: isoOrNull(v.firstSoundAt),
        playedAt: isoOrNull(v.playedAt),
        manualAt: isoOrNull(v.manualAt),
        manualBy: manual.get(v.code)?.firstBy ?? null,
        manualMethod: manual.get(v.code)?.firstMethod ?? null,
        resendable: resendableIn(header, v),
      })),
    };
  }

  async broadcastFile(
    id: string,
    lang: ReportLang,
    format: 'csv' | 'xlsx',
    towns: readonly string[] | null = null,
  ): Promise<ReportFile> {
    const { header, report, generatedAt, manual, evidence } = await this.computeBroadcast(
      id,
      towns,
    );
    return reportFile(
      `coverage-${header.id}`,
      format,
      broadcastCoverageTable({
        broadcast: header,
        report,
        manual,
        generatedAt,
        evidence,
        timeZone: this.config.timeZone,
        lang,
      }),
    );
  }

  /**
   * Sends a broadcast again, as a new broadcast (same clip, level, repeat, volume and tone, a fresh
   * window), to exactly the villages it left uncovered that another send could still reach (see
   * {@link resendable}). Refused, before anything is made, when it was never sent, was cancelled,
   * or leaves nothing to resend; the same Idempotency-Key answers with the resend it already made.
   */
  async resend(
    id: string,
    input: { expiresAt?: number },
    by: string,
    idempotency?: { key: string; owner: string },
  ): Promise<BroadcastDto> {
    if (input.expiresAt !== undefined && input.expiresAt <= this.clock.now().getTime())
      throw new ValidationFailedError([
        { field: 'expiresAt', rule: 'isFuture', message: 'expiresAt must be in the future' },
      ]);
    if (idempotency) {
      const earlier = await this.broadcasts.findRequested(idempotency);
      if (earlier && earlier.resendOf === id) return earlier;
      if (earlier)
        throw new DomainError<CoverageErrorCode>(
          'conflict',
          'IDEMPOTENCY_KEY_REUSED',
          `This Idempotency-Key already created broadcast ${earlier.id}, which is not a resend of ${id}; use a new key`,
        );
    }
    const original = await this.broadcasts.get(id);
    if (original.status === 'cancelled')
      throw new DomainError<CoverageErrorCode>(
        'conflict',
        'BROADCAST_CANCELLED',
        `Broadcast ${id} was cancelled; send a new broadcast instead of resending a cancelled one`,
      );
    if (original.dispatchedAt === null)
      throw new DomainError<CoverageErrorCode>(
        'conflict',
        'BROADCAST_NOT_SENT',
        `Broadcast ${id} has not been sent (${original.status}); there is nothing to resend yet`,
      );
    // A second press (or a retry without the key) must not send the same villages a second alert.
    const open = await this.broadcasts.openResendOf(id);
    if (open)
      throw new DomainError<CoverageErrorCode>(
        'conflict',
        'RESEND_OPEN',
        `Broadcast ${id} is already being resent as broadcast ${open.id} (${open.status}); wait for it to end or cancel it first`,
      );
    const { report } = await this.computeBroadcast(id);
    const ended = original.outcome !== null;
    const villages = report.villages.filter((v) => resendable(v, ended)).map((v) => v.code);
    if (villages.length === 0) {
      const s = report.summary;
      throw new DomainError<CoverageErrorCode>(
        'conflict',
        'NOTHING_UNCOVERED',
        `Broadcast ${id} leaves no village to resend to: ${s.covered} of ${s.targeted} covered, ` +
          `${s.partial} playing, the rest still being delivered or without a device`,
      );
    }
    const target = await this.broadcasts.narrowTarget(original.target, villages);
    try {
      return await this.broadcasts.create(
        {
          title: `补发：${original.title}`.slice(0, 200),
          clipId: original.clipId,
          level: original.level,
          target,
          expiresAt: input.expiresAt,
          repeat: original.repeat,
          volume: original.volume,
          attentionTone: original.attentionTone,
        },
        by,
        // The original already went out (approved, overridden or needing no one): while it is
        // fresh, its resend is the same alert to the villages it missed, not a new decision; later
        // it is a new alert and the level's two-person rule holds again.
        {
          idempotency,
          resendOf: id,
          internal: this.clock.now().getTime() - Date.parse(original.startAt) <= RESEND_AS_SAME_MS,
        },
      );
    } catch (err) {
      if (err instanceof ValidationFailedError && err.problems.some((p) => p.field === 'clipId'))
        throw new DomainError<CoverageErrorCode>(
          'conflict',
          'CLIP_GONE',
          `The clip of broadcast ${id} has been deleted or is not ready; send a new broadcast`,
        );
      throw err;
    }
  }

  /** A town official's report is over their towns' villages and the broadcasts reaching them. */
  async period(
    query: PeriodQuery,
    towns: readonly string[] | null = null,
  ): Promise<PeriodReportDto> {
    const p = await this.computePeriod(query, towns);
    const line = (b: PeriodReport['broadcasts']['items'][number]) => ({
      ...b,
      startAt: isoTime(b.startAt),
    });
    return {
      from: isoTime(p.from),
      to: isoTime(p.to),
      timeZone: this.config.timeZone,
      generatedAt: isoTime(p.generatedAt),
      evidence: p.evidence,
      threshold: p.threshold,
      broadcasts: { ...p.report.broadcasts, items: p.report.broadcasts.items.map(line) },
      coverage: {
        mean: p.report.coverage.mean,
        worst: p.report.coverage.worst ? line(p.report.coverage.worst) : null,
      },
      usage: p.report.usage,
      availability: p.report.availability,
      villages: p.report.villages,
      belowThreshold: p.report.belowThreshold,
    };
  }

  async periodFile(
    query: PeriodQuery,
    format: 'csv' | 'xlsx',
    towns: readonly string[] | null = null,
  ): Promise<ReportFile> {
    const p = await this.computePeriod(query, towns);
    const table = query.table ?? 'villages';
    // The county's calendar days, as the report counts them: in UTC, Shanghai's 1 November
    // begins on 31 October.
    const day = (ms: number) => formatLocal(ms, this.config.timeZone).slice(0, 10);
    return reportFile(
      `coverage-${table}-${day(p.from)}-${day(p.to - 1)}`,
      format,
      periodReportTable({
        report: p.report,
        from: p.from,
        to: p.to,
        threshold: p.threshold,
        generatedAt: p.generatedAt,
        evidence: p.evidence,
        timeZone: this.config.timeZone,
        lang: query.lang ?? 'zh',
        table,
      }),
    );
  }

  /**
   * Each village's most recent dispatched broadcast and what came of it there, for the status
   * board: the latest broadcasts are read newest first until every village has one, then each
   * broadcast's deliveries in those villages are grouped on the covering index.
   */
  async latestOutcomes(
    villageCodes: string[],
    online: OnlineMap,
  ): Promise<Map<string, LatestBroadcastDto>> {
    const now = this.clock.now().getTime();
    const latest = await this.history.latestPerVillage(villageCodes, BOARD_LOOKBACK);
    const byBroadcast = new Map<string, { header: BroadcastHeader; codes: string[] }>();
    for (const [code, header] of latest) {
      const entry = byBroadcast.get(header.id) ?? { header, codes: [] };
      entry.codes.push(code);
      byBroadcast.set(header.id, entry);
    }
    const out = new Map<string, LatestBroadcastDto>();
    for (const { header, codes } of byBroadcast.values()) {
      const [{ groups, failures }, manual] = await Promise.all([
        this.facts.factsOf(header, now, codes),
        this.facts.manual(header.id),
      ]);
      const manualAt = new Map(manual.map((m) => [m.villageCode, m.firstAt]));
      const groupsOf = groupBy(groups, (g) => g.villageCode);
      const failuresOf = groupBy(failures, (f) => f.villageCode);
      for (const code of codes) {
        const c = classifyVillage(
          groupsOf.get(code) ?? [],
          failuresOf.get(code) ?? [],
          manualAt.get(code) ?? null,
          online.get(code) ?? {},
        );
        out.set(code, {
          id: header.id,
          title: header.title,
          level: header.level,
          status: header.status,
          startAt: isoTime(header.startAt),
          outcome: c.outcome,
          reason: c.reason,
          failures: c.reason === 'failed' ? failureList(failuresOf.get(code) ?? []) : [],
          resendable: resendableIn(header, c),
        });
      }
    }
    return out;
  }

  /** What came of the latest broadcasts in one village, newest first. */
  /** A town official gets 404 for a village outside their towns. */
  async village(
    code: string,
    limit: number,
    towns: readonly string[] | null = null,
  ): Promise<VillageBroadcastDto[]> {
    const village = await this.villages.get(code);
    if (towns !== null && !towns.includes(village.townCode))
      throw new NotFoundError('village', code);
    const ref = {
      code: village.code,
      name: village.name,
      townCode: village.townCode,
      townName: village.townName,
    };
    const now = this.clock.now().getTime();
    const [headers, online] = await Promise.all([
      this.history.ofVillage(code, limit),
      this.devices.onlineByVillage([code]),
    ]);
    const out: VillageBroadcastDto[] = [];
    for (const h of headers) {
      const [{ groups, failures }, manual] = await Promise.all([
        this.facts.factsOf(h, now, [code]),
        this.facts.manual(h.id),
      ]);
      const v = computeCoverage({
        startAt: h.startAt,
        villages: [ref],
        groups,
        failures,
        manual: new Map(manual.map((m) => [m.villageCode, m.firstAt])),
        online,
      }).villages[0];
      out.push({
        id: h.id,
        title: h.title,
        level: h.level,
        status: h.status,
        startAt: isoTime(h.startAt),
        outcome: v.outcome,
        reason: v.reason,
        coveredBy: v.coveredBy,
        failures: v.failures,
        devices: v.devices,
        played: v.played,
        firstSoundAt: isoOrNull(v.firstSoundAt),
        playedAt: isoOrNull(v.playedAt),
        manualAt: isoOrNull(v.manualAt),
      });
    }
    return out;
  }

  // ---- computing ----

  /**
   * A broadcast's coverage and the chain head it was computed from: the broadcast's last entry,
   * read before and after the figures. Every write to its deliveries, events, confirmations or
   * cancel appends an entry of this broadcast in the same transaction, so the same head on both
   * sides means the figures are exactly those rows; when an event arrived meanwhile it is worked
   * out again (a few times at most, then the later head: every row read was committed before it).
   * The certificate signs these same figures.
   */
  async computeBroadcast(
    id: string,
    towns: readonly string[] | null = null,
  ): Promise<{
    header: BroadcastHeader;
    report: CoverageReport;
    generatedAt: number;
    manual: Map<string, ManualGroup>;
    evidence: ChainHead | null;
  }> {
    let before = await this.evidence.headOf(id);
    for (let attempt = 1; ; attempt++) {
      const computed = await this.computeBroadcastFigures(id, towns);
      const after = await this.evidence.headOf(id);
      if (after?.seq === before?.seq || attempt >= EVIDENCE_ATTEMPTS)
        return { ...computed, evidence: after };
      before = after;
    }
  }

  private async computeBroadcastFigures(
    id: string,
    towns: readonly string[] | null,
  ): Promise<{
    header: BroadcastHeader;
    report: CoverageReport;
    generatedAt: number;
    /** The standing manual confirmations by village (who and how, for the reports). */
    manual: Map<string, ManualGroup>;
  }> {
    const header = await this.facts.header(id);
    if (!header) throw new NotFoundError('broadcast', id);
    // 404 for a broadcast reaching none of their towns, as its page answers.
    if (towns !== null) await this.broadcasts.get(id, towns);
    const generatedAt = this.clock.now().getTime();
    const inScope = await this.scope.villageCodes(towns);
    const targeted = await this.facts.targetedVillages(id);
    const codes = inScope ? targeted.filter((c) => inScope.includes(c)) : targeted;
    const [refs, { groups, failures }, allManual, online] = await Promise.all([
      this.villageRefs(codes),
      // The county's whole broadcast is grouped once (and cached when settled); theirs by village.
      inScope
        ? this.facts.factsOf(header, generatedAt, codes)
        : this.facts.factsOf(header, generatedAt),
      this.facts.manual(id),
      this.devices.onlineByVillage(codes),
    ]);
    const manual = inScope ? allManual.filter((m) => codes.includes(m.villageCode)) : allManual;
    const report = computeCoverage({
      startAt: header.startAt,
      villages: refs,
      groups,
      failures,
      manual: new Map(manual.map((m) => [m.villageCode, m.firstAt])),
      online,
    });
    return {
      header,
      report,
      generatedAt,
      manual: new Map(manual.map((m) => [m.villageCode, m])),
    };
  }

  private async computePeriod(
    query: PeriodQuery,
    towns: readonly string[] | null,
  ): Promise<{
    from: number;
    to: number;
    threshold: number;
    generatedAt: number;
    report: PeriodReport;
    evidence: ChainHead | null;
  }> {
    const now = this.clock.now().getTime();
    const { from, to } = this.periodBounds(query, now);
    const threshold = query.threshold ?? 0.9;
    const scope = await this.periodScope(await this.history.inPeriod(from, to), towns);
    const { broadcasts, villages } = scope;
    const counted = broadcasts.filter(isCounted).map((b) => b.id);
    const [targets, played, confirmed, quietHeld, villagesPlayed, devices, onlineMs] =
      await Promise.all([
        this.history.targetPairs(counted),
        this.history.playedPairs(counted),
        this.history.confirmedPairs(counted),
        this.history.quietHeldPairs(counted),
        this.history.villagesPlayedBetween(
          villages.map((v) => v.code),
          from,
          to,
        ),
        this.devices.targetingSnapshot(),
        this.presence.onlineMsBetween(from, to),
      ]);
    const mine = scope.codes && new Set(scope.codes);
    const only = <T extends { villageCode: string }>(rows: readonly T[]): T[] =>
      (mine ? rows.filter((r) => mine.has(r.villageCode)) : rows) as T[];
    const report = computePeriodReport({
      from,
      to,
      measuredTo: Math.min(to, now),
      threshold,
      broadcasts: mine
        ? await this.withTimesIn(broadcasts, [...mine])
        : await this.withTimes(broadcasts),
      targets: only(targets),
      played: only(played),
      confirmed: only(confirmed),
      quietHeld: only(quietHeld),
      villages,
      villagesPlayed,
      devices: only(devices),
      onlineMs,
    });
    // The global head, read after the figures: every row they counted was committed, with its
    // entry, before this read, so all of them are proven by entries up to it (later ones may not
    // be in the figures; across many broadcasts there is no quiet moment to wait for).
    const evidence = await this.evidence.head();
    return { from, to, threshold, generatedAt: now, report, evidence };
  }

  /**
   * A period's broadcasts and villages as a town official sees them: their towns' villages, and
   * the broadcasts sent to one of them (or, never sent, whose target reaches them). The county's
   * (towns null) are every broadcast and village, with no extra query.
   */
  private async periodScope(
    all: BroadcastHeader[],
    towns: readonly string[] | null,
  ): Promise<{ broadcasts: BroadcastHeader[]; villages: VillageRef[]; codes: string[] | null }> {
    const refs = await this.villages.refs();
    if (towns === null) return { broadcasts: all, villages: refs, codes: null };
    const villages = refs.filter((v) => towns.includes(v.townCode));
    const codes = villages.map((v) => v.code);
    const mine = new Set(codes);
    const sent = all.filter((b) => b.dispatchedAt !== null).map((b) => b.id);
    const reaching = new Set(
      (await this.history.targetPairs(sent))
        .filter((p) => mine.has(p.villageCode))
        .map((p) => p.broadcastId),
    );
    for (const id of await this.scope.undispatchedReaching(towns)) reaching.add(id);
    return { broadcasts: all.filter((b) => reaching.has(b.id)), villages, codes };
  }

  /**
   * Each broadcast's times to 50%, 90% and 100% over these villages only: the stored milestones
   * are the county's. One query per broadcast, paid by town officials' reports alone.
   */
  private async withTimesIn(
    broadcasts: BroadcastHeader[],
    codes: string[],
  ): Promise<BroadcastHeader[]> {
    const mine = new Set(codes);
    return Promise.all(
      broadcasts.map(async (b) => {
        if (b.dispatchedAt === null) return b;
        const f = await this.facts.settlementFacts(b.id, b.expiresAt);
        return {
          ...b,
          ...milestoneTimes(
            b.startAt,
            f.times,
            f.targeted.filter((c) => mine.has(c)),
          ),
        };
      }),
    );
  }

  /**
   * Broadcasts still running have no stored milestones yet: theirs are worked out now, the same
   * way the delivery ledger will store them when they end (there are few of them at any time).
   */
  private async withTimes(broadcasts: BroadcastHeader[]): Promise<BroadcastHeader[]> {
    return Promise.all(
      broadcasts.map(async (b) => {
        if (b.outcome !== null || b.dispatchedAt === null) return b;
        const f = await this.facts.settlementFacts(b.id, b.expiresAt);
        return { ...b, ...milestoneTimes(b.startAt, f.times, f.targeted) };
      }),
    );
  }

  private periodBounds(query: PeriodQuery, now: number): { from: number; to: number } {
    return parsePeriod(query, {
      now,
      timeZone: this.config.timeZone,
      defaultSpanMs: 30 * DAY_MS,
      what: 'A report',
    });
  }

  /** Names for targeted villages; one deleted since keeps its code as its name. */
  private async villageRefs(codes: string[]): Promise<VillageRef[]> {
    const known = new Map((await this.villages.refs()).map((v) => [v.code, v]));
    return codes.map(
      (code) => known.get(code) ?? { code, name: code, townCode: code.slice(0, 9), townName: '' },
    );
  }
}

/**
 * Whether a resend could still help a village: uncovered, and not because its delivery is under way
 * (`pending`: a device online is getting it), nor because nothing there can play it (`no_device`),
 * nor because its quiet hours hold it while the broadcast still runs (the resend would wait too).
 * Partial villages are playing it, or will resume it: never resent.
 */
export function resendable(
  v: Pick<VillageCoverage, 'outcome' | 'reason'>,
  ended: boolean,
): boolean {
  if (v.outcome !== 'uncovered') return false;
  if (v.reason === 'pending' || v.reason === 'no_device') return false;
  return v.reason !== 'quiet_hours' || ended;
}

/**
 * What the API shows as `resendable`: the village rule above, for a broadcast that was sent and not
 * cancelled (the resend refuses the others). The dashboard counts these, so it keeps no copy.
 */
function resendableIn(
  header: Pick<BroadcastHeader, 'status' | 'outcome' | 'dispatchedAt'>,
  v: Pick<VillageCoverage, 'outcome' | 'reason'>,
): boolean {
  if (header.status === 'cancelled' || header.dispatchedAt === null) return false;
  return resendable(v, header.outcome !== null);
}

function milestoneDto(m: Milestone) {
  return { ...m, reachedAt: isoOrNull(m.reachedAt) };
}
