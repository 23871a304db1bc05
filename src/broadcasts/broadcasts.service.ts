import { Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { createHash, randomUUID } from 'node:crypto';
import type { AppConfig } from '../config/app-config.js';
import { InjectConfig } from '../config/config.module.js';
import type { Level } from '../contract/messages.js';
import { AuditService } from '../audit/audit.service.js';
import { ClipsService } from '../clips/clips.service.js';
import { Clock } from '../common/clock.js';
import {
  DomainError,
  FieldProblem,
  NotFoundError,
  ValidationFailedError,
} from '../common/domain-error.js';
import { Page, pageWindow } from '../common/pagination.js';
import { isoTime } from '../common/time.js';
import type { DeviceType } from '../contract/device.js';
import { DevicesService } from '../devices/devices.service.js';
import { PresenceService } from '../devices/presence.service.js';
import { VillagesService } from '../villages/villages.service.js';
import { ApprovalPolicyService } from './approval-policy.js';
import type { BroadcastErrorCode } from './broadcast-errors.js';
import { BroadcastEvents } from './broadcast-events.js';
import { UNSETTLED } from './broadcast-outcome.js';
import { BroadcastEntity } from './broadcast.entity.js';
import { BroadcastReadsRepository } from './broadcast-reads.repository.js';
import { BroadcastScope } from './broadcast-scope.js';
import { BroadcastsRepository } from './broadcasts.repository.js';
import { BroadcastDispatcher } from './dispatcher.js';
import { toBroadcastDto, toDeliveryDto, toDeliveryEventDto } from './broadcast-dto.js';
import type {
  BroadcastDto,
  BroadcastQuery,
  DeliveryDto,
  DeliveryEventDto,
  DeliveryQuery,
  TargetPreviewDto,
} from './dto/broadcast.dto.js';
import { heldByQuietHours, QuietHolds, quietHeldVillages } from '../common/quiet-hours.js';
import { narrowTarget, resolveTargets, Target } from './targets.js';

/** What a broadcast is made of, from the API or from a schedule's template. */
export interface BroadcastRequest {
  title: string;
  clipId: string;
  level: Level;
  target: Target;
  startAt?: number;
  expiresAt?: number;
  repeat?: number;
  volume?: number | null;
  attentionTone?: boolean;
}

export interface CreateOptions {
  schedule?: { id: string; fireAt: number };
  allowPastStart?: boolean;
  /** The client's Idempotency-Key, and whose it is (the token). */
  idempotency?: { key: string; owner: string };
  /** The broadcast whose uncovered villages this one is resent to. */
  resendOf?: string;
  /** A town official's towns: routine or test only, and the target within them. */
  towns?: readonly string[] | null;
  /** Who asked, beyond their name, for the audit entry of an override. */
  actor?: { actorRole: string; actorUserId: string | null; viaToken: string | null };
  /** Sent at once although its level needs a second person, for this reason (flagged everywhere). */
  override?: { reason: string };
  /** A second person approved it (its draft, or the schedule that fires it). */
  approval?: { by: string; at: number; draftId: string | null };
  /**
   * Made by the server from something already sent or approved (a resend, a schedule's firing):
   * nobody is there to ask.
   */
  internal?: boolean;
}

/** A start this far in the past still counts as "now" (clocks differ a little). */
const START_SLACK_MS = 60_000;
/** An Idempotency-Key: what a client can make up for each request, and no more. */
const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,100}$/;

/** Broadcasts as the API sees them: create, list, cancel (confirming by hand: ConfirmationsService). The dispatcher does the rest. */
@Injectable()
export class BroadcastsService implements OnModuleInit {
  private readonly logger = new Logger('broadcasts');

  constructor(
    private readonly repo: BroadcastsRepository,
    private readonly reads: BroadcastReadsRepository,
    private readonly scope: BroadcastScope,
    private readonly dispatcher: BroadcastDispatcher,
    private readonly clips: ClipsService,
    private readonly villages: VillagesService,
    private readonly devices: DevicesService,
    private readonly presence: PresenceService,
    private readonly events: BroadcastEvents,
    private readonly policy: ApprovalPolicyService,
    private readonly audit: AuditService,
    private readonly clock: Clock,
    @InjectConfig() private readonly config: AppConfig,
  ) {}

