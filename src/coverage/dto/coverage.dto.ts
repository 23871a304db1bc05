import { ApprovalDto } from '../../broadcasts/dto/approval-policy.dto.js';
import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Transform, Type } from 'class-transformer';
import { toQueryInt } from '../../common/query.js';
import { IsIn, IsInt, IsNumber, IsOptional, IsString, Max, MaxLength, Min } from 'class-validator';
import { DEVICE_TYPES } from '../../contract/device.js';
import { LEVELS } from '../../contract/messages.js';
import { FAILURE_REASONS, FailureCode } from '../../contract/failure-reasons.js';
import {
  BROADCAST_OUTCOMES,
  BroadcastOutcome,
  CONFIRMATION_METHODS,
  ConfirmationMethod,
} from '../../broadcasts/broadcast.entity.js';
import { UNCOVERED_REASONS, VILLAGE_OUTCOMES } from '../coverage.js';
import type { UncoveredReason, VillageOutcome } from '../coverage.js';

export const REPORT_FORMATS = ['json', 'csv', 'xlsx'] as const;
export const REPORT_LANGS = ['zh', 'en'] as const;
export type ReportFormat = (typeof REPORT_FORMATS)[number];
export type ReportLang = (typeof REPORT_LANGS)[number];

const FIRST_SOUND_AT = {
  type: String,
  format: 'date-time',
  nullable: true,
  description:
    'When a device of the village first began playing it (time to first sound); from its `played` for a device that never reported `playing`',
} as const;
const PLAYED_AT = {
  type: String,
  format: 'date-time',
  nullable: true,
  description: 'When a device of the village first played it through',
} as const;

const stateCounts = {
  type: 'object',
  additionalProperties: { type: 'integer' },
  example: { played: 3, failed: 1 },
} as const;

export class ExportQuery {
  @ApiPropertyOptional({ enum: REPORT_FORMATS, default: 'json' })
  @IsOptional()
  @IsIn(REPORT_FORMATS)
  format?: ReportFormat;

  @ApiPropertyOptional({
    enum: REPORT_LANGS,
    default: 'zh',
    description: 'CSV column headers and values: Chinese (default) or English',
  })
  @IsOptional()
  @IsIn(REPORT_LANGS)
  lang?: ReportLang;
}

export class CoverageQuery extends ExportQuery {
  @ApiPropertyOptional({
    enum: VILLAGE_OUTCOMES,
    description: 'Only villages with this outcome in `villages` (the figures cover all)',
  })
  @IsOptional()
  @IsIn(VILLAGE_OUTCOMES)
  outcome?: VillageOutcome;
}

export class PeriodQuery extends ExportQuery {
  @ApiPropertyOptional({
    description:
      'Start: a day (`2026-11-01`, from midnight in TZ_DEFAULT) or an instant with a zone. Default: 30 days before `to`',
    example: '2026-11-01',
  })
  @IsOptional()
  @IsString()
  @MaxLength(40)
  from?: string;

  @ApiPropertyOptional({
    description: 'End, exclusive: a day (included whole) or an instant with a zone. Default: now',
    example: '2026-11-30',
  })
  @IsOptional()
  @IsString()
  @MaxLength(40)
  to?: string;

  @ApiPropertyOptional({
    minimum: 0,
    maximum: 1,
    default: 0.9,
    description: 'Villages whose coverage rate is below this share are listed in belowThreshold',
  })
  @IsOptional()
  @Type(() => Number)
  @IsNumber({ allowNaN: false, allowInfinity: false })
  @Min(0)
  @Max(1)
  threshold?: number;

  @ApiPropertyOptional({
    enum: ['villages', 'broadcasts'],
    default: 'villages',
    description: 'For CSV: the per-village table or the per-broadcast table',
  })
  @IsOptional()
  @IsIn(['villages', 'broadcasts'])
  table?: 'villages' | 'broadcasts';
}

