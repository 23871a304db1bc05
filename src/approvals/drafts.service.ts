import { Injectable, Logger } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { AuditService } from '../audit/audit.service.js';
import type { Principal } from '../auth/auth.decorators.js';
import { ApprovalPolicyService } from '../broadcasts/approval-policy.js';
import type { BroadcastErrorCode } from '../broadcasts/broadcast-errors.js';
import { BroadcastsService, BroadcastRequest } from '../broadcasts/broadcasts.service.js';
import type { BroadcastDto, CreateBroadcastDto } from '../broadcasts/dto/broadcast.dto.js';
import type { Target } from '../broadcasts/targets.js';
import { ClipsService } from '../clips/clips.service.js';
import { Clock } from '../common/clock.js';
import { DomainError, NotFoundError, ValidationFailedError } from '../common/domain-error.js';
import { Page, pageWindow } from '../common/pagination.js';
import { Ticker } from '../common/ticker.js';
import { isoTime } from '../common/time.js';
import type { Level } from '../contract/messages.js';
import { isCountyOperator, LiveEvents } from '../live/live-events.js';
import type {
  CreateScheduleDto,
  ScheduleDto,
  UpdateScheduleDto,
} from '../schedules/dto/schedule.dto.js';
import { SchedulesService } from '../schedules/schedules.service.js';
import type { ApprovalErrorCode } from './approvals-errors.js';
import { DraftEntity, DraftKind, DraftStatus } from './draft.entity.js';
import { DraftsRepository } from './drafts.repository.js';
import type { CreateDraftDto, DraftDto, DraftQuery } from './dto/draft.dto.js';

/** How often overdue drafts expire and interrupted approvals are finished. */
export const DRAFT_TICK_MS = 15_000;

/**
 * What an alert's draft replaces (an Update that could not go out on its own): approving it ends
 * these, so the old warning keeps playing until its replacement exists.
 */
export interface DraftReplaces {
  /** Broadcasts cancelled once the draft's broadcast is made, if still running. */
  broadcasts: string[];
  /** Drafts withdrawn if still pending; the broadcast one became is cancelled. */
  drafts: string[];
  /** The end reason, e.g. `由更新替换 <identifier>`. */
  reason: string;
}

/** An approved broadcast draft's result, for the module that drafted it (alerts). */
export interface DraftBroadcastMade {
  draftId: string;
  /** The alert it was drafted for (`alertId` in its payload), if the payload names one. */
  alertId: string | null;
  broadcastId: string;
  /** Broadcasts it ended as what it replaces (an Update's draft), in order: none for most. */
  replaced: string[];
}

/**
 * Told once a broadcast draft's broadcast exists (again, when a stop interrupted the approval
 * and the tick finishes it): must be safe to run twice. A failure is logged, never the approval's.
 */
export type DraftBroadcastListener = (made: DraftBroadcastMade) => Promise<void>;

/** A broadcast draft's stored request as BroadcastsService takes it. */
function broadcastRequest(
  dto: CreateBroadcastDto & { alertId?: string; replaces?: DraftReplaces },
): BroadcastRequest {
  const { override: _ignored, alertId: _alert, replaces: _replaces, ...rest } = dto;
  return {
    ...rest,
    startAt: rest.startAt ? Date.parse(rest.startAt) : undefined,
    expiresAt: rest.expiresAt ? Date.parse(rest.expiresAt) : undefined,
  };
}

/** The alert a draft was made from (createForAlert), if it was: no person drafted it. */
function alertIdOf(d: DraftEntity): string | null {
  if (d.kind !== 'broadcast' || d.draftedByUserId !== null) return null;
  const { alertId } = JSON.parse(d.payload) as { alertId?: unknown };
  return typeof alertId === 'string' ? alertId : null;
}

/** Whether `p` is the person (or, for a draft no person made, the token) that drafted `d`. */
function isDrafter(d: DraftEntity, p: Principal): boolean {
  return d.draftedByUserId !== null ? p.userId === d.draftedByUserId : p.name === d.draftedBy;
}

