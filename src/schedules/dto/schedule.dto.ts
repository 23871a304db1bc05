import { ApiProperty, ApiPropertyOptional, IntersectionType, PickType } from '@nestjs/swagger';
import { Transform, Type } from 'class-transformer';
import {
  IsBoolean,
  IsDefined,
  IsIn,
  IsInt,
  IsOptional,
  IsString,
  IsUUID,
  Max,
  MaxLength,
  Min,
  ValidateNested,
} from 'class-validator';
import { Level, LEVELS } from '../../contract/messages.js';
import { PageMetaDto, PageQuery } from '../../common/pagination.js';
import { IsDisplayName, ValidatesAs } from '../../common/validators.js';
import { TargetDto } from '../../broadcasts/dto/broadcast.dto.js';
import { cronProblem, isTimeZone } from '../cron.js';

const trim = ({ value }: { value: unknown }) => (typeof value === 'string' ? value.trim() : value);
const IsCron = () =>
  ValidatesAs(
    'isCron',
    (v) => typeof v === 'string' && cronProblem(v) === null,
    'must be a five-field cron expression, e.g. "0 8 * * *"',
  );
const IsTimeZone = () =>
  ValidatesAs(
    'isTimeZone',
    (v) => typeof v === 'string' && isTimeZone(v),
    'must be an IANA time zone, e.g. Asia/Shanghai',
  );

/** The broadcast each firing creates; it starts at the firing time and lasts `windowMinutes`. */
export class ScheduleTemplateDto {
  @ApiProperty({ maxLength: 200, example: '早间天气预报' })
  @Transform(trim)
  @IsDisplayName(200)
  title!: string;

  @ApiProperty({ format: 'uuid' })
  @IsUUID()
  clipId!: string;

  @ApiProperty({ enum: LEVELS })
  @IsIn(LEVELS)
  level!: Level;

  @ApiProperty({ type: TargetDto, description: 'Must name at least one place, type or device' })
  @IsDefined()
  @ValidateNested()
  @Type(() => TargetDto)
  target!: TargetDto;

  @ApiPropertyOptional({ minimum: 1, maximum: 10, default: 1 })
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(10)
  repeat?: number;

  @ApiPropertyOptional({ minimum: 0, maximum: 100 })
  @IsOptional()
  @IsInt()
  @Min(0)
  @Max(100)
  volume?: number;

  @ApiPropertyOptional()
  @IsOptional()
  @IsBoolean()
  attentionTone?: boolean;

  @ApiPropertyOptional({
    minimum: 1,
    maximum: 10_080,
    description: 'How long each firing stays valid; default: the level’s window',
  })
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(10_080)
  windowMinutes?: number;
}

export class CreateScheduleDto {
  @ApiProperty({ maxLength: 200, example: '每日 8 点天气' })
  @Transform(trim)
  @IsDisplayName(200)
  name!: string;

  @ApiProperty({
    example: '0 8 * * *',
    description: 'minute hour day-of-month month day-of-week, in timeZone',
  })
  @Transform(trim)
  @IsCron()
  cron!: string;

  @ApiPropertyOptional({ default: 'Asia/Shanghai (TZ_DEFAULT)' })
  @IsOptional()
  @IsTimeZone()
  timeZone?: string;

  @ApiPropertyOptional({ default: true })
  @IsOptional()
  @IsBoolean()
  enabled?: boolean;

  @ApiProperty({ type: ScheduleTemplateDto })
  @ValidateNested()
  @Type(() => ScheduleTemplateDto)
  template!: ScheduleTemplateDto;
}

export class UpdateScheduleDto {
  @ApiPropertyOptional({ maxLength: 200 })
  @IsOptional()
  @Transform(trim)
  @IsDisplayName(200)
  name?: string;

  @ApiPropertyOptional()
  @IsOptional()
  @Transform(trim)
  @IsCron()
  cron?: string;

  @ApiPropertyOptional()
  @IsOptional()
  @IsTimeZone()
  timeZone?: string;

  @ApiPropertyOptional()
  @IsOptional()
  @IsBoolean()
  enabled?: boolean;

  @ApiPropertyOptional({ type: ScheduleTemplateDto })
  @IsOptional()
  @ValidateNested()
  @Type(() => ScheduleTemplateDto)
  template?: ScheduleTemplateDto;
}