export class CoverageBroadcastDto {
  @ApiProperty({ format: 'uuid' }) id!: string;
  @ApiProperty() title!: string;
  @ApiProperty({ enum: LEVELS }) level!: string;
  @ApiProperty() status!: string;
  @ApiProperty({
    enum: BROADCAST_OUTCOMES,
    nullable: true,
    description: 'What came of it, once it ended',
  })
  outcome!: BroadcastOutcome | null;
  @ApiProperty({ format: 'date-time' }) startAt!: string;
  @ApiProperty({ format: 'date-time' }) expiresAt!: string;
  @ApiProperty({
    type: String,
    nullable: true,
    description: 'Why it ended early (the cancel reason)',
  })
  endReason!: string | null;
  @ApiProperty({ type: String, nullable: true, description: 'Who cancelled it' })
  cancelledBy!: string | null;
  @ApiProperty({
    type: ApprovalDto,
    nullable: true,
    description:
      'For a level that needed a second person: who approved it, or who sent it without one and why (`mode: override`)',
  })
  approval!: ApprovalDto | null;
}

export class TallyDto {
  @ApiProperty({ description: 'Villages targeted (fixed at dispatch)' }) targeted!: number;
  @ApiProperty({ description: 'Covered by devices or by hand' }) covered!: number;
  @ApiProperty({ description: 'Covered, with at least one device reporting played' })
  coveredByDevices!: number;
  @ApiProperty({ description: 'Covered only by a manual confirmation' }) coveredManually!: number;
  @ApiProperty({
    description:
      'A device is playing it (or was interrupted and waits to resume), none has finished; a broadcast that ended has none',
  })
  partial!: number;
  @ApiProperty() uncovered!: number;
  @ApiProperty({ type: Number, nullable: true, description: 'covered / targeted' }) rate!:
    number | null;
}

export class CoverageSummaryDto extends TallyDto {
  @ApiProperty({
    type: 'object',
    description: `Uncovered villages by reason (${UNCOVERED_REASONS.join(', ')})`,
    additionalProperties: { type: 'integer' },
  })
  uncoveredByReason!: Record<UncoveredReason, number>;
}

export class TownCoverageDto extends TallyDto {
  @ApiProperty() townCode!: string;
  @ApiProperty() townName!: string;
}

export class TypeCoverageDto {
  @ApiProperty({ enum: [...DEVICE_TYPES, 'unknown'] }) type!: string;
  @ApiProperty({ description: 'Deliveries (one per device)' }) devices!: number;
  @ApiProperty() played!: number;
  @ApiProperty({ description: 'Failed or rejected' }) failed!: number;
  @ApiProperty({ description: 'Still open' }) open!: number;
  @ApiProperty({ description: 'Villages with a device of this type in the broadcast' })
  villages!: number;
  @ApiProperty({ description: 'Of those, villages where one of them played' })
  villagesPlayed!: number;
  @ApiProperty({ type: Number, nullable: true }) rate!: number | null;
}

export class MilestoneDto {
  @ApiProperty({ example: 0.9, description: 'Share of targeted villages' }) share!: number;
  @ApiProperty({ description: 'Villages that had to have reached it' }) villages!: number;
  @ApiProperty({ type: String, format: 'date-time', nullable: true }) reachedAt!: string | null;
  @ApiProperty({ type: Number, nullable: true, description: 'Milliseconds after startAt' })
  afterMs!: number | null;
}

export class MilestonesDto {
  @ApiProperty({
    type: [MilestoneDto],
    description:
      'Time to first sound: when 50%, 90% and 100% of the targeted villages had a device begin playing it (`playing`)',
  })
  firstSound!: MilestoneDto[];
  @ApiProperty({
    type: [MilestoneDto],
    description:
      'Time to played: when 50%, 90% and 100% of the targeted villages had a device play it through (`played`)',
  })
  played!: MilestoneDto[];
}