/** Who acted, as an audit entry names them: the person, and the token when a machine acted. */
function actorOf(p: Principal) {
  return {
    actor: p.name,
    actorRole: p.role,
    actorUserId: p.userId,
    viaToken: p.via === 'token' ? p.tokenName : null,
  };
}

/**
 * Two-person approval: a broadcast or schedule of a level that needs it waits here as a draft
 * until a second person approves it (then it is made), rejects it, its drafter withdraws it, or it
 * expires. Approval claims the draft (`pending` → `approving`) before making anything, and makes
 * it idempotently (the broadcast under the key `draft:<id>`, a new schedule under the draft's id),
 * so a crash in between is finished by the next tick without sending twice.
 */
@Injectable()
export class DraftsService {
  private readonly logger = new Logger('approvals');
  /** Drafts this server is approving right now: the tick leaves them to the request. */
  private readonly finishing = new Set<string>();
  private readonly madeListeners: DraftBroadcastListener[] = [];

  constructor(
    private readonly repo: DraftsRepository,
    private readonly policy: ApprovalPolicyService,
    private readonly broadcasts: BroadcastsService,
    private readonly schedules: SchedulesService,
    private readonly clips: ClipsService,
    private readonly live: LiveEvents,
    private readonly audit: AuditService,
    private readonly clock: Clock,
    private readonly ticker: Ticker,
  ) {}

  /**
   * Another module (alerts, above this one) learns what an approved broadcast draft became: the
   * broadcast, and what it ended as replaced. Approvals cannot call alerts, so alerts registers.
   */
  onBroadcastMade(listener: DraftBroadcastListener): void {
    this.madeListeners.push(listener);
  }

  /** Finishes what a stop interrupted, then ticks every {@link DRAFT_TICK_MS} (the server does). */
  async start(): Promise<void> {
    await this.tick();
    this.ticker.every('drafts', DRAFT_TICK_MS, (at) => this.tick(at));
  }

  async create(input: CreateDraftDto, p: Principal): Promise<DraftDto> {
    const forms = [input.broadcast, input.schedule, input.scheduleId ?? input.changes].filter(
      (f) => f !== undefined,
    ).length;
    if (forms !== 1 || (input.scheduleId === undefined) !== (input.changes === undefined))
      throw new ValidationFailedError([
        {
          field: 'broadcast',
          rule: 'oneOf',
          message: 'give exactly one of: broadcast, schedule, or scheduleId with changes',
        },
      ]);
    const now = this.clock.now().getTime();
    let kind: DraftKind;
    let level: Level;
    let title: string;
    let payload: unknown;
    let notAfter = Infinity;
    // Checked exactly as the real create or update would check it, before anything is stored: a
    // draft the approver cannot turn into a broadcast is refused now, not after they approve it.
    if (input.broadcast) {
      const { override: _ignored, ...broadcast } = input.broadcast;
      const window = await this.broadcasts.validate(broadcastRequest(broadcast));
      kind = 'broadcast';
      level = broadcast.level;
      title = broadcast.title;
      payload = broadcast;
      notAfter = window.expiresAt;
    } else if (input.schedule) {
      await this.schedules.validateCreate(input.schedule);
      kind = 'schedule.create';
      level = input.schedule.template.level;
      title = input.schedule.name;
      payload = input.schedule;
    } else {
      const after = await this.schedules.validateUpdate(input.scheduleId!, input.changes!);
      kind = 'schedule.update';
      level = after.level;
      title = after.name;
      payload = input.changes;
    }
    if (!(await this.policy.needsApproval(level)))
      throw new DomainError<ApprovalErrorCode>(
        'conflict',
        'APPROVAL_NOT_NEEDED',
        `Level ${level} needs no approval (GET /api/approval-policy): send it directly`,
      );
    // A shared machine token names nobody: its draft could then be approved by the very person
    // who used it, signed in as themselves.
    if (p.userId === null)
      throw new DomainError<ApprovalErrorCode>(
        'forbidden',
        'DRAFTER_NOT_A_PERSON',
        'Drafting needs a person: sign in, or use a token a person owns (not a shared machine token)',
      );
    const row: DraftEntity = {
      id: randomUUID(),
      kind,
      status: 'pending',
      level,
      title,
      payload: JSON.stringify(payload),
      scheduleId: kind === 'schedule.update' ? input.scheduleId! : null,
      draftedBy: p.name,
      draftedByUserId: p.userId,
      draftedByPhone: p.phone,
      createdAt: now,
      // A broadcast draft never outlives the broadcast's own window: approved later it could not go out.
      expiresAt: Math.min(now + (await this.policy.maxWaitMs(level)), notAfter),
      decidedBy: null,
      decidedByUserId: null,
      decidedAt: null,
      reason: null,
      resultId: null,
    };
    await this.repo.insert(row);
    this.logger.log(
      `draft=${row.id} ${kind} level=${level} by=${JSON.stringify(p.name)} expires=${isoTime(row.expiresAt)}`,
    );
    await this.audit.record({
      ...actorOf(p),
      action: 'draft.create',
      subject: row.id,
      detail: { kind, level, title },
    });
    await this.notify(row);
    return this.toDto(row, p);
  }

