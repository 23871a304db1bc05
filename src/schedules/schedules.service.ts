import { Injectable, Logger } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import type { AppConfig } from '../config/app-config.js';
import { InjectConfig } from '../config/config.module.js';
import { AuditService } from '../audit/audit.service.js';
import { ApprovalPolicyService } from '../broadcasts/approval-policy.js';
import { BroadcastsService } from '../broadcasts/broadcasts.service.js';
import type { Level } from '../contract/messages.js';
import { heldByQuietHours } from '../common/quiet-hours.js';
import { Clock } from '../common/clock.js';
import { Ticker } from '../common/ticker.js';
import { DomainError, NotFoundError } from '../common/domain-error.js';
import { Page, pageWindow } from '../common/pagination.js';
import { isoTime } from '../common/time.js';
import { isUniqueViolation } from '../database/db-errors.js';
import {
  targetReachesTowns,
  targetTownsWithin,
  TargetScopeSnapshot,
} from '../broadcasts/target-scope.js';
import type { Target } from '../broadcasts/targets.js';
import { DevicesService } from '../devices/devices.service.js';
import { VillagesService } from '../villages/villages.service.js';
import type { ScheduleErrorCode } from './schedule-errors.js';
import { fireTimesBetween, nextFireTimes } from './cron.js';
import type {
  CreateScheduleDto,
  FiringDto,
  PreviewDto,
  QuietPreviewDto,
  QuietPreviewRequestDto,
  ScheduleDto,
  ScheduleTemplateDto,
  UpdateScheduleDto,
} from './dto/schedule.dto.js';
import { ScheduleEntity } from './schedule.entity.js';
import { SchedulesRepository } from './schedules.repository.js';

/** `2026-11-30 08:00 Mon` in `timeZone`. */
function localTime(at: number, timeZone: string): string {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat('en-GB', {
      timeZone,
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      weekday: 'short',
      hourCycle: 'h23',
    })
      .formatToParts(at)
      .map((p) => [p.type, p.value]),
  );
  return `${parts.year}-${parts.month}-${parts.day} ${parts.hour}:${parts.minute} ${parts.weekday}`;
}

/** Firings older than the last this many (a server down for a long time) are not recorded one by one. */
const CATCH_UP_MAX = 50;
export const SCHEDULE_TICK_MS = 15_000;

/**
 * Recurring broadcasts. The database row is the schedule; a tick (every 15 s, or `tick(now)` from
 * tests) finds the firings due since the last one and turns each into one broadcast. The broadcast's
 * unique (schedule, fire time) key makes that happen once, however many servers tick at the same
 * moment; a firing whose window closed while no server was running is recorded as missed.
 */
@Injectable()
export class SchedulesService {
  private readonly logger = new Logger('schedules');
  private ticking: Promise<void> | null = null;

  constructor(
    private readonly repo: SchedulesRepository,
    private readonly broadcasts: BroadcastsService,
    private readonly policy: ApprovalPolicyService,
    private readonly audit: AuditService,
    private readonly clock: Clock,
    private readonly ticker: Ticker,
    private readonly villages: VillagesService,
    private readonly devices: DevicesService,
    @InjectConfig() private readonly config: AppConfig,
  ) {}

  /** Catches up at once, then ticks every {@link SCHEDULE_TICK_MS} (the server does; the CLI does not). */
  async start(): Promise<void> {
    await this.tick();
    this.ticker.every('schedule tick', SCHEDULE_TICK_MS, (at) => this.tick(at));
  }