  onModuleInit(): void {
    this.clips.registerUsageCheck(async (clipId) => {
      const b = await this.reads.liveBroadcastOfClip(clipId);
      return b ? `broadcast ${b.id} ("${b.title}") is ${b.status}` : null;
    });
  }

  /**
   * Creates a broadcast: valid only for a ready clip and a window that has not closed. One that
   * starts now (or within the prefetch window) is dispatched before this returns. A level that
   * needs a second person is refused (409 APPROVAL_REQUIRED) unless it was approved, is made by the
   * server from something already sent or approved, or overrides the rule with a reason.
   */
  async create(
    request: BroadcastRequest,
    by: string,
    options: CreateOptions = {},
  ): Promise<BroadcastDto> {
    const now = this.clock.now().getTime();
    const requestKey = options.idempotency ? requestKeyOf(options.idempotency) : null;
    if (requestKey) {
      const earlier = await this.reads.findByRequestKey(requestKey);
      if (earlier) return this.repeated(earlier, request);
    }
    const { startAt, expiresAt, family } = await this.check(request, options, now);
    const checked = !options.approval && !options.internal;
    const overridden = checked && (await this.policy.needsApproval(request.level));
    if (overridden && !options.override)
      await this.policy.requireNoApproval(request.level, 'broadcast');
    // Going out without a second person is a county operator's call, never a town official's.
    if (overridden && options.towns != null)
      throw new DomainError<BroadcastErrorCode>(
        'forbidden',
        'OUT_OF_SCOPE',
        'An emergency override is for county operators; submit it for approval instead',
      );
    const b: BroadcastEntity = {
      id: randomUUID(),
      title: request.title,
      clipId: request.clipId,
      level: request.level,
      target: JSON.stringify(request.target),
      startAt,
      expiresAt,
      repeat: request.repeat ?? 1,
      volume: request.volume ?? null,
      attentionTone: request.attentionTone ?? family === 'emergency',
      status: 'scheduled',
      audioSha256: null,
      audioBytes: null,
      audioDurationMs: null,
      scheduleId: options.schedule?.id ?? null,
      fireAt: options.schedule?.fireAt ?? null,
      createdBy: by,
      requestKey,
      resendOf: options.resendOf ?? null,
      approvedBy: options.approval?.by ?? null,
      approvedAt: options.approval?.at ?? null,
      draftId: options.approval?.draftId ?? null,
      overrideReason: overridden ? options.override!.reason : null,
      endReason: null,
      cancelledBy: null,
      createdAt: now,
      updatedAt: now,
      dispatchedAt: null,
      endedAt: null,
      ...UNSETTLED,
    };
    try {
      await this.repo.insert(b);
    } catch (err) {
      // The same request twice at once: the first one in made it.
      const earlier = requestKey && (await this.reads.findByRequestKey(requestKey));
      if (earlier) return this.repeated(earlier, request);
      throw err;
    }
    this.logger.log(
      `broadcast=${b.id} created level=${b.level} by=${JSON.stringify(by)} start=${isoTime(startAt)} expires=${isoTime(expiresAt)}` +
        (b.overrideReason ? ' OVERRIDE (no second person)' : '') +
        (b.draftId ? ` draft=${b.draftId} approvedBy=${JSON.stringify(b.approvedBy)}` : ''),
    );
    if (b.overrideReason) {
      await this.audit.record({
        actor: by,
        ...options.actor,
        action: 'broadcast.override',
        subject: b.id,
        detail: { level: b.level, title: b.title, reason: b.overrideReason },
      });
      this.events.emitOverride({
        broadcastId: b.id,
        title: b.title,
        level: b.level,
        by,
        reason: b.overrideReason,
        at: now,
      });
    }
    this.events.emit({ kind: 'broadcast', broadcastId: b.id, status: 'scheduled', at: now });
    if (startAt - this.config.broadcasts.prefetchMs <= now) await this.dispatcher.dispatch(b, now);
    return this.get(b.id);
  }

  /**
   * Checks a broadcast as {@link create} would, without making it (a draft is checked this way
   * before it is stored): the window it would get, or the same 400 create would answer.
   */
  async validate(
    request: BroadcastRequest,
    options: Pick<CreateOptions, 'allowPastStart' | 'towns'> = {},
  ): Promise<{ startAt: number; expiresAt: number }> {
    const { startAt, expiresAt } = await this.check(request, options, this.clock.now().getTime());
    return { startAt, expiresAt };
  }