  /**
   * Drafts the broadcast of a received alert (AlertsService), drafted by `alert:<sender>`, no
   * person: the machine was the first pair of eyes, so any county operator may approve it alone,
   * whatever the level's approval rule says. It waits until the alert's own expiry or the level's
   * maxWaitMin, whichever is later, but never past the broadcast's window.
   */
  async createForAlert(
    request: BroadcastRequest,
    draftedBy: string,
    alertId: string,
    alertExpiresAt: number | null = null,
    replaces: DraftReplaces | null = null,
  ): Promise<{ id: string; expiresAt: number }> {
    // Idempotent per alert: the intake re-runs an alert a stop interrupted.
    const earlier = await this.repo.findForAlert(alertId);
    if (earlier) return { id: earlier.id, expiresAt: earlier.expiresAt };
    const window = await this.broadcasts.validate(request, { allowPastStart: true });
    const now = this.clock.now().getTime();
    const wait = Math.max(alertExpiresAt ?? 0, now + (await this.policy.maxWaitMs(request.level)));
    const payload: CreateBroadcastDto & { alertId: string; replaces?: DraftReplaces } = {
      title: request.title,
      clipId: request.clipId,
      level: request.level,
      target: request.target,
      ...(request.startAt !== undefined ? { startAt: isoTime(request.startAt) } : {}),
      ...(request.expiresAt !== undefined ? { expiresAt: isoTime(request.expiresAt) } : {}),
      ...(request.attentionTone !== undefined ? { attentionTone: request.attentionTone } : {}),
      alertId,
      ...(replaces && (replaces.broadcasts.length || replaces.drafts.length) ? { replaces } : {}),
    };
    const row: DraftEntity = {
      id: randomUUID(),
      kind: 'broadcast',
      status: 'pending',
      level: request.level,
      title: request.title,
      payload: JSON.stringify(payload),
      scheduleId: null,
      draftedBy: draftedBy.slice(0, 100),
      draftedByUserId: null,
      draftedByPhone: null,
      createdAt: now,
      expiresAt: Math.min(wait, window.expiresAt),
      decidedBy: null,
      decidedByUserId: null,
      decidedAt: null,
      reason: null,
      resultId: null,
    };
    await this.repo.insert(row);
    this.logger.log(
      `draft=${row.id} broadcast for alert=${alertId} level=${row.level} by=${JSON.stringify(row.draftedBy)} expires=${isoTime(row.expiresAt)}`,
    );
    await this.audit.record({
      actor: row.draftedBy,
      action: 'draft.create',
      subject: row.id,
      detail: { kind: row.kind, level: row.level, title: row.title, alertId },
    });
    await this.notify(row);
    return { id: row.id, expiresAt: row.expiresAt };
  }