/** Milliseconds after a broadcast's start until shares of its villages reached something. */
export class ShareTimesDto {
  @ApiProperty({ type: Number, nullable: true }) p50Ms!: number | null;
  @ApiProperty({ type: Number, nullable: true }) p90Ms!: number | null;
  @ApiProperty({ type: Number, nullable: true }) p100Ms!: number | null;
}

export class FailureDto {
  @ApiProperty({
    enum: FAILURE_REASONS.map((r) => r.code),
    description:
      'What the reason begins with, as a code (docs/protocol.md, "Failure reasons"); `other` when nothing matches',
    example: 'download_failed',
  })
  code!: FailureCode;
  @ApiProperty({
    description: 'The device’s (or server’s) own text',
    example: 'download failed: HTTP 404',
  })
  reason!: string;
  @ApiProperty() devices!: number;
}

export class VillageCoverageDto {
  @ApiProperty() code!: string;
  @ApiProperty() name!: string;
  @ApiProperty() townCode!: string;
  @ApiProperty() townName!: string;
  @ApiProperty({ enum: VILLAGE_OUTCOMES }) outcome!: VillageOutcome;
  @ApiProperty({ enum: ['devices', 'manual'], nullable: true }) coveredBy!:
    'devices' | 'manual' | null;
  @ApiProperty({ enum: UNCOVERED_REASONS, nullable: true }) reason!: UncoveredReason | null;
  @ApiProperty({ type: [FailureDto] }) failures!: FailureDto[];
  @ApiProperty({ description: 'Devices in the broadcast' }) devices!: number;
  @ApiProperty() played!: number;
  @ApiProperty(stateCounts) states!: Record<string, number>;
  @ApiProperty(FIRST_SOUND_AT) firstSoundAt!: string | null;
  @ApiProperty(PLAYED_AT) playedAt!: string | null;
  @ApiProperty({
    type: String,
    format: 'date-time',
    nullable: true,
    description:
      'When the village heard it, by the first manual confirmation that stands (kept when a device confirms too)',
  })
  manualAt!: string | null;
  @ApiProperty({
    type: String,
    nullable: true,
    description: 'Who confirmed it by hand (the first)',
  })
  manualBy!: string | null;
  @ApiProperty({
    enum: CONFIRMATION_METHODS,
    nullable: true,
    description: 'How, by the first manual confirmation',
  })
  manualMethod!: ConfirmationMethod | null;
  @ApiProperty({
    description:
      'Whether POST /api/broadcasts/{id}/resend would send to this village now: uncovered, not being delivered, with a device, not held by quiet hours while the broadcast runs, of a broadcast sent and not cancelled',
  })
  resendable!: boolean;
}

/** A place in the evidence hash chain (docs/evidence.md). */
export class EvidenceHeadDto {
  @ApiProperty({ example: 1042, description: 'The entry’s sequence number in the global chain' })
  seq!: number;
  @ApiProperty({ example: '9f2c…', description: 'The entry’s hash (SHA-256, 64 hex digits)' })
  hash!: string;
}

const EVIDENCE_DESCRIPTION =
  'The evidence chain entry these figures were computed from: every row they count is proven by an entry up to it (`npm run cli -- evidence verify` checks the chain); null when nothing is recorded yet';

export class BroadcastCoverageDto {
  @ApiProperty({ type: CoverageBroadcastDto }) broadcast!: CoverageBroadcastDto;
  @ApiProperty({ format: 'date-time' }) generatedAt!: string;
  @ApiProperty({
    type: EvidenceHeadDto,
    nullable: true,
    description: `${EVIDENCE_DESCRIPTION}. The broadcast’s own last entry.`,
  })
  evidence!: EvidenceHeadDto | null;
  @ApiProperty({ type: CoverageSummaryDto }) summary!: CoverageSummaryDto;
  @ApiProperty({ type: [TownCoverageDto] }) byTown!: TownCoverageDto[];
  @ApiProperty({ type: [TypeCoverageDto] }) byType!: TypeCoverageDto[];
  @ApiProperty({ ...stateCounts, description: 'Deliveries by state, and `total`' })
  deliveries!: Record<string, number>;
  @ApiProperty({
    type: MilestonesDto,
    description:
      'Time to first sound and time to played, from the devices’ own reports (manual confirmations carry a time staff typed)',
  })
  milestones!: MilestonesDto;
  @ApiProperty({ type: [VillageCoverageDto], description: 'Town, then village code order' })
  villages!: VillageCoverageDto[];
}

