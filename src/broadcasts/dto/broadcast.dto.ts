import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Transform, Type } from 'class-transformer';
import {
  ArrayMaxSize,
  IsArray,
  IsBoolean,
  IsIn,
  IsInt,
  IsISO8601,
  IsOptional,
  IsUUID,
  Max,
  Min,
  ValidateIf,
  ValidateNested,
} from 'class-validator';
import { DEVICE_TYPES, DeviceType } from '../../contract/device.js';
import {
  DELIVERY_ENDINGS,
  DELIVERY_PROGRESS,
  DeliveryState,
  Level,
  LEVELS,
} from '../../contract/messages.js';
import { PageMetaDto, PageQuery } from '../../common/pagination.js';
import { IsDisplayName, IsFreeText } from '../../common/validators.js';
import { IsDeviceId } from '../../devices/dto/device.dto.js';
import { IsTownCode } from '../../villages/dto/town.dto.js';
import { IsVillageCode } from '../../villages/dto/village.dto.js';
import {
  BROADCAST_OUTCOMES,
  BROADCAST_STATUSES,
  BroadcastOutcome,
  BroadcastStatus,
  CONFIRMATION_METHODS,
  ConfirmationMethod,
} from '../broadcast.entity.js';
import { TARGET_LIMITS } from '../targets.js';
import { ApprovalDto, OverrideDto } from './approval-policy.dto.js';

const trim = ({ value }: { value: unknown }) => (typeof value === 'string' ? value.trim() : value);
const DELIVERY_STATES = [...DELIVERY_PROGRESS, ...DELIVERY_ENDINGS];
const atMost = (list: keyof typeof TARGET_LIMITS) => () =>
  `target.${list} lists at most ${TARGET_LIMITS[list]} ${list}; name their towns, or all, instead`;

export class TargetDto {
  @ApiPropertyOptional({ description: 'Every village' })
  @IsOptional()
  @IsBoolean()
  all?: boolean;

  @ApiPropertyOptional({ type: [String], maxItems: TARGET_LIMITS.towns, example: ['611026001'] })
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(TARGET_LIMITS.towns, { message: atMost('towns') })
  @IsTownCode({ each: true })
  towns?: string[];

  @ApiPropertyOptional({
    type: [String],
    maxItems: TARGET_LIMITS.villages,
    example: ['611026001201'],
  })
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(TARGET_LIMITS.villages, { message: atMost('villages') })
  @IsVillageCode({ each: true })
  villages?: string[];

  @ApiPropertyOptional({
    enum: DEVICE_TYPES,
    isArray: true,
    description: 'Only devices of these types',
  })
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(DEVICE_TYPES.length)
  @IsIn(DEVICE_TYPES, { each: true })
  deviceTypes?: DeviceType[];

  @ApiPropertyOptional({ type: [String], maxItems: TARGET_LIMITS.devices })
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(TARGET_LIMITS.devices, { message: atMost('devices') })
  @IsDeviceId({ each: true })
  devices?: string[];
}

export class CreateBroadcastDto {
  @ApiProperty({ maxLength: 200, example: '防汛紧急通知' })
  @Transform(trim)
  @IsDisplayName(200)
  title!: string;

  @ApiProperty({ format: 'uuid' })
  @IsUUID()
  clipId!: string;

  @ApiProperty({ enum: LEVELS, description: 'I–IV emergencies (I most urgent), routine, test' })
  @IsIn(LEVELS)
  level!: Level;

  @ApiProperty({ type: TargetDto, description: 'Combinable; see the docs of each field' })
  @ValidateNested()
  @Type(() => TargetDto)
  target!: TargetDto;

  @ApiPropertyOptional({ format: 'date-time', description: 'Absent: now' })
  @IsOptional()
  @IsISO8601({ strict: true })
  startAt?: string;