export class PreviewQuery {
  @ApiPropertyOptional({ minimum: 1, maximum: 100, default: 10 })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(100)
  count?: number;
}

export class CronPreviewQuery extends PreviewQuery {
  @ApiProperty({ example: '0 8 * * *' })
  @Transform(trim)
  @IsString()
  @MaxLength(100)
  @IsCron()
  cron!: string;

  @ApiPropertyOptional({ default: 'Asia/Shanghai (TZ_DEFAULT)' })
  @IsOptional()
  @IsTimeZone()
  timeZone?: string;
}

/** A schedule's rule and the level, target and window of its template, before it is saved. */
export class QuietPreviewRequestDto extends IntersectionType(
  CronPreviewQuery,
  PickType(ScheduleTemplateDto, ['level', 'target', 'windowMinutes'] as const),
) {}

export class QuietHoldDto {
  @ApiProperty({ format: 'date-time' }) fireAt!: string;
  @ApiProperty({
    format: 'date-time',
    type: String,
    nullable: true,
    description: 'When it plays there once quiet hours end; null: they outlast its window',
  })
  playsAt!: string | null;
}

export class QuietVillageDto {
  @ApiProperty() code!: string;
  @ApiProperty() name!: string;
  @ApiProperty() townName!: string;
  @ApiProperty({ example: '22:00-06:00' }) quietHours!: string;
  @ApiProperty({ description: 'Firings its quiet hours hold back' }) held!: number;
  @ApiProperty({ description: 'Of those, firings that expire before its quiet hours end' })
  neverPlayed!: number;
  @ApiProperty({ type: QuietHoldDto, description: 'The first firing held' }) first!: QuietHoldDto;
}

export class QuietPreviewDto {
  @ApiProperty({ description: 'false for levels I–IV, which ignore quiet hours' })
  heldByQuietHours!: boolean;
  @ApiProperty({ description: 'The time zone of quiet hours (TZ_DEFAULT)' }) quietTimeZone!: string;
  @ApiProperty({ description: 'Next firings checked' }) firings!: number;
  @ApiProperty({ description: 'Villages the target reaches' }) targetedVillages!: number;
  @ApiProperty({ type: [QuietVillageDto], description: 'Villages held from at least one firing' })
  villages!: QuietVillageDto[];
}

export class PreviewDto {
  @ApiProperty() cron!: string;
  @ApiProperty() timeZone!: string;
  @ApiProperty({
    type: [String],
    format: 'date-time',
    description: 'Next firing times (UTC, ISO 8601)',
  })
  times!: string[];
  @ApiProperty({
    type: [String],
    description: 'The same times in the schedule’s time zone, e.g. 2026-11-29 08:00 (Sun)',
  })
  local!: string[];
}

export class ScheduleDto {
  @ApiProperty({ format: 'uuid' }) id!: string;
  @ApiProperty() name!: string;
  @ApiProperty() cron!: string;
  @ApiProperty() timeZone!: string;
  @ApiProperty() enabled!: boolean;
  @ApiProperty({ type: ScheduleTemplateDto }) template!: ScheduleTemplateDto;
  @ApiProperty({
    format: 'date-time',
    type: String,
    nullable: true,
    description: 'Next firing (null when disabled)',
  })
  nextFireAt!: string | null;
  @ApiProperty({
    format: 'date-time',
    type: String,
    nullable: true,
    description: 'Firings up to here are handled',
  })
  lastFireAt!: string | null;
  @ApiProperty() createdBy!: string;
  @ApiProperty({
    type: String,
    nullable: true,
    description: 'The second person who approved its current template (levels that need one)',
  })
  approvedBy!: string | null;
  @ApiProperty({ format: 'date-time', type: String, nullable: true }) approvedAt!: string | null;
  @ApiProperty({ format: 'date-time' }) createdAt!: string;
  @ApiProperty({ format: 'date-time' }) updatedAt!: string;
}

export class SchedulePageDto extends PageMetaDto {
  @ApiProperty({ type: [ScheduleDto] }) items!: ScheduleDto[];
}

export class FiringDto {
  @ApiProperty({ format: 'date-time' }) fireAt!: string;
  @ApiProperty({ enum: ['fired', 'missed', 'failed'] }) outcome!: string;
  @ApiProperty({ type: String, nullable: true }) broadcastId!: string | null;
  @ApiProperty({ type: String, nullable: true }) reason!: string | null;
}

export class FiringQuery extends PageQuery {}