export class BroadcastLineDto {
  @ApiProperty({ format: 'uuid' }) id!: string;
  @ApiProperty() title!: string;
  @ApiProperty({ enum: LEVELS }) level!: string;
  @ApiProperty() status!: string;
  @ApiProperty({ format: 'date-time' }) startAt!: string;
  @ApiProperty({ enum: BROADCAST_OUTCOMES, nullable: true, description: 'Null until it ends' })
  outcome!: BroadcastOutcome | null;
  @ApiProperty({ description: 'Dispatched and not cancelled: counts toward coverage' })
  counted!: boolean;
  @ApiProperty() targeted!: number;
  @ApiProperty() covered!: number;
  @ApiProperty() coveredManually!: number;
  @ApiProperty({
    description: 'Targeted villages whose quiet hours held it until it expired (not a failure)',
  })
  heldByQuietHours!: number;
  @ApiProperty({ type: Number, nullable: true }) rate!: number | null;
  @ApiProperty({ type: ShareTimesDto, description: 'Time to first sound in its villages' })
  firstSound!: ShareTimesDto;
  @ApiProperty({ type: ShareTimesDto, description: 'Time to played in its villages' })
  played!: ShareTimesDto;
}

export class VillageLineDto {
  @ApiProperty() code!: string;
  @ApiProperty() name!: string;
  @ApiProperty() townCode!: string;
  @ApiProperty() townName!: string;
  @ApiProperty({ description: 'Counted broadcasts that targeted it' }) targeted!: number;
  @ApiProperty({ description: 'Of those, covered by devices or by hand' }) covered!: number;
  @ApiProperty() coveredManually!: number;
  @ApiProperty({
    description:
      'Of those, routine broadcasts its quiet hours held until they expired: not a device failure, left out of the rate',
  })
  heldByQuietHours!: number;
  @ApiProperty({
    type: Number,
    nullable: true,
    description: 'covered / (targeted − heldByQuietHours)',
  })
  rate!: number | null;
  @ApiProperty() belowThreshold!: boolean;
  @ApiProperty({ description: 'A device of the village played something in the period' })
  used!: boolean;
  @ApiProperty() devicesEnabled!: number;
  @ApiProperty({
    type: Number,
    nullable: true,
    description:
      'Mean share of the time its enabled devices were registered in the period that they were online',
  })
  availability!: number | null;
}

class PeriodBroadcastsDto {
  @ApiProperty() total!: number;
  @ApiProperty() counted!: number;
  @ApiProperty({ type: 'object', additionalProperties: { type: 'integer' } })
  byLevel!: Record<string, number>;
  @ApiProperty({ type: 'object', additionalProperties: { type: 'integer' } })
  byStatus!: Record<string, number>;
  @ApiProperty({
    type: 'object',
    additionalProperties: { type: 'integer' },
    description: `Ended broadcasts by outcome (${BROADCAST_OUTCOMES.join(', ')})`,
  })
  byOutcome!: Record<string, number>;
  @ApiProperty({ type: [BroadcastLineDto] }) items!: BroadcastLineDto[];
}

class PeriodCoverageDto {
  @ApiProperty({ type: Number, nullable: true, description: 'Mean of counted broadcasts’ rates' })
  mean!: number | null;
  @ApiProperty({ type: BroadcastLineDto, nullable: true }) worst!: BroadcastLineDto | null;
}

class UsageDto {
  @ApiProperty({ description: 'Registered villages' }) villages!: number;
  @ApiProperty({ description: 'Villages whose devices played at least one broadcast' })
  used!: number;
  @ApiProperty({ type: Number, nullable: true }) rate!: number | null;
}

