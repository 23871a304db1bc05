import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsBoolean, IsInt, IsOptional, Max, Min } from 'class-validator';
import { PageMetaDto } from '../../../common/pagination.js';
import { IsDisplayName, ValidatesAs } from '../../../common/validators.js';
import { isoTime } from '../../../common/time.js';
import { ALERT_OUTCOMES, type AlertFeedEntity } from '../../alert.entity.js';

const trim = ({ value }: { value: unknown }) => (typeof value === 'string' ? value.trim() : value);

export const MIN_INTERVAL_S = 10;
export const MAX_INTERVAL_S = 86_400;
export const DEFAULT_INTERVAL_S = 60;

/**
 * An absolute http(s) URL without credentials: fetch refuses `user:pass@` URLs, and the URL is
 * shown to every admin.
 */
export function isFeedUrl(v: unknown): boolean {
  if (typeof v !== 'string' || v.length > 2000) return false;
  try {
    const u = new URL(v);
    return (u.protocol === 'http:' || u.protocol === 'https:') && !u.username && !u.password;
  } catch {
    return false;
  }
}

const IsFeedUrl = () =>
  ValidatesAs(
    'isFeedUrl',
    isFeedUrl,
    'must be an http:// or https:// URL of at most 2000 characters, without a user or password',
  );

export class CreateFeedDto {
  @ApiProperty({ maxLength: 100, example: '省预警发布中心' })
  @Transform(trim)
  @IsDisplayName(100)
  name!: string;

  @ApiProperty({
    maxLength: 2000,
    example: 'https://alerts.example.cn/cap/atom.xml',
    description: 'An Atom or RSS 2.0 feed of CAP 1.2 entries (http or https)',
  })
  @Transform(trim)
  @IsFeedUrl()
  url!: string;

  @ApiPropertyOptional({
    minimum: MIN_INTERVAL_S,
    maximum: MAX_INTERVAL_S,
    default: DEFAULT_INTERVAL_S,
    description: 'Seconds between polls while the feed answers; failures back off from it',
  })
  @IsOptional()
  @IsInt()
  @Min(MIN_INTERVAL_S)
  @Max(MAX_INTERVAL_S)
  intervalS?: number;

  @ApiPropertyOptional({ default: true })
  @IsOptional()
  @IsBoolean()
  enabled?: boolean;
}

export class UpdateFeedDto {
  @ApiPropertyOptional({ maxLength: 100 })
  @IsOptional()
  @Transform(trim)
  @IsDisplayName(100)
  name?: string;

  @ApiPropertyOptional({
    maxLength: 2000,
    description: 'A new URL starts afresh: no ETag, no failures, polled at the next tick',
  })
  @IsOptional()
  @Transform(trim)
  @IsFeedUrl()
  url?: string;

  @ApiPropertyOptional({ minimum: MIN_INTERVAL_S, maximum: MAX_INTERVAL_S })
  @IsOptional()
  @IsInt()
  @Min(MIN_INTERVAL_S)
  @Max(MAX_INTERVAL_S)
  intervalS?: number;

  @ApiPropertyOptional({ description: 'Enabling a feed polls it at the next tick' })
  @IsOptional()
  @IsBoolean()
  enabled?: boolean;
}

export class FeedDto {
  @ApiProperty({ format: 'uuid' }) id!: string;
  @ApiProperty() name!: string;
  @ApiProperty() url!: string;
  @ApiProperty() intervalS!: number;
  @ApiProperty() enabled!: boolean;
  @ApiProperty({ format: 'date-time', description: 'When it is polled next (after back-off)' })
  nextPollAt!: string;
  @ApiProperty({ type: String, format: 'date-time', nullable: true })
  lastPolledAt!: string | null;
  @ApiProperty({
    type: String,
    format: 'date-time',
    nullable: true,
    description: 'Last poll the feed answered (200 or 304)',
  })
  lastOkAt!: string | null;
  @ApiProperty({ description: 'Failed polls in a row: the wait is intervalS × 2^failures, ≤ 1 h' })
  failures!: number;
  @ApiProperty({
    type: String,
    nullable: true,
    description:
      'The last problem: the feed’s (with failures > 0) or an entry’s; null after a clean poll',
  })
  lastError!: string | null;
  @ApiProperty({ type: String, nullable: true, description: 'ETag the next poll sends' })
  etag!: string | null;
  @ApiProperty({ type: String, nullable: true, description: 'Last-Modified the next poll sends' })
  lastModified!: string | null;
  @ApiProperty() createdBy!: string;
  @ApiProperty({ format: 'date-time' }) createdAt!: string;
  @ApiProperty({ format: 'date-time' }) updatedAt!: string;
}

