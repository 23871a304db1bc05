import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Transform, Type } from 'class-transformer';
import { IsIn, IsOptional, IsString, IsUUID, Length, ValidateNested } from 'class-validator';
import { LEVELS } from '../../contract/messages.js';
import { PageMetaDto, PageQuery } from '../../common/pagination.js';
import { BroadcastDto, CreateBroadcastDto } from '../../broadcasts/dto/broadcast.dto.js';
import {
  CreateScheduleDto,
  ScheduleDto,
  UpdateScheduleDto,
} from '../../schedules/dto/schedule.dto.js';
import { DRAFT_KINDS, DRAFT_STATUSES } from '../draft.entity.js';

const trim = ({ value }: { value: unknown }) => (typeof value === 'string' ? value.trim() : value);

/** Exactly one of: a broadcast, a new schedule, or a schedule's id with its changes. */
export class CreateDraftDto {
  @ApiPropertyOptional({
    type: CreateBroadcastDto,
    description: 'A broadcast, as POST /api/broadcasts takes it (override is ignored)',
  })
  @IsOptional()
  @ValidateNested()
  @Type(() => CreateBroadcastDto)
  broadcast?: CreateBroadcastDto;

  @ApiPropertyOptional({ type: CreateScheduleDto, description: 'A new schedule' })
  @IsOptional()
  @ValidateNested()
  @Type(() => CreateScheduleDto)
  schedule?: CreateScheduleDto;

  @ApiPropertyOptional({ format: 'uuid', description: 'The schedule `changes` apply to' })
  @IsOptional()
  @IsUUID()
  scheduleId?: string;

  @ApiPropertyOptional({ type: UpdateScheduleDto, description: 'Changes to schedule `scheduleId`' })
  @IsOptional()
  @ValidateNested()
  @Type(() => UpdateScheduleDto)
  changes?: UpdateScheduleDto;
}

export class RejectDraftDto {
  @ApiProperty({ minLength: 1, maxLength: 500, example: '音频内容有误，请重新录制' })
  @IsString()
  @Transform(trim)
  @Length(1, 500, { message: 'reason: say why it is rejected (1 to 500 characters)' })
  reason!: string;
}

export class DraftQuery extends PageQuery {
  @ApiPropertyOptional({ enum: ['pending', 'all'], default: 'pending' })
  @IsOptional()
  @IsIn(['pending', 'all'])
  status?: 'pending' | 'all';
}

export class DraftClipDto {
  @ApiProperty({ format: 'uuid' }) id!: string;
  @ApiProperty() name!: string;
  @ApiProperty({ type: Number, nullable: true }) durationMs!: number | null;
}

export class DraftReachDto {
  @ApiProperty({ description: 'Villages the target reaches now' }) villages!: number;
  @ApiProperty({ description: 'Enabled devices that would get it' }) devices!: number;
  @ApiProperty({ description: 'Of those, online now' }) online!: number;
}

export class DraftDto {
  @ApiProperty({ format: 'uuid' }) id!: string;
  @ApiProperty({ enum: DRAFT_KINDS }) kind!: string;
  @ApiProperty({
    enum: DRAFT_STATUSES,
    description:
      '`approving`: approved, its broadcast or schedule being made (a restart finishes it)',
  })
  status!: string;
  @ApiProperty({ enum: LEVELS }) level!: string;
  @ApiProperty() title!: string;
  @ApiProperty({
    type: 'object',
    additionalProperties: true,
    description: 'The request as it will be made: a broadcast, a schedule, or a schedule’s changes',
  })
  payload!: unknown;
  @ApiProperty({ type: String, format: 'uuid', nullable: true }) scheduleId!: string | null;
  @ApiProperty() draftedBy!: string;
  @ApiProperty({ format: 'date-time' }) createdAt!: string;
  @ApiProperty({ format: 'date-time', description: 'Nobody can approve it after this' })
  expiresAt!: string;
  @ApiProperty({ type: String, nullable: true }) decidedBy!: string | null;
  @ApiProperty({ type: String, format: 'date-time', nullable: true }) decidedAt!: string | null;
  @ApiProperty({ type: String, nullable: true, description: 'Why it was rejected or withdrawn' })
  reason!: string | null;
  @ApiProperty({
    type: String,
    format: 'uuid',
    nullable: true,
    description: 'The broadcast or schedule it became',
  })
  resultId!: string | null;
  @ApiProperty({ type: DraftClipDto, nullable: true, description: 'What will be played' })
  clip!: DraftClipDto | null;
  @ApiProperty({
    type: DraftReachDto,
    nullable: true,
    description: 'Who it reaches now (null when its target no longer resolves)',
  })
  reach!: DraftReachDto | null;
  @ApiProperty({ description: 'Whether the caller may approve or reject it now' })
  mayApprove!: boolean;
  @ApiProperty({ type: String, nullable: true, description: 'Why not, when mayApprove is false' })
  whyNot!: string | null;
  @ApiProperty({
    description: 'The caller drafted it and it is still pending: they may withdraw it',
  })
  mayWithdraw!: boolean;
}

export class DraftPageDto extends PageMetaDto {
  @ApiProperty({ type: [DraftDto] }) items!: DraftDto[];
}

export class ApprovedDraftDto {
  @ApiProperty({ type: DraftDto }) draft!: DraftDto;
  @ApiPropertyOptional({
    type: BroadcastDto,
    description: 'The broadcast it became (kind broadcast)',
  })
  broadcast?: BroadcastDto;
  @ApiPropertyOptional({ type: ScheduleDto, description: 'The schedule made or changed' })
  schedule?: ScheduleDto;
}
