import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsInt, IsOptional, Max, Min } from 'class-validator';
import { toQueryInt } from './query.js';

export const MAX_PAGE_SIZE = 500;

/** Past this a number is no longer exact in JavaScript, and the databases refuse it or worse. */
export const MAX_OFFSET = Number.MAX_SAFE_INTEGER;

/** `?limit&offset` of every list endpoint. */
export class PageQuery {
  @ApiPropertyOptional({ minimum: 1, maximum: MAX_PAGE_SIZE, default: 50 })
  @IsOptional()
  @Transform(toQueryInt)
  @IsInt()
  @Min(1)
  @Max(MAX_PAGE_SIZE)
  limit?: number;

  @ApiPropertyOptional({ minimum: 0, maximum: MAX_OFFSET, default: 0 })
  @IsOptional()
  @Transform(toQueryInt)
  @IsInt()
  @Min(0)
  @Max(MAX_OFFSET)
  offset?: number;
}

/** Every list answers `{ items, total, limit, offset }`. */
export interface Page<T> {
  items: T[];
  total: number;
  limit: number;
  offset: number;
}

export class PageMetaDto {
  @ApiProperty({ description: 'Matching items in all pages' }) total!: number;
  @ApiProperty() limit!: number;
  @ApiProperty() offset!: number;
}

export function pageWindow(q: PageQuery): { limit: number; offset: number } {
  return { limit: q.limit ?? 50, offset: q.offset ?? 0 };
}