  /** Where an alert's draft stands: still pending, or the broadcast it became. Null: no such draft. */
  async stateOf(id: string): Promise<{ status: DraftStatus; resultId: string | null } | null> {
    const d = await this.repo.find(id);
    return d && { status: d.status, resultId: d.resultId };
  }

  /**
   * Withdraws an alert's pending draft because a later message replaced or cancelled the alert.
   * False when it was no longer pending.
   */
  async withdrawForAlert(id: string, reason: string, by: string): Promise<boolean> {
    const d = await this.repo.find(id);
    if (!d || alertIdOf(d) === null) return false;
    const patch = {
      status: 'withdrawn' as const,
      decidedBy: by.slice(0, 100),
      decidedByUserId: null,
      decidedAt: this.clock.now().getTime(),
      reason: reason.slice(0, 500),
    };
    if (!(await this.repo.transition(id, 'pending', patch))) return false;
    this.logger.log(`draft=${id} withdrawn: ${reason}`);
    await this.audit.record({
      actor: patch.decidedBy,
      action: 'draft.withdraw',
      subject: id,
      detail: { kind: d.kind, level: d.level, draftedBy: d.draftedBy, reason },
    });
    await this.notify({ ...d, ...patch });
    return true;
  }

  /** County operators and admins see every draft; anyone else only their own. */
  async list(query: DraftQuery, p: Principal): Promise<Page<DraftDto>> {
    const { limit, offset } = pageWindow(query);
    const [rows, total] = await this.repo.list(
      {
        status: (query.status ?? 'pending') === 'pending' ? 'pending' : undefined,
        draftedBy: isCountyOperator(p) ? undefined : { userId: p.userId, name: p.name },
      },
      limit,
      offset,
    );
    const items = await Promise.all(rows.map((r) => this.toDto(r, p)));
    return { items, total, limit, offset };
  }

  async get(id: string, p: Principal): Promise<DraftDto> {
    const d = await this.require(id);
    if (!isCountyOperator(p) && !isDrafter(d, p)) throw new NotFoundError('draft', id);
    return this.toDto(d, p);
  }

  /** A second person approves: the broadcast goes out (or the schedule is saved) now. */
  async approve(
    id: string,
    p: Principal,
  ): Promise<{ draft: DraftDto; broadcast?: BroadcastDto; schedule?: ScheduleDto }> {
    const d = await this.decidable(id, p);
    const now = this.clock.now().getTime();
    const decision = { decidedBy: p.name, decidedByUserId: p.userId, decidedAt: now };
    if (!(await this.repo.transition(id, 'pending', { status: 'approving', ...decision })))
      throw this.notPending(await this.require(id));
    const claimed: DraftEntity = { ...d, status: 'approving', ...decision };
    this.finishing.add(id);
    try {
      const result = await this.finish(claimed);
      await this.audit.record({
        ...actorOf(p),
        action: 'draft.approve',
        subject: id,
        detail: {
          kind: d.kind,
          level: d.level,
          title: d.title,
          draftedBy: d.draftedBy,
          approvedBy: p.name,
          resultId: result.broadcast?.id ?? result.schedule?.id,
        },
      });
      return { draft: await this.toDto(await this.require(id), p), ...result };
    } finally {
      this.finishing.delete(id);
    }
  }

  async reject(id: string, reason: string, p: Principal): Promise<DraftDto> {
    const d = await this.decidable(id, p);
    const now = this.clock.now().getTime();
    const patch = {
      status: 'rejected' as const,
      decidedBy: p.name,
      decidedByUserId: p.userId,
      decidedAt: now,
      reason,
    };
    if (!(await this.repo.transition(id, 'pending', patch)))
      throw this.notPending(await this.require(id));
    this.logger.log(`draft=${id} rejected by=${JSON.stringify(p.name)}`);
    await this.audit.record({
      ...actorOf(p),
      action: 'draft.reject',
      subject: id,
      detail: { kind: d.kind, level: d.level, draftedBy: d.draftedBy, rejectedBy: p.name, reason },
    });
    const row = { ...d, ...patch };
    await this.notify(row);
    return this.toDto(row, p);
  }