  private async check(
    request: BroadcastRequest,
    options: Pick<CreateOptions, 'allowPastStart' | 'towns'>,
    now: number,
  ): Promise<{ startAt: number; expiresAt: number; family: 'routine' | 'test' | 'emergency' }> {
    await this.validateTarget(request.target);
    await this.scope.requireSendable(request.level, request.target, options.towns ?? null);
    await this.requireClip(request.clipId);
    const startAt = request.startAt ?? now;
    if (!options.allowPastStart && startAt < now - START_SLACK_MS) {
      throw new ValidationFailedError([
        {
          field: 'startAt',
          rule: 'future',
          message: 'startAt is in the past; leave it out to start now',
        },
      ]);
    }
    const family =
      request.level === 'routine' ? 'routine' : request.level === 'test' ? 'test' : 'emergency';
    const expiresAt =
      request.expiresAt ?? Math.max(startAt, now) + this.config.broadcasts.defaultWindowMs[family];
    if (expiresAt <= Math.max(startAt, now)) {
      throw new ValidationFailedError([
        {
          field: 'expiresAt',
          rule: 'afterStart',
          message: 'expiresAt must be after startAt and in the future',
        },
      ]);
    }
    return { startAt, expiresAt, family };
  }

  /**
   * Newest first. A town official (`towns`) sees the broadcasts reaching their towns, each
   * counted over their villages only: county figures are not theirs to see.
   */
  async list(
    query: BroadcastQuery,
    towns: readonly string[] | null = null,
  ): Promise<Page<BroadcastDto>> {
    const { limit, offset } = pageWindow(query);
    const filter = { status: query.status, level: query.level };
    if (towns === null) {
      const [rows, total] = await this.repo.list(filter, limit, offset);
      return { items: await this.toDtos(rows), total, limit, offset };
    }
    const codes = (await this.scope.villageCodes(towns))!;
    const [rows, total] = await this.reads.listReaching(
      filter,
      codes,
      await this.scope.undispatchedReaching(towns),
      limit,
      offset,
    );
    return { items: await this.toDtos(rows, codes), total, limit, offset };
  }

  /** A town official gets 404 for a broadcast reaching none of their towns, and their villages' counts. */
  async get(id: string, towns: readonly string[] | null = null): Promise<BroadcastDto> {
    const b = await this.requireVisible(id, towns);
    return (await this.toDtos([b], (await this.scope.villageCodes(towns)) ?? undefined))[0];
  }

  /** The part of a target that reaches exactly these of its villages (see {@link narrowTarget}). */
  async narrowTarget(target: Target, villageCodes: string[]): Promise<Target> {
    const [villages, devices] = await Promise.all([
      this.villages.targetingSnapshot(),
      this.devices.targetingSnapshot(),
    ]);
    return narrowTarget(target, villageCodes, villages, devices);
  }

  /** A resend of this broadcast that is still scheduled, being sent or playing, if any. */
  async openResendOf(id: string): Promise<{ id: string; status: string } | null> {
    const open = await this.reads.openResendOf(id);
    return open && { id: open.id, status: open.status };
  }

  /** How many villages and devices a target reaches now (the form shows it before sending). */
  async previewTarget(
    target: Target,
    towns: readonly string[] | null = null,
  ): Promise<TargetPreviewDto> {
    await this.validateTarget(target);
    await this.scope.requireSendable(null, target, towns);
    const [villages, devices] = await Promise.all([
      this.villages.targetingSnapshot(),
      this.devices.targetingSnapshot(),
    ]);
    const resolved = resolveTargets(target, villages, devices);
    const chosen = new Set(resolved.deviceIds);
    const byType: Partial<Record<DeviceType, number>> = {};
    for (const d of devices) if (chosen.has(d.id)) byType[d.type] = (byType[d.type] ?? 0) + 1;
    return {
      villages: resolved.villageCodes.length,
      devices: resolved.deviceIds.length,
      byType,
      online: resolved.deviceIds.filter((id) => this.presence.get(id)?.online).length,
    };
  }

  /**
   * The broadcast an Idempotency-Key already made, if any: a resend checks this before it works out
   * what is still uncovered, since the first resend itself changes nothing about the original.
   */
  async findRequested(idempotency: { key: string; owner: string }): Promise<BroadcastDto | null> {
    const earlier = await this.reads.findByRequestKey(requestKeyOf(idempotency));
    return earlier ? this.get(earlier.id) : null;
  }

