import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsNumber, IsOptional, Max, Min, ValidateIf, ValidationOptions } from 'class-validator';
import { PageMetaDto, PageQuery } from '../../common/pagination.js';
import { trimToUndefined } from '../../common/query.js';
import { IsDisplayName, ValidatesAs } from '../../common/validators.js';
import { isVillageCode } from '../admin-codes.js';
import { parseQuietHours } from '../../common/quiet-hours.js';
import { IsTownCode } from './town.dto.js';

const trim = ({ value }: { value: unknown }) => (typeof value === 'string' ? value.trim() : value);
const definedOrNull = (_: object, v: unknown) => v !== undefined;

export const IsVillageCode = (options?: ValidationOptions) =>
  ValidatesAs(
    'isVillageCode',
    isVillageCode,
    'must be 12 digits (统计用区划代码), e.g. 611026001201',
    options,
  );

const IsQuietHours = () =>
  ValidatesAs(
    'isQuietHours',
    (v) => typeof v === 'string' && parseQuietHours(v) !== null,
    'must be HH:MM-HH:MM with different start and end, e.g. 22:00-06:00',
  );

const IsLatitude = () => [IsNumber({ allowNaN: false, allowInfinity: false }), Min(-90), Max(90)];
const IsLongitude = () => [
  IsNumber({ allowNaN: false, allowInfinity: false }),
  Min(-180),
  Max(180),
];
const all =
  (decorators: PropertyDecorator[]): PropertyDecorator =>
  (target, key) =>
    decorators.forEach((d) => d(target, key));

export class CreateVillageDto {
  @ApiProperty({
    description: '12-digit village code (统计用区划代码)',
    example: '611026001201',
    pattern: '^\\d{12}$',
  })
  @IsVillageCode()
  code!: string;

  @ApiProperty({ example: '东沟村', maxLength: 100 })
  @Transform(trim)
  @IsDisplayName(100)
  name!: string;

  @ApiProperty({ description: 'Code of an existing town', example: '611026001' })
  @IsTownCode()
  townCode!: string;

  @ApiPropertyOptional({ minimum: -90, maximum: 90, example: 33.68, type: Number, nullable: true })
  @IsOptional()
  @all(IsLatitude())
  lat?: number | null;

  @ApiPropertyOptional({
    minimum: -180,
    maximum: 180,
    example: 109.11,
    type: Number,
    nullable: true,
  })
  @IsOptional()
  @all(IsLongitude())
  lon?: number | null;

  @ApiPropertyOptional({
    description: 'Local time window when routine and test broadcasts wait',
    example: '22:00-06:00',
    type: String,
    nullable: true,
  })
  @IsOptional()
  @IsQuietHours()
  quietHours?: string | null;
}

/** Fields to change; `null` clears lat/lon/quietHours. The code cannot change. */
export class UpdateVillageDto {
  @ApiPropertyOptional({ example: '东沟村', maxLength: 100 })
  @ValidateIf(definedOrNull)
  @Transform(trim)
  @IsDisplayName(100)
  name?: string;

  @ApiPropertyOptional({ example: '611026001' })
  @ValidateIf(definedOrNull)
  @IsTownCode()
  townCode?: string;

  @ApiPropertyOptional({ minimum: -90, maximum: 90, type: Number, nullable: true })
  @IsOptional()
  @all(IsLatitude())
  lat?: number | null;

  @ApiPropertyOptional({ minimum: -180, maximum: 180, type: Number, nullable: true })
  @IsOptional()
  @all(IsLongitude())
  lon?: number | null;

  @ApiPropertyOptional({ example: '22:00-06:00', type: String, nullable: true })
  @IsOptional()
  @IsQuietHours()
  quietHours?: string | null;
}

export class VillageQuery extends PageQuery {
  @ApiPropertyOptional({ description: 'Only villages of this town (9-digit code)' })
  @IsOptional()
  @IsTownCode()
  town?: string;

  @ApiPropertyOptional({ description: 'Part of the name, or the start of the code' })
  @IsOptional()
  @Transform(trimToUndefined)
  @IsDisplayName(100)
  q?: string;
}

export class VillageDto {
  @ApiProperty({ example: '611026001201' }) code!: string;
  @ApiProperty({ example: '东沟村' }) name!: string;
  @ApiProperty({ example: '611026001' }) townCode!: string;
  @ApiProperty({ example: '乾佑街道' }) townName!: string;
  @ApiProperty({ type: Number, nullable: true }) lat!: number | null;
  @ApiProperty({ type: Number, nullable: true }) lon!: number | null;
  @ApiProperty({ type: String, nullable: true, example: '22:00-06:00' }) quietHours!: string | null;
  @ApiProperty({ format: 'date-time' }) createdAt!: string;
  @ApiProperty({ format: 'date-time' }) updatedAt!: string;
}

export class VillagePageDto extends PageMetaDto {
  @ApiProperty({ type: [VillageDto] }) items!: VillageDto[];
}