  /**
   * Saves a schedule. One whose level needs a second person is refused (409 APPROVAL_REQUIRED)
   * unless `approval` says who approved it (its draft); its firings then need nobody. `towns`: a
   * town official's; they may create only a routine or test schedule wholly in them.
   */
  async create(
    input: CreateScheduleDto,
    by: string,
    options: {
      approval?: { by: string; at: number };
      id?: string;
      towns?: readonly string[] | null;
    } = {},
  ): Promise<ScheduleDto> {
    await this.validateCreate(input);
    const towns = options.towns ?? null;
    // Scope first: a town official asking for level I hears it is not theirs, not "get approval".
    if (towns !== null) await this.requireMaySend(input.template, towns);
    if (!options.approval) await this.policy.requireNoApproval(input.template.level, 'schedule');
    if (options.id) {
      // An approved draft creates its schedule under the draft's id: finishing it again after a
      // crash finds it made instead of making a second one.
      const made = await this.repo.find(options.id);
      if (made) return this.toDto(made);
    }
    const now = this.clock.now().getTime();
    const row: ScheduleEntity = {
      id: options.id ?? randomUUID(),
      name: input.name,
      cron: input.cron,
      timeZone: input.timeZone ?? this.config.timeZone,
      enabled: input.enabled ?? true,
      template: JSON.stringify(input.template),
      lastFireAt: now,
      approvedBy: options.approval?.by ?? null,
      approvedAt: options.approval?.at ?? null,
      createdBy: by,
      createdAt: now,
      updatedAt: now,
    };
    try {
      await this.repo.insert(row);
    } catch (err) {
      const made = options.id && isUniqueViolation(err) && (await this.repo.find(options.id));
      if (made) return this.toDto(made);
      throw err;
    }
    this.logger.log(
      `schedule=${row.id} created "${row.cron}" ${row.timeZone}` +
        (row.approvedBy ? ` approvedBy=${JSON.stringify(row.approvedBy)}` : ''),
    );
    return this.toDto(row);
  }

  /** Checks a new schedule as {@link create} would, without saving it (drafts). */
  async validateCreate(input: CreateScheduleDto): Promise<void> {
    await this.broadcasts.checkTemplate(input.template, 'template');
  }

  /**
   * Checks changes to a schedule as {@link update} would, without saving them (drafts): the
   * level and template the schedule would have afterwards.
   */
  async validateUpdate(
    id: string,
    input: UpdateScheduleDto,
  ): Promise<{ level: Level; template: ScheduleTemplateDto; name: string }> {
    return this.checkUpdate(await this.require(id), input);
  }

  private async checkUpdate(
    row: ScheduleEntity,
    input: UpdateScheduleDto,
  ): Promise<{ level: Level; template: ScheduleTemplateDto; name: string }> {
    if (input.template !== undefined)
      await this.broadcasts.checkTemplate(input.template, 'template');
    const template = input.template ?? (JSON.parse(row.template) as ScheduleTemplateDto);
    return { level: template.level, template, name: input.name ?? row.name };
  }

  /** `towns`: a town official's; only schedules whose target reaches one of them are listed. */
  async list(
    query: { limit?: number; offset?: number },
    towns: readonly string[] | null = null,
  ): Promise<Page<ScheduleDto>> {
    const { limit, offset } = pageWindow(query);
    if (towns === null) {
      const [rows, total] = await this.repo.list(limit, offset);
      return { items: rows.map((r) => this.toDto(r)), total, limit, offset };
    }
    // A county holds tens of schedules, not thousands: filtering them all in memory is cheap.
    const snapshot = await this.scopeSnapshot();
    const visible = (await this.repo.all()).filter((r) =>
      targetReachesTowns(templateOf(r).target, towns, snapshot),
    );
    const items = visible.slice(offset, offset + limit).map((r) => this.toDto(r));
    return { items, total: visible.length, limit, offset };
  }

  async get(id: string, towns: readonly string[] | null = null): Promise<ScheduleDto> {
    return this.toDto(await this.require(id, towns));
  }