  /** The answer to a request sent again with its Idempotency-Key: what the first one made. */
  private repeated(earlier: BroadcastEntity, request: BroadcastRequest): Promise<BroadcastDto> {
    const same =
      earlier.title === request.title &&
      earlier.clipId === request.clipId &&
      earlier.level === request.level &&
      earlier.target === JSON.stringify(request.target);
    if (!same)
      throw new DomainError<BroadcastErrorCode>(
        'conflict',
        'IDEMPOTENCY_KEY_REUSED',
        `This Idempotency-Key already created broadcast ${earlier.id} with a different title, clip, level or target; use a new key for a new broadcast`,
      );
    this.logger.log(
      `broadcast=${earlier.id} requested again with its Idempotency-Key: not created twice`,
    );
    return this.get(earlier.id);
  }

  /** The broadcast a schedule's firing made, if it made one. */
  async ofFiring(scheduleId: string, fireAt: number): Promise<BroadcastDto | null> {
    const b = await this.reads.findByFiring(scheduleId, fireAt);
    return b ? this.get(b.id) : null;
  }

  /**
   * Several broadcasts at once, in no particular order; unknown ids are left out. With `towns`,
   * each is counted over those towns' villages only, as {@link get} does for a town official.
   */
  async getMany(ids: string[], towns: readonly string[] | null = null): Promise<BroadcastDto[]> {
    const rows = await this.repo.findMany(ids);
    if (towns === null) return this.toDtos(rows);
    return this.toDtos(rows, (await this.scope.villageCodes(towns)) ?? undefined);
  }

  /** Cancels with a reason (staff and the devices' `stop` see it) and who cancelled, both kept. */
  async cancel(
    id: string,
    reason: string,
    by: string,
    towns: readonly string[] | null = null,
  ): Promise<BroadcastDto> {
    const b = await this.requireVisible(id, towns);
    // A town official calls off only what they could have sent: not the county's broadcasts.
    await this.scope.requireSendable(b.level, JSON.parse(b.target) as Target, towns);
    const cancelled = await this.dispatcher.cancel(b, reason, by, this.clock.now().getTime());
    if (!cancelled) {
      const current = await this.require(id);
      if (current.status !== 'cancelled')
        throw new DomainError<BroadcastErrorCode>(
          'conflict',
          'BROADCAST_ENDED',
          `Broadcast ${id} has already ended (${current.status})`,
        );
    }
    return this.get(id, towns);
  }

  async deliveries(
    id: string,
    query: DeliveryQuery,
    towns: readonly string[] | null = null,
  ): Promise<Page<DeliveryDto>> {
    await this.requireVisible(id, towns);
    const { limit, offset } = pageWindow(query);
    const [rows, total] = await this.reads.listDeliveries(
      id,
      { state: query.state, village: query.village },
      limit,
      offset,
      (await this.scope.villageCodes(towns)) ?? undefined,
    );
    const items = rows.map(toDeliveryDto);
    return { items, total, limit, offset };
  }

  /** A town official gets 404 for a delivery outside their villages. */
  async deliveryEvents(
    broadcastId: string,
    deliveryId: string,
    towns: readonly string[] | null = null,
  ): Promise<DeliveryEventDto[]> {
    const delivery = await this.reads.findDelivery(broadcastId, deliveryId);
    const codes = await this.scope.villageCodes(towns);
    if (!delivery || (codes && !codes.includes(delivery.villageCode)))
      throw new NotFoundError('delivery', deliveryId);
    return (await this.reads.eventsOf(deliveryId)).map(toDeliveryEventDto);
  }

  /**
   * Checks what a schedule will broadcast (target and clip) as a broadcast is checked, naming the
   * fields under `prefix`: a schedule that cannot fire is refused when it is saved, not at 3 a.m.
   * A clip still being processed is accepted: it will be ready before the first firing.
   */
  async checkTemplate(template: { target: Target; clipId: string }, prefix: string): Promise<void> {
    await this.validateTarget(template.target, `${prefix}.target`);
    const field = `${prefix}.clipId`;
    try {
      const clip = await this.clips.get(template.clipId);
      if (clip.status === 'failed')
        throw new ValidationFailedError([
          { field, rule: 'usable', message: `${field}: clip ${clip.id} failed processing` },
        ]);
    } catch (err) {
      if (err instanceof NotFoundError)
        throw new ValidationFailedError([
          { field, rule: 'exists', message: `${field}: clip ${template.clipId} does not exist` },
        ]);
      throw err;
    }
  }

