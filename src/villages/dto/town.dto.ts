import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsOptional, ValidationOptions } from 'class-validator';
import { PageMetaDto, PageQuery } from '../../common/pagination.js';
import { trimToUndefined } from '../../common/query.js';
import { IsDisplayName, ValidatesAs } from '../../common/validators.js';
import { isTownCode } from '../admin-codes.js';

const trim = ({ value }: { value: unknown }) => (typeof value === 'string' ? value.trim() : value);

export const IsTownCode = (options?: ValidationOptions) =>
  ValidatesAs('isTownCode', isTownCode, 'must be 9 digits, e.g. 611026001', options);

export class CreateTownDto {
  @ApiProperty({ description: '9-digit town code', example: '611026001', pattern: '^\\d{9}$' })
  @IsTownCode()
  code!: string;

  @ApiProperty({ example: '乾佑街道', maxLength: 100 })
  @Transform(trim)
  @IsDisplayName(100)
  name!: string;
}

export class UpdateTownDto {
  @ApiProperty({ example: '乾佑街道', maxLength: 100 })
  @Transform(trim)
  @IsDisplayName(100)
  name!: string;
}

export class TownQuery extends PageQuery {
  @ApiPropertyOptional({ description: 'Part of the name or code' })
  @IsOptional()
  @Transform(trimToUndefined)
  @IsDisplayName(100)
  q?: string;
}

export class TownDto {
  @ApiProperty({ example: '611026001' }) code!: string;
  @ApiProperty({ example: '乾佑街道' }) name!: string;
  @ApiProperty({ description: 'Villages in this town' }) villageCount!: number;
  @ApiProperty({ format: 'date-time' }) createdAt!: string;
  @ApiProperty({ format: 'date-time' }) updatedAt!: string;
}

export class TownPageDto extends PageMetaDto {
  @ApiProperty({ type: [TownDto] }) items!: TownDto[];
}