  /** The drafter takes it back before anyone decided. */
  async withdraw(id: string, p: Principal): Promise<DraftDto> {
    const d = await this.require(id);
    if (!isDrafter(d, p))
      throw new DomainError<ApprovalErrorCode>(
        'forbidden',
        'NOT_THE_DRAFTER',
        `Only ${d.draftedBy}, who drafted it, may withdraw draft ${id}`,
      );
    const patch = {
      status: 'withdrawn' as const,
      decidedBy: p.name,
      decidedByUserId: p.userId,
      decidedAt: this.clock.now().getTime(),
    };
    if (!(await this.repo.transition(id, 'pending', patch))) throw this.notPending(d);
    await this.audit.record({
      ...actorOf(p),
      action: 'draft.withdraw',
      subject: id,
      detail: { kind: d.kind, level: d.level, draftedBy: d.draftedBy },
    });
    const row = { ...d, ...patch };
    await this.notify(row);
    return this.toDto(row, p);
  }

  /** Expires overdue drafts and finishes approvals a stop interrupted. Overlapping calls are harmless. */
  async tick(now: Date = this.clock.now()): Promise<void> {
    const at = now.getTime();
    for (const d of await this.repo.overdue(at)) {
      if (!(await this.repo.transition(d.id, 'pending', { status: 'expired', decidedAt: at })))
        continue;
      this.logger.log(`draft=${d.id} expired unapproved`);
      await this.audit.record({
        actor: 'server',
        action: 'draft.expire',
        subject: d.id,
        detail: { kind: d.kind, level: d.level, draftedBy: d.draftedBy },
      });
      await this.notify({ ...d, status: 'expired' });
    }
    for (const d of await this.repo.withStatus('approving')) {
      if (this.finishing.has(d.id)) continue;
      this.finishing.add(d.id);
      try {
        this.logger.warn(`draft=${d.id} was left approving (a stop mid-approval): finishing it`);
        await this.finish(d);
      } catch (err) {
        this.logger.error(`draft=${d.id} not finished: ${(err as Error).message}`);
      } finally {
        this.finishing.delete(d.id);
      }
    }
  }

  /** Makes what an `approving` draft asks for, then marks it approved; safe to run twice. */
  private async finish(
    d: DraftEntity,
  ): Promise<{ broadcast?: BroadcastDto; schedule?: ScheduleDto }> {
    const approval = { by: d.decidedBy ?? 'unknown', at: d.decidedAt ?? d.createdAt };
    let result: { broadcast?: BroadcastDto; schedule?: ScheduleDto };
    try {
      if (d.kind === 'broadcast') {
        const broadcast = await this.broadcasts.create(
          broadcastRequest(JSON.parse(d.payload) as CreateBroadcastDto),
          d.draftedBy,
          {
            idempotency: { key: `draft:${d.id}`, owner: 'drafts' },
            approval: { ...approval, draftId: d.id },
            // Approved late within its window, an emergency still goes out, at once.
            allowPastStart: true,
          },
        );
        const replaced = await this.endReplaced(d);
        result = { broadcast };
        await this.tellMade(d, broadcast.id, replaced);
      } else if (d.kind === 'schedule.create') {
        const schedule = await this.schedules.create(
          JSON.parse(d.payload) as CreateScheduleDto,
          d.draftedBy,
          { approval, id: d.id },
        );
        result = { schedule };
      } else {
        const schedule = await this.schedules.update(
          d.scheduleId!,
          JSON.parse(d.payload) as UpdateScheduleDto,
          { approval },
        );
        result = { schedule };
      }
    } catch (err) {
      // Things changed since it was drafted (clip deleted, schedule gone, window closed): it can
      // never be made, so it ends here with the reason rather than being retried forever.
      if (err instanceof DomainError) {
        const reason = `could not be made after approval: ${err.message}`.slice(0, 500);
        if (await this.repo.transition(d.id, 'approving', { status: 'rejected', reason })) {
          this.logger.warn(`draft=${d.id} ${reason}`);
          await this.notify({ ...d, status: 'rejected', reason });
        }
      }
      throw err;
    }
    const resultId = result.broadcast?.id ?? result.schedule!.id;
    if (await this.repo.transition(d.id, 'approving', { status: 'approved', resultId })) {
      this.logger.log(
        `draft=${d.id} approved by=${JSON.stringify(approval.by)} drafted by=${JSON.stringify(d.draftedBy)}: ${d.kind}=${resultId}`,
      );
      await this.notify({ ...d, status: 'approved', resultId });
    }
    return result;
  }