  /**
   * Changes a schedule. One whose resulting level needs a second person is refused (409
   * APPROVAL_REQUIRED) unless `approval` names them, except a change that only disables it.
   * A town official may change only a routine or test schedule wholly in their towns, and only
   * into one; one they cannot see is not found.
   */
  async update(
    id: string,
    input: UpdateScheduleDto,
    options: { approval?: { by: string; at: number }; towns?: readonly string[] | null } = {},
  ): Promise<ScheduleDto> {
    const towns = options.towns ?? null;
    const row = await this.require(id, towns);
    const { level } = await this.checkUpdate(row, input);
    if (towns !== null) {
      await this.requireMaySend(templateOf(row), towns);
      if (input.template !== undefined) await this.requireMaySend(input.template, towns);
    }
    // Stopping a schedule never needs a second person: it sends nothing.
    const onlyDisables = Object.entries(input).every(
      ([k, v]) => v === undefined || (k === 'enabled' && v === false),
    );
    if (!options.approval && !onlyDisables) await this.policy.requireNoApproval(level, 'schedule');
    const now = this.clock.now().getTime();
    const patch: Partial<ScheduleEntity> = { updatedAt: now };
    if (input.name !== undefined) patch.name = input.name;
    if (input.cron !== undefined) patch.cron = input.cron;
    if (input.timeZone !== undefined) patch.timeZone = input.timeZone;
    if (input.template !== undefined) patch.template = JSON.stringify(input.template);
    if (input.enabled !== undefined) patch.enabled = input.enabled;
    if (options.approval) {
      patch.approvedBy = options.approval.by;
      patch.approvedAt = options.approval.at;
    }
    // A new rhythm, or waking up after a pause, starts from now: the pause is not a string of misses.
    const restarts =
      input.cron !== undefined ||
      input.timeZone !== undefined ||
      (input.enabled === true && !row.enabled);
    if (restarts) patch.lastFireAt = now;
    await this.repo.update(id, patch);
    return this.get(id);
  }

  async remove(id: string, towns: readonly string[] | null = null): Promise<void> {
    if (towns !== null) await this.requireMaySend(templateOf(await this.require(id, towns)), towns);
    if (!(await this.repo.delete(id))) throw new NotFoundError('schedule', id);
  }

  preview(cron: string, timeZone: string | undefined, count = 10): PreviewDto {
    const zone = timeZone ?? this.config.timeZone;
    const times = nextFireTimes(cron, zone, this.clock.now().getTime(), count);
    return {
      cron,
      timeZone: zone,
      times: times.map(isoTime),
      local: times.map((t) => localTime(t, zone)),
    };
  }

  /** Which villages quiet hours would hold back from the next firings of a schedule being edited. */
  async quietPreview(
    input: QuietPreviewRequestDto,
    towns: readonly string[] | null = null,
  ): Promise<QuietPreviewDto> {
    // Quiet hours of villages are the registry's: a town official asks only about their own.
    if (towns !== null && !targetTownsWithin(input.target, towns, await this.scopeSnapshot()))
      throw outOfScope('The target reaches beyond your towns');
    const zone = input.timeZone ?? this.config.timeZone;
    const windowMs = this.windowMs(input);
    const firings = nextFireTimes(input.cron, zone, this.clock.now().getTime(), input.count ?? 10);
    const holds = await this.broadcasts.quietHolds(
      input.target,
      input.level,
      firings.map((startAt) => ({ startAt, expiresAt: startAt + windowMs })),
    );
    return {
      heldByQuietHours: heldByQuietHours(input.level),
      quietTimeZone: this.config.timeZone,
      firings: firings.length,
      targetedVillages: holds.targetedVillages,
      villages: holds.villages.map((v) => ({
        code: v.code,
        name: v.name,
        townName: v.townName,
        quietHours: v.quietHours,
        held: v.holds.length,
        neverPlayed: v.holds.filter((h) => h.playsAt === null).length,
        first: {
          fireAt: isoTime(v.holds[0].fireAt),
          playsAt: v.holds[0].playsAt === null ? null : isoTime(v.holds[0].playsAt),
        },
      })),
    };
  }