  @ApiPropertyOptional({
    format: 'date-time',
    description: 'Absent: the start plus the default window of the level',
  })
  @IsOptional()
  @IsISO8601({ strict: true })
  expiresAt?: string;

  @ApiPropertyOptional({ minimum: 1, maximum: 10, default: 1 })
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(10)
  repeat?: number;

  @ApiPropertyOptional({
    minimum: 0,
    maximum: 100,
    description: 'Absent: each device keeps its volume',
  })
  @IsOptional()
  @IsInt()
  @Min(0)
  @Max(100)
  volume?: number;

  @ApiPropertyOptional({
    description: 'Play the level’s attention tone first. Default: yes for I–IV, no otherwise',
  })
  @IsOptional()
  @IsBoolean()
  attentionTone?: boolean;

  @ApiPropertyOptional({
    type: OverrideDto,
    description:
      'Send a level that needs a second person (GET /api/approval-policy) at once, without one: the reason is kept with the broadcast, in the audit log and on its coverage report. Ignored for levels that need no approval',
  })
  @IsOptional()
  @ValidateNested()
  @Type(() => OverrideDto)
  override?: OverrideDto;
}

export class CancelBroadcastDto {
  @ApiProperty({
    maxLength: 200,
    example: '预警解除',
    description: 'Why (required): staff see it beside who cancelled, devices get it with `stop`',
  })
  @Transform(trim)
  @IsDisplayName(200, { message: 'reason: say why it is cancelled (1 to 200 characters)' })
  reason!: string;
}

export class ResendBroadcastDto {
  @ApiPropertyOptional({
    format: 'date-time',
    description:
      'Latest start of the resend. Absent: now plus the default window of the level (a fresh window, not the original’s)',
  })
  @IsOptional()
  @IsISO8601({ strict: true })
  expiresAt?: string;
}

export class BroadcastQuery extends PageQuery {
  @ApiPropertyOptional({ enum: BROADCAST_STATUSES })
  @IsOptional()
  @IsIn(BROADCAST_STATUSES)
  status?: BroadcastStatus;

  @ApiPropertyOptional({ enum: LEVELS })
  @IsOptional()
  @IsIn(LEVELS)
  level?: Level;
}

export class TargetPreviewDto {
  @ApiProperty({ description: 'Villages the target reaches' }) villages!: number;
  @ApiProperty({ description: 'Enabled devices that would get a delivery' }) devices!: number;
  @ApiProperty({
    type: 'object',
    additionalProperties: { type: 'integer' },
    example: { village_loudspeaker: 81, flood_pa: 12 },
  })
  byType!: Record<string, number>;
  @ApiProperty({ description: 'Of those devices, online now' }) online!: number;
}

export class DeliveryQuery extends PageQuery {
  @ApiPropertyOptional({ enum: DELIVERY_STATES })
  @IsOptional()
  @IsIn(DELIVERY_STATES)
  state?: DeliveryState;

  @ApiPropertyOptional()
  @IsOptional()
  @IsVillageCode()
  village?: string;
}

export class ConfirmationDto {
  @ApiPropertyOptional({ description: 'The village confirmed (give this or device)' })
  @ValidateIf((o: ConfirmationDto) => o.device === undefined || o.village !== undefined)
  @IsVillageCode()
  village?: string;

  @ApiPropertyOptional({ description: 'The device confirmed (its village counts as covered)' })
  @ValidateIf((o: ConfirmationDto) => o.village === undefined || o.device !== undefined)
  @IsDeviceId()
  device?: string;

  @ApiProperty({
    enum: CONFIRMATION_METHODS,
    description:
      'How the village heard it: `loudspeaker` (its loudspeaker played by hand), `speaker_cart`, `door_to_door`, `phone`',
  })
  @IsIn(CONFIRMATION_METHODS, {
    message: `method must be one of ${CONFIRMATION_METHODS.join(', ')}`,
  })
  method!: ConfirmationMethod;