  /** Tells the {@link onBroadcastMade} listeners; their failures are logged, not the approval's. */
  private async tellMade(d: DraftEntity, broadcastId: string, replaced: string[]): Promise<void> {
    const { alertId } = JSON.parse(d.payload) as { alertId?: unknown };
    const made: DraftBroadcastMade = {
      draftId: d.id,
      alertId: typeof alertId === 'string' ? alertId : null,
      broadcastId,
      replaced,
    };
    for (const listener of this.madeListeners)
      await listener(made).catch((err: Error) =>
        this.logger.error(`draft=${d.id} approved, but a listener failed: ${err.message}`),
      );
  }

  /**
   * Ends what an alert's draft replaces (an Update's), once its own broadcast exists; safe to run
   * twice: what already ended is left alone. Returns the broadcasts it ended (also those an
   * earlier run ended with the same reason, so a second run answers the same).
   */
  private async endReplaced(d: DraftEntity): Promise<string[]> {
    const { replaces } = JSON.parse(d.payload) as { replaces?: DraftReplaces };
    if (!replaces || alertIdOf(d) === null) return [];
    const ended: string[] = [];
    const by = d.draftedBy;
    const broadcastIds = new Set(replaces.broadcasts);
    for (const id of replaces.drafts) {
      if (await this.withdrawForAlert(id, replaces.reason, by)) continue;
      const other = await this.repo.find(id);
      if (other?.resultId && other.kind === 'broadcast') broadcastIds.add(other.resultId);
    }
    const reason = replaces.reason.slice(0, 200);
    for (const id of broadcastIds) {
      const b = await this.broadcasts.get(id).catch(() => null);
      if (b?.status === 'cancelled' && b.endReason === reason && b.cancelledBy === by)
        ended.push(id);
      if (!b || !['scheduled', 'dispatching', 'active'].includes(b.status)) continue;
      try {
        await this.broadcasts.cancel(id, reason, by);
        ended.push(id);
        this.logger.log(`draft=${d.id} approved: cancelled broadcast=${id} it replaces`);
      } catch (err) {
        // Ended on its own in the meantime: nothing left to stop.
        if (!(err instanceof DomainError) || err.code !== ('BROADCAST_ENDED' as BroadcastErrorCode))
          throw err;
      }
    }
    return ended;
  }

  /** The draft, if `p` may decide it now; else why not, as the error to answer. */
  private async decidable(id: string, p: Principal): Promise<DraftEntity> {
    const d = await this.require(id);
    const refusal = this.refusal(d, p);
    if (refusal) throw refusal;
    if (d.status !== 'pending') throw this.notPending(d);
    const now = this.clock.now().getTime();
    if (now >= d.expiresAt) {
      if (await this.repo.transition(id, 'pending', { status: 'expired', decidedAt: now }))
        await this.notify({ ...d, status: 'expired' });
      throw new DomainError<ApprovalErrorCode>(
        'conflict',
        'DRAFT_EXPIRED',
        `Draft ${id} expired at ${isoTime(d.expiresAt)} unapproved; draft it again`,
      );
    }
    return d;
  }

