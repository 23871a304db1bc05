/** Entities to the API's response DTOs (pure): the one place each is mapped. */
import { isoTime } from '../common/time.js';
import type { DeliveryState } from '../contract/messages.js';
import type {
  BroadcastEntity,
  DeliveryEntity,
  DeliveryEventEntity,
  ManualConfirmationEntity,
} from './broadcast.entity.js';
import type {
  BroadcastDto,
  DeliveryDto,
  DeliveryEventDto,
  ManualConfirmationDto,
} from './dto/broadcast.dto.js';
import type { Target } from './targets.js';
import type { ApprovalDto } from './dto/approval-policy.dto.js';

const isoOrNull = (ms: number | null) => (ms === null ? null : isoTime(ms));

/** A broadcast with how many villages it targets and its deliveries counted by state. */
export function toBroadcastDto(
  b: BroadcastEntity,
  villages: number,
  deliveries: Partial<Record<DeliveryState, number>>,
): BroadcastDto {
  return {
    id: b.id,
    title: b.title,
    clipId: b.clipId,
    level: b.level,
    target: JSON.parse(b.target) as Target,
    startAt: isoTime(b.startAt),
    expiresAt: isoTime(b.expiresAt),
    repeat: b.repeat,
    volume: b.volume,
    attentionTone: b.attentionTone,
    status: b.status,
    outcome: b.outcome,
    endReason: b.endReason,
    cancelledBy: b.cancelledBy,
    audio: b.audioSha256
      ? { sha256: b.audioSha256, bytes: b.audioBytes!, durationMs: b.audioDurationMs! }
      : null,
    villages,
    deliveries,
    scheduleId: b.scheduleId,
    resendOf: b.resendOf,
    createdBy: b.createdBy,
    approval: approvalOf(b),
    createdAt: isoTime(b.createdAt),
    dispatchedAt: isoOrNull(b.dispatchedAt),
    endedAt: isoOrNull(b.endedAt),
  };
}

/** How a broadcast of a level needing a second person got out; null when it needed none. */
export function approvalOf(
  b: Pick<
    BroadcastEntity,
    'overrideReason' | 'approvedBy' | 'approvedAt' | 'createdBy' | 'createdAt' | 'draftId'
  >,
): ApprovalDto | null {
  if (b.overrideReason !== null)
    return {
      mode: 'override',
      by: b.createdBy,
      at: isoTime(b.createdAt),
      reason: b.overrideReason,
      draftId: null,
    };
  if (b.approvedBy !== null)
    return {
      mode: 'approved',
      by: b.approvedBy,
      at: isoTime(b.approvedAt ?? b.createdAt),
      reason: null,
      draftId: b.draftId,
    };
  return null;
}

export function toDeliveryDto(d: DeliveryEntity): DeliveryDto {
  return {
    id: d.id,
    deviceId: d.deviceId,
    villageCode: d.villageCode,
    state: d.state,
    reason: d.reason,
    attempts: d.attempts,
    resumes: d.resumes,
    heldUntil: isoOrNull(d.heldUntil),
    sentAt: isoOrNull(d.sentAt),
    receivedAt: isoOrNull(d.receivedAt),
    startedAt: isoOrNull(d.startedAt),
    playedAt: isoOrNull(d.playedAt),
    updatedAt: isoTime(d.updatedAt),
  };
}

export function toDeliveryEventDto(e: DeliveryEventEntity): DeliveryEventDto {
  return {
    from: e.fromState,
    to: e.toState,
    source: e.source,
    deviceAt: isoOrNull(e.deviceTs),
    serverAt: isoTime(e.serverTs),
    reason: e.reason,
    anomaly: e.anomaly,
  };
}

export function toConfirmationDto(c: ManualConfirmationEntity): ManualConfirmationDto {
  return {
    id: c.id,
    villageCode: c.villageCode,
    deviceId: c.deviceId,
    method: c.method,
    heardAt: isoTime(c.confirmedAt),
    confirmedBy: c.confirmedBy,
    recordedBy: c.recordedBy ?? c.confirmedBy,
    note: c.note,
    manual: true,
    withdrawn:
      c.withdrawnAt === null
        ? null
        : { at: isoTime(c.withdrawnAt), by: c.withdrawnBy ?? '', reason: c.withdrawReason ?? '' },
    createdAt: isoTime(c.createdAt),
  };
}