  @ApiPropertyOptional({
    format: 'date-time',
    description:
      'When the village heard it; absent: now. Not in the future, not before the broadcast started',
  })
  @IsOptional()
  @IsISO8601({ strict: true })
  heardAt?: string;

  @ApiPropertyOptional({
    maxLength: 100,
    description: 'Who heard it or reported it; absent: the token name',
  })
  @IsOptional()
  @Transform(trim)
  @IsDisplayName(100)
  by?: string;

  @ApiPropertyOptional({ maxLength: 500 })
  @IsOptional()
  @IsFreeText(500)
  note?: string;
}

export class WithdrawConfirmationDto {
  @ApiProperty({ maxLength: 200, example: '村干部核实未播放' })
  @Transform(trim)
  @IsDisplayName(200, { message: 'reason: say why it is withdrawn (1 to 200 characters)' })
  reason!: string;
}

export class AudioDto {
  @ApiProperty() sha256!: string;
  @ApiProperty() bytes!: number;
  @ApiProperty() durationMs!: number;
}

export class BroadcastDto {
  @ApiProperty({ format: 'uuid' }) id!: string;
  @ApiProperty() title!: string;
  @ApiProperty({ format: 'uuid' }) clipId!: string;
  @ApiProperty({ enum: LEVELS }) level!: Level;
  @ApiProperty({ type: TargetDto }) target!: TargetDto;
  @ApiProperty({ format: 'date-time' }) startAt!: string;
  @ApiProperty({ format: 'date-time' }) expiresAt!: string;
  @ApiProperty() repeat!: number;
  @ApiProperty({ type: Number, nullable: true }) volume!: number | null;
  @ApiProperty() attentionTone!: boolean;
  @ApiProperty({ enum: BROADCAST_STATUSES }) status!: BroadcastStatus;
  @ApiProperty({
    enum: BROADCAST_OUTCOMES,
    nullable: true,
    description:
      'What came of it, once it ended: every targeted village covered (by a device or by hand), some, none (also when no device was reached), cancelled, or expired (never sent, or every village held by its quiet hours until it expired). Villages held by quiet hours do not count against completed',
  })
  outcome!: BroadcastOutcome | null;
  @ApiProperty({
    type: String,
    nullable: true,
    description:
      'Why it ended early: the reason given when it was cancelled, or why the server ended it',
  })
  endReason!: string | null;
  @ApiProperty({ type: String, nullable: true, description: 'Who cancelled it (the token name)' })
  cancelledBy!: string | null;
  @ApiProperty({
    type: AudioDto,
    nullable: true,
    description: 'What the devices play; set at dispatch',
  })
  audio!: AudioDto | null;
  @ApiProperty({ description: 'Villages targeted (set at dispatch)' }) villages!: number;
  @ApiProperty({
    type: 'object',
    description: 'Deliveries by state',
    additionalProperties: { type: 'integer' },
    example: { played: 90, playing: 3, pending: 2 },
  })
  deliveries!: Partial<Record<DeliveryState, number>>;
  @ApiProperty({ type: String, nullable: true }) scheduleId!: string | null;
  @ApiProperty({
    type: String,
    format: 'uuid',
    nullable: true,
    description: 'The broadcast this one was resent for (POST /api/broadcasts/{id}/resend)',
  })
  resendOf!: string | null;
  @ApiProperty() createdBy!: string;
  @ApiProperty({
    type: ApprovalDto,
    nullable: true,
    description:
      'For a level that needed a second person: who approved it, or who sent it at once without one and why (override). Null for the rest',
  })
  approval!: ApprovalDto | null;
  @ApiProperty({ format: 'date-time' }) createdAt!: string;
  @ApiProperty({ format: 'date-time', type: String, nullable: true }) dispatchedAt!: string | null;
  @ApiProperty({ format: 'date-time', type: String, nullable: true }) endedAt!: string | null;
}

export class BroadcastPageDto extends PageMetaDto {
  @ApiProperty({ type: [BroadcastDto] }) items!: BroadcastDto[];
}