class AvailabilityDto {
  @ApiProperty({ description: 'The part of the period already past, in ms' }) measuredMs!: number;
  @ApiProperty({ type: Number, nullable: true, description: 'Mean over villages with devices' })
  mean!: number | null;
}

export class PeriodReportDto {
  @ApiProperty({ format: 'date-time' }) from!: string;
  @ApiProperty({ format: 'date-time' }) to!: string;
  @ApiProperty({ example: 'Asia/Shanghai', description: 'Zone of day bounds and CSV times' })
  timeZone!: string;
  @ApiProperty({ format: 'date-time' }) generatedAt!: string;
  @ApiProperty({
    type: EvidenceHeadDto,
    nullable: true,
    description: `${EVIDENCE_DESCRIPTION}. The global head, read after the figures.`,
  })
  evidence!: EvidenceHeadDto | null;
  @ApiProperty() threshold!: number;
  @ApiProperty({ type: PeriodBroadcastsDto }) broadcasts!: PeriodBroadcastsDto;
  @ApiProperty({ type: PeriodCoverageDto }) coverage!: PeriodCoverageDto;
  @ApiProperty({ type: UsageDto, description: 'The county’s usage rate' }) usage!: UsageDto;
  @ApiProperty({ type: AvailabilityDto }) availability!: AvailabilityDto;
  @ApiProperty({ type: [VillageLineDto] }) villages!: VillageLineDto[];
  @ApiProperty({ type: [VillageLineDto], description: 'Villages below the threshold' })
  belowThreshold!: VillageLineDto[];
}

export class VillageHistoryQuery {
  @ApiPropertyOptional({ minimum: 1, maximum: 100, default: 10 })
  @IsOptional()
  @Transform(toQueryInt)
  @IsInt()
  @Min(1)
  @Max(100)
  limit?: number;
}

export class VillageBroadcastDto {
  @ApiProperty({ format: 'uuid' }) id!: string;
  @ApiProperty() title!: string;
  @ApiProperty({ enum: LEVELS }) level!: string;
  @ApiProperty() status!: string;
  @ApiProperty({ format: 'date-time' }) startAt!: string;
  @ApiProperty({ enum: VILLAGE_OUTCOMES }) outcome!: VillageOutcome;
  @ApiProperty({ enum: UNCOVERED_REASONS, nullable: true }) reason!: UncoveredReason | null;
  @ApiProperty({ enum: ['devices', 'manual'], nullable: true }) coveredBy!:
    'devices' | 'manual' | null;
  @ApiProperty({ type: [FailureDto] }) failures!: FailureDto[];
  @ApiProperty({ description: 'Devices of the village in the broadcast' }) devices!: number;
  @ApiProperty() played!: number;
  @ApiProperty(FIRST_SOUND_AT) firstSoundAt!: string | null;
  @ApiProperty(PLAYED_AT) playedAt!: string | null;
  @ApiProperty({ type: String, format: 'date-time', nullable: true }) manualAt!: string | null;
}

export class LatestBroadcastDto {
  @ApiProperty({ format: 'uuid' }) id!: string;
  @ApiProperty() title!: string;
  @ApiProperty({ enum: LEVELS }) level!: string;
  @ApiProperty() status!: string;
  @ApiProperty({ format: 'date-time' }) startAt!: string;
  @ApiProperty({ enum: VILLAGE_OUTCOMES }) outcome!: VillageOutcome;
  @ApiProperty({ enum: UNCOVERED_REASONS, nullable: true }) reason!: UncoveredReason | null;
  @ApiProperty({
    type: [FailureDto],
    description: 'Why its devices failed or refused there (reason `failed`), most devices first',
  })
  failures!: FailureDto[];
  @ApiProperty({
    description:
      'Whether POST /api/broadcasts/{id}/resend would send to this village now: uncovered, not being delivered, with a device, not held by quiet hours while the broadcast runs, of a broadcast sent and not cancelled',
  })
  resendable!: boolean;
}