  async previewOf(
    id: string,
    count = 10,
    towns: readonly string[] | null = null,
  ): Promise<PreviewDto> {
    const row = await this.require(id, towns);
    return this.preview(row.cron, row.timeZone, count);
  }

  async firings(
    id: string,
    query: { limit?: number; offset?: number },
    towns: readonly string[] | null = null,
  ): Promise<Page<FiringDto>> {
    await this.require(id, towns);
    const { limit, offset } = pageWindow(query);
    const [rows, total] = await this.repo.firingsOf(id, limit, offset);
    return {
      items: rows.map((f) => ({
        fireAt: isoTime(f.fireAt),
        outcome: f.outcome,
        broadcastId: f.broadcastId,
        reason: f.reason,
      })),
      total,
      limit,
      offset,
    };
  }

  /** Handles every firing due by `now`. Overlapping calls share the one running. */
  tick(now: Date = this.clock.now()): Promise<void> {
    if (!this.ticking)
      this.ticking = this.runTick(now.getTime()).finally(() => (this.ticking = null));
    return this.ticking;
  }

  private async runTick(now: number): Promise<void> {
    for (const s of await this.repo.enabled()) {
      const from = s.lastFireAt ?? s.createdAt;
      const due = fireTimesBetween(s.cron, s.timeZone, from, now, CATCH_UP_MAX);
      for (const fireAt of due) await this.fire(s, fireAt, now);
      if (due.length) await this.repo.advance(s.id, due[due.length - 1]);
    }
  }

  private async fire(s: ScheduleEntity, fireAt: number, now: number): Promise<void> {
    const template = JSON.parse(s.template) as ScheduleTemplateDto;
    const windowMs = this.windowMs(template);
    const actor = `schedule:${s.name}`.slice(0, 100);
    if (fireAt + windowMs <= now) {
      if (
        await this.repo.record({
          scheduleId: s.id,
          fireAt,
          outcome: 'missed',
          broadcastId: null,
          reason: 'no server was running in its window',
          createdAt: now,
        })
      ) {
        this.logger.warn(
          `schedule=${s.id} firing at ${isoTime(fireAt)} missed: its window closed at ${isoTime(fireAt + windowMs)}`,
        );
        await this.audit.record({
          actor: 'scheduler',
          action: 'schedule.missed',
          subject: s.id,
          detail: { fireAt: isoTime(fireAt) },
        });
      }
      return;
    }
    try {
      const b = await this.broadcasts.create(
        { ...template, startAt: fireAt, expiresAt: fireAt + windowMs },
        actor,
        {
          schedule: { id: s.id, fireAt },
          allowPastStart: true,
          // Approved once, when it was saved (or made before approvals existed): each firing
          // carries that approval and asks nobody, since nobody is there at 3 a.m.
          internal: true,
          approval:
            s.approvedBy === null
              ? undefined
              : { by: s.approvedBy, at: s.approvedAt ?? s.createdAt, draftId: null },
        },
      );
      await this.recordFired(s, fireAt, b.id, now, 'fired');
    } catch (err) {
      if (isUniqueViolation(err)) {
        // Made before: by another server, or by this one before it stopped (maybe mid-dispatch,
        // which the dispatcher resumes). The firing is recorded either way, never lost.
        const made = await this.broadcasts.ofFiring(s.id, fireAt);
        if (made) {
          await this.recordFired(s, fireAt, made.id, now, `already made (${made.status})`);
          return;
        }
      }
      const reason = (err as Error).message.slice(0, 300);
      if (
        await this.repo.record({
          scheduleId: s.id,
          fireAt,
          outcome: 'failed',
          broadcastId: null,
          reason,
          createdAt: now,
        })
      ) {
        this.logger.error(`schedule=${s.id} firing at ${isoTime(fireAt)} failed: ${reason}`);
        await this.audit.record({
          actor: 'scheduler',
          action: 'schedule.failed',
          subject: s.id,
          detail: { fireAt: isoTime(fireAt), reason },
        });
      }
    }
  }