export class DeliveryDto {
  @ApiProperty({ format: 'uuid' }) id!: string;
  @ApiProperty() deviceId!: string;
  @ApiProperty() villageCode!: string;
  @ApiProperty({ enum: DELIVERY_STATES }) state!: DeliveryState;
  @ApiProperty({ type: String, nullable: true }) reason!: string | null;
  @ApiProperty({ description: 'Times a play command was sent (resends and resumptions too)' })
  attempts!: number;
  @ApiProperty({ description: 'Times it was resumed after the device reported it preempted' })
  resumes!: number;
  @ApiProperty({
    format: 'date-time',
    type: String,
    nullable: true,
    description: 'Held by its village’s quiet hours until then (routine and test broadcasts)',
  })
  heldUntil!: string | null;
  @ApiProperty({ format: 'date-time', type: String, nullable: true }) sentAt!: string | null;
  @ApiProperty({ format: 'date-time', type: String, nullable: true }) receivedAt!: string | null;
  @ApiProperty({
    format: 'date-time',
    type: String,
    nullable: true,
    description: 'When it first began playing (`playing`): the time to first sound',
  })
  startedAt!: string | null;
  @ApiProperty({ format: 'date-time', type: String, nullable: true }) playedAt!: string | null;
  @ApiProperty({ format: 'date-time' }) updatedAt!: string;
}

export class DeliveryPageDto extends PageMetaDto {
  @ApiProperty({ type: [DeliveryDto] }) items!: DeliveryDto[];
}

export class DeliveryEventDto {
  @ApiProperty({ enum: DELIVERY_STATES }) from!: DeliveryState;
  @ApiProperty({ enum: DELIVERY_STATES }) to!: DeliveryState;
  @ApiProperty({ enum: ['mqtt', 'manual', 'system'] }) source!: string;
  @ApiProperty({
    format: 'date-time',
    type: String,
    nullable: true,
    description: "The device's clock",
  })
  deviceAt!: string | null;
  @ApiProperty({ format: 'date-time', description: 'When the server received or decided it' })
  serverAt!: string;
  @ApiProperty({ type: String, nullable: true }) reason!: string | null;
  @ApiProperty({
    type: String,
    nullable: true,
    description:
      'A protocol anomaly this report showed, e.g. `skipped received, playing`: accepted, and counted in dalaba_delivery_anomalies_total',
  })
  anomaly!: string | null;
}

export class WithdrawalDto {
  @ApiProperty({ format: 'date-time' }) at!: string;
  @ApiProperty({ description: 'The admin token that withdrew it' }) by!: string;
  @ApiProperty() reason!: string;
}

export class ManualConfirmationDto {
  @ApiProperty({ format: 'uuid' }) id!: string;
  @ApiProperty() villageCode!: string;
  @ApiProperty({ type: String, nullable: true }) deviceId!: string | null;
  @ApiProperty({
    enum: CONFIRMATION_METHODS,
    nullable: true,
    description: 'How the village heard it (null: recorded before the method was asked)',
  })
  method!: ConfirmationMethod | null;
  @ApiProperty({ format: 'date-time', description: 'When the village heard it' }) heardAt!: string;
  @ApiProperty({ description: 'Who heard it or reported it' }) confirmedBy!: string;
  @ApiProperty({ description: 'The token that recorded it' }) recordedBy!: string;
  @ApiProperty({ type: String, nullable: true }) note!: string | null;
  @ApiProperty({
    description: 'Always true: a confirmation by hand, reported apart from device confirmations',
  })
  manual!: true;
  @ApiProperty({
    type: WithdrawalDto,
    nullable: true,
    description: 'Set once an admin withdrew it: it no longer counts, and stays on record',
  })
  withdrawn!: WithdrawalDto | null;
  @ApiProperty({ format: 'date-time' }) createdAt!: string;
}