  /**
   * Which targeted villages quiet hours hold back from each of `windows` (a schedule's next
   * firings), as the dispatcher would: none for an emergency, which ignores quiet hours.
   */
  async quietHolds(
    target: Target,
    level: Level,
    windows: { startAt: number; expiresAt: number }[],
    field = 'target',
  ): Promise<QuietHolds> {
    await this.validateTarget(target, field);
    const [villages, devices, refs] = await Promise.all([
      this.villages.targetingSnapshot(),
      this.devices.targetingSnapshot(),
      this.villages.refs(),
    ]);
    const resolved = resolveTargets(target, villages, devices);
    return {
      targetedVillages: resolved.villageCodes.length,
      villages: heldByQuietHours(level)
        ? quietHeldVillages(resolved.villageCodes, villages, refs, windows, this.config.timeZone)
        : [],
    };
  }

  private async requireClip(clipId: string): Promise<void> {
    try {
      await this.clips.audioOf(clipId);
    } catch (err) {
      if (err instanceof NotFoundError)
        throw new ValidationFailedError([
          { field: 'clipId', rule: 'exists', message: `clipId: clip ${clipId} does not exist` },
        ]);
      throw err;
    }
  }

  private async validateTarget(target: Target, field = 'target'): Promise<void> {
    const problems: FieldProblem[] = [];
    const any =
      target.all === true ||
      !!target.towns?.length ||
      !!target.villages?.length ||
      !!target.deviceTypes?.length ||
      !!target.devices?.length;
    if (!any)
      problems.push({
        field,
        rule: 'notEmpty',
        message: `${field} must name at least one of all, towns, villages, deviceTypes, devices`,
      });
    const missing = async (
      list: string,
      wanted: string[] | undefined,
      existing: (codes: string[]) => Promise<Set<string>>,
    ) => {
      if (!wanted?.length) return;
      const found = await existing(wanted);
      const unknown = [...new Set(wanted.filter((w) => !found.has(w)))];
      if (unknown.length) {
        problems.push({
          field: `${field}.${list}`,
          rule: 'exists',
          message: `${field}.${list}: unknown ${unknown.slice(0, 10).join(', ')}${unknown.length > 10 ? ', …' : ''}`,
        });
      }
    };
    await missing('towns', target.towns, (c) => this.villages.existingTownCodes(c));
    await missing('villages', target.villages, (c) => this.villages.existingVillageCodes(c));
    await missing('devices', target.devices, (c) => this.devices.existingIds(c));
    if (problems.length) throw new ValidationFailedError(problems);
  }

  private async require(id: string): Promise<BroadcastEntity> {
    const b = await this.repo.find(id);
    if (!b) throw new NotFoundError('broadcast', id);
    return b;
  }

  private async requireVisible(
    id: string,
    towns: readonly string[] | null,
  ): Promise<BroadcastEntity> {
    const b = await this.require(id);
    await this.scope.requireVisible(b, towns);
    return b;
  }

  /** With `villageCodes` (a town official's), villages and deliveries are counted over those only. */
  private async toDtos(rows: BroadcastEntity[], villageCodes?: string[]): Promise<BroadcastDto[]> {
    const ids = rows.map((r) => r.id);
    const [counts, villages] = await Promise.all([
      this.reads.countsByState(ids, villageCodes),
      this.reads.villageCount(ids, villageCodes),
    ]);
    return rows.map((b) => toBroadcastDto(b, villages.get(b.id) ?? 0, counts.get(b.id) ?? {}));
  }
}

/** The stored form of an Idempotency-Key: scoped to its token, and not the key itself. */
function requestKeyOf({ key, owner }: { key: string; owner: string }): string {
  if (!IDEMPOTENCY_KEY.test(key))
    throw new ValidationFailedError([
      {
        field: 'Idempotency-Key',
        rule: 'format',
        message: 'Idempotency-Key: 1 to 100 visible ASCII characters (a UUID is a good choice)',
      },
    ]);
  return createHash('sha256').update(`${owner}\n${key}`).digest('hex');
}
