import { ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { ArrayMaxSize, IsArray, IsOptional, IsString, MaxLength } from 'class-validator';
import { MAX_PAGE_SIZE } from '../../common/pagination.js';

export class BrdLogQuery {
  @ApiPropertyOptional({
    description:
      'Start: a day (`2026-11-01`, from midnight Beijing time) or an instant with a zone. Default: 24 hours before `to`',
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
}

export class TerminalStatesQuery {
  @ApiPropertyOptional({
    description: `Device ids, comma-separated (at most ${MAX_PAGE_SIZE}); absent: every device`,
    example: 'dev-0001,dev-0002',
    type: String,
  })
  @IsOptional()
  @Transform(({ value }: { value: unknown }) =>
    typeof value === 'string' ? value.split(',').filter((s) => s.length > 0) : value,
  )
  @IsArray()
  @ArrayMaxSize(MAX_PAGE_SIZE)
  @IsString({ each: true })
  @MaxLength(64, { each: true })
  devices?: string[];
}