  /** Why `p` may not approve or reject `d`, whatever its status; null when they may. */
  private refusal(d: DraftEntity, p: Principal): DomainError<ApprovalErrorCode> | null {
    if (p.userId === null)
      return new DomainError<ApprovalErrorCode>(
        'forbidden',
        'APPROVER_NOT_A_PERSON',
        'Approving needs a person: sign in, or use a token a person owns (not a shared machine token)',
      );
    // An alert's draft was drafted by no person: any county operator is its second pair of eyes.
    const byMachine = d.draftedByUserId === null && alertIdOf(d) !== null;
    if (!byMachine && (d.draftedByUserId === null || p.userId === d.draftedByUserId))
      return new DomainError<ApprovalErrorCode>(
        'forbidden',
        'SELF_APPROVAL',
        'You drafted it: a second person must decide it',
      );
    if (p.phone !== null && d.draftedByPhone !== null && p.phone === d.draftedByPhone)
      return new DomainError<ApprovalErrorCode>(
        'forbidden',
        'SELF_APPROVAL',
        'Your account has the drafter’s phone number, so it counts as the same person: a second person must decide it',
      );
    return null;
  }

  private notPending(d: DraftEntity): DomainError<ApprovalErrorCode> {
    return new DomainError<ApprovalErrorCode>(
      'conflict',
      'DRAFT_NOT_PENDING',
      `Draft ${d.id} is ${d.status}, no longer pending`,
    );
  }

  /** Tells county operators and the drafter that drafts changed (the dashboard's count and queue). */
  private async notify(d: DraftEntity): Promise<void> {
    const pending = await this.repo.countPending();
    this.live.publish(
      'drafts',
      { pending, changed: [d.id] },
      (p) => isCountyOperator(p) || isDrafter(d, p),
    );
  }

  private async require(id: string): Promise<DraftEntity> {
    const d = await this.repo.find(id);
    if (!d) throw new NotFoundError('draft', id);
    return d;
  }

  private async toDto(d: DraftEntity, p: Principal): Promise<DraftDto> {
    const payload = JSON.parse(d.payload) as Record<string, unknown>;
    const plays = await this.playsWhat(d, payload);
    const [clip, reach] = await Promise.all([
      plays ? this.clips.get(plays.clipId).catch(() => null) : null,
      plays ? this.broadcasts.previewTarget(plays.target).catch(() => null) : null,
    ]);
    const now = this.clock.now().getTime();
    const whyNot =
      d.status !== 'pending'
        ? `It is ${d.status}`
        : now >= d.expiresAt
          ? 'It has expired'
          : !isCountyOperator(p)
            ? 'Only county operators and admins approve'
            : (this.refusal(d, p)?.message ?? null);
    return {
      id: d.id,
      kind: d.kind,
      status: d.status,
      level: d.level,
      title: d.title,
      payload,
      scheduleId: d.scheduleId,
      draftedBy: d.draftedBy,
      createdAt: isoTime(d.createdAt),
      expiresAt: isoTime(d.expiresAt),
      decidedBy: d.decidedBy,
      decidedAt: d.decidedAt === null ? null : isoTime(d.decidedAt),
      reason: d.reason,
      resultId: d.resultId,
      clip: clip && { id: clip.id, name: clip.title, durationMs: clip.durationMs },
      reach: reach && { villages: reach.villages, devices: reach.devices, online: reach.online },
      mayApprove: whyNot === null,
      whyNot,
      mayWithdraw: d.status === 'pending' && now < d.expiresAt && isDrafter(d, p),
    };
  }

  /** The clip and target the draft would play: a schedule update's may be the schedule's own. */
  private async playsWhat(
    d: DraftEntity,
    payload: Record<string, unknown>,
  ): Promise<{ clipId: string; target: Target } | null> {
    if (d.kind === 'broadcast') return payload as unknown as { clipId: string; target: Target };
    const template =
      (payload.template as { clipId: string; target: Target } | undefined) ??
      (d.scheduleId
        ? await this.schedules.get(d.scheduleId).then(
            (s) => s.template,
            () => null,
          )
        : null);
    return template ?? null;
  }
}