  /** Records the firing as fired (once, whichever server or restart gets here first) and says so. */
  private async recordFired(
    s: ScheduleEntity,
    fireAt: number,
    broadcastId: string,
    now: number,
    how: string,
  ): Promise<void> {
    const recorded = await this.repo.record({
      scheduleId: s.id,
      fireAt,
      outcome: 'fired',
      broadcastId,
      reason: null,
      createdAt: now,
    });
    if (!recorded) return;
    this.logger.log(
      `schedule=${s.id} firing at ${isoTime(fireAt)} ${how}: broadcast=${broadcastId}`,
    );
    await this.audit.record({
      actor: 'scheduler',
      action: 'schedule.fired',
      subject: s.id,
      detail: { fireAt: isoTime(fireAt), broadcastId },
    });
  }

  /** How long each firing stays valid: the template's window, else its level's default. */
  private windowMs(template: Pick<ScheduleTemplateDto, 'level' | 'windowMinutes'>): number {
    const family =
      template.level === 'routine' ? 'routine' : template.level === 'test' ? 'test' : 'emergency';
    return template.windowMinutes
      ? template.windowMinutes * 60_000
      : this.config.broadcasts.defaultWindowMs[family];
  }

  /** The schedule; for a town official (`towns`), only one whose target reaches their towns. */
  private async require(
    id: string,
    towns: readonly string[] | null = null,
  ): Promise<ScheduleEntity> {
    const row = await this.repo.find(id);
    if (
      !row ||
      (towns !== null &&
        !targetReachesTowns(templateOf(row).target, towns, await this.scopeSnapshot()))
    )
      throw new NotFoundError('schedule', id);
    return row;
  }

  /** What a town official may schedule: routine or test, aimed wholly inside their towns. */
  private async requireMaySend(
    template: { level: string; target: Target },
    towns: readonly string[],
  ): Promise<void> {
    if (template.level !== 'routine' && template.level !== 'test')
      throw outOfScope(
        `A town official schedules routine and test broadcasts only, not level ${template.level}`,
      );
    if (!targetTownsWithin(template.target, towns, await this.scopeSnapshot()))
      throw outOfScope('The target reaches beyond your towns; county staff schedule that');
  }

  private async scopeSnapshot(): Promise<TargetScopeSnapshot> {
    const [villages, devices] = await Promise.all([
      // Raw rows (code and town), not entities: every read of a town official places targets.
      this.villages.matchingRefs({}),
      this.devices.targetingSnapshot(),
    ]);
    return { villages, devices };
  }

  private toDto(r: ScheduleEntity): ScheduleDto {
    const now = this.clock.now().getTime();
    return {
      id: r.id,
      name: r.name,
      cron: r.cron,
      timeZone: r.timeZone,
      enabled: r.enabled,
      template: templateOf(r),
      nextFireAt: r.enabled
        ? isoTime(nextFireTimes(r.cron, r.timeZone, Math.max(now, r.lastFireAt ?? 0), 1)[0])
        : null,
      lastFireAt: r.lastFireAt === null ? null : isoTime(r.lastFireAt),
      createdBy: r.createdBy,
      approvedBy: r.approvedBy,
      approvedAt: r.approvedAt === null ? null : isoTime(r.approvedAt),
      createdAt: isoTime(r.createdAt),
      updatedAt: isoTime(r.updatedAt),
    };
  }
}

function templateOf(r: ScheduleEntity): ScheduleTemplateDto {
  return JSON.parse(r.template) as ScheduleTemplateDto;
}

function outOfScope(message: string): DomainError<ScheduleErrorCode> {
  return new DomainError<ScheduleErrorCode>('forbidden', 'OUT_OF_SCOPE', message);
}