/** A feed as the API shows it. */
export function toFeedDto(f: AlertFeedEntity): FeedDto {
  const time = (ms: number | null) => (ms === null ? null : isoTime(ms));
  return {
    id: f.id,
    name: f.name,
    url: f.url,
    intervalS: f.intervalS,
    enabled: f.enabled,
    nextPollAt: isoTime(f.nextPollAt),
    lastPolledAt: time(f.lastPolledAt),
    lastOkAt: time(f.lastOkAt),
    failures: f.failures,
    lastError: f.lastError,
    etag: f.etag,
    lastModified: f.lastModified,
    createdBy: f.createdBy,
    createdAt: isoTime(f.createdAt),
    updatedAt: isoTime(f.updatedAt),
  };
}

export class FeedPageDto extends PageMetaDto {
  @ApiProperty({ type: [FeedDto] }) items!: FeedDto[];
}

export const ENTRY_RESULTS = ['alert', 'refused', 'no-cap', 'error'] as const;
export type EntryResult = (typeof ENTRY_RESULTS)[number];

export class FeedEntryResultDto {
  @ApiProperty({ description: 'Atom id, RSS guid (or link)' }) id!: string;
  @ApiProperty({
    enum: ENTRY_RESULTS,
    description:
      '`alert`: handed to the intake (see outcome); ' +
      '`refused`: the intake refused it (rule, reason); `no-cap`: no CAP message inline or linked; ' +
      '`error`: its CAP could not be fetched (tried again next poll)',
  })
  result!: EntryResult;
  @ApiProperty({ type: String, nullable: true, description: 'The linked CAP message, if linked' })
  url!: string | null;
  @ApiProperty({ type: String, format: 'uuid', nullable: true }) alertId!: string | null;
  @ApiProperty({ type: String, enum: ALERT_OUTCOMES, nullable: true }) outcome!: string | null;
  @ApiProperty({ type: String, nullable: true, description: 'The rule a refusal names' })
  rule!: string | null;
  @ApiProperty({ type: String, nullable: true }) reason!: string | null;
}

export class FeedPollDto {
  @ApiProperty({ format: 'uuid' }) feedId!: string;
  @ApiProperty({
    enum: ['ok', 'not-modified', 'failed'],
    description: '`not-modified`: the feed answered 304 to its ETag / Last-Modified',
  })
  status!: 'ok' | 'not-modified' | 'failed';
  @ApiProperty({ type: Number, nullable: true, description: 'The feed’s HTTP status' })
  httpStatus!: number | null;
  @ApiProperty({ type: String, nullable: true, description: 'Why the poll failed' })
  error!: string | null;
  @ApiProperty({ description: 'Entries in the feed' }) entries!: number;
  @ApiProperty({ description: 'Entries handled by an earlier poll: not fetched again' })
  seen!: number;
  @ApiProperty({ description: 'Entries whose CAP became an alert that was not a duplicate' })
  newAlerts!: number;
  @ApiProperty({ description: 'Entries the intake answered as duplicates' }) duplicates!: number;
  @ApiProperty({ description: 'Entries the intake refused' }) refusals!: number;
  @ApiProperty({
    type: [FeedEntryResultDto],
    description: 'Each entry not seen before, oldest first (the order they were handed over)',
  })
  results!: FeedEntryResultDto[];
  @ApiProperty({ type: FeedDto, description: 'The feed after the poll' }) feed!: FeedDto;
}
