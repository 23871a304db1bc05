import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import {
  IsBoolean,
  IsIn,
  IsInt,
  IsOptional,
  Max,
  Min,
  ValidateIf,
  ValidationOptions,
} from 'class-validator';
import {
  DEVICE_ID_MAX_LENGTH,
  DEVICE_TYPES,
  DeviceType,
  isDeviceId,
} from '../../contract/device.js';
import { PageMetaDto, PageQuery } from '../../common/pagination.js';
import { toBoolean, toQueryInt, trimToUndefined } from '../../common/query.js';
import { IsDisplayName, IsFreeText, ValidatesAs } from '../../common/validators.js';
import { IsTownCode } from '../../villages/dto/town.dto.js';
import { IsVillageCode } from '../../villages/dto/village.dto.js';

const trim = ({ value }: { value: unknown }) => (typeof value === 'string' ? value.trim() : value);
const definedOrNull = (_: object, v: unknown) => v !== undefined;

export const IsDeviceId = (options?: ValidationOptions) =>
  ValidatesAs(
    'isDeviceId',
    isDeviceId,
    `must be 1 to ${DEVICE_ID_MAX_LENGTH} characters of A-Z a-z 0-9 . _ - starting with a letter or digit (it is the MQTT client id)`,
    options,
  );

/** A terminal's resource code (GD/J 082 资源编码): 18 or 23 digits. */
export const RESOURCE_CODE = /^\d{18}(\d{5})?$/;
const IsResourceCode = () =>
  ValidatesAs(
    'isResourceCode',
    (v) => typeof v === 'string' && RESOURCE_CODE.test(v),
    'must be the resource code (EBRID) the province assigned: 18 or 23 digits',
  );
const RESOURCE_CODE_DOC = {
  type: String,
  nullable: true,
  pattern: '^\\d{18}(\\d{5})?$',
  example: '361102300000000301',
  description:
    'Its resource code (EBRID, 18 or 23 digits) as the province assigned it: GY/T reports name the terminal by it (its id until one is set). Unique.',
};

const IsDeviceType = () =>
  IsIn(DEVICE_TYPES, { message: `type must be one of ${DEVICE_TYPES.join(', ')}` });

export class CreateDeviceDto {
  @ApiProperty({
    description: 'Stable id; also the MQTT client id and username',
    example: 'vl-611026001201-1',
    pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$',
  })
  @IsDeviceId()
  id!: string;

  @ApiProperty({ example: '611026001201' })
  @IsVillageCode()
  villageCode!: string;

  @ApiProperty({ enum: DEVICE_TYPES, example: 'village_loudspeaker' })
  @IsDeviceType()
  type!: DeviceType;

  @ApiPropertyOptional({ default: true })
  @IsOptional()
  @IsBoolean()
  enabled?: boolean;

  @ApiPropertyOptional({ maxLength: 200, example: '村委会楼顶', type: String, nullable: true })
  @IsOptional()
  @Transform(trim)
  @IsDisplayName(200)
  label?: string | null;

  @ApiPropertyOptional({ maxLength: 2000, type: String, nullable: true })
  @IsOptional()
  @IsFreeText(2000)
  notes?: string | null;

  @ApiPropertyOptional(RESOURCE_CODE_DOC)
  @IsOptional()
  @IsResourceCode()
  resourceCode?: string | null;
}

/** Fields to change; `null` clears label, notes and the resource code. The id cannot change. */
export class UpdateDeviceDto {
  @ApiPropertyOptional({ example: '611026001201' })
  @ValidateIf(definedOrNull)
  @IsVillageCode()
  villageCode?: string;

  @ApiPropertyOptional({ enum: DEVICE_TYPES })
  @ValidateIf(definedOrNull)
  @IsDeviceType()
  type?: DeviceType;

  @ApiPropertyOptional({ description: 'A disabled device cannot connect' })
  @ValidateIf(definedOrNull)
  @IsBoolean()
  enabled?: boolean;

  @ApiPropertyOptional({ maxLength: 200, type: String, nullable: true })
  @IsOptional()
  @Transform(trim)
  @IsDisplayName(200)
  label?: string | null;

  @ApiPropertyOptional({ maxLength: 2000, type: String, nullable: true })
  @IsOptional()
  @IsFreeText(2000)
  notes?: string | null;

  @ApiPropertyOptional(RESOURCE_CODE_DOC)
  @IsOptional()
  @IsResourceCode()
  resourceCode?: string | null;
}

export class DeviceQuery extends PageQuery {
  @ApiPropertyOptional({ description: 'Only devices in villages of this town' })
  @IsOptional()
  @IsTownCode()
  town?: string;

  @ApiPropertyOptional({ description: 'Only devices of this village' })
  @IsOptional()
  @IsVillageCode()
  village?: string;

  @ApiPropertyOptional({ enum: DEVICE_TYPES })
  @IsOptional()
  @IsDeviceType()
  type?: DeviceType;

  @ApiPropertyOptional()
  @IsOptional()
  @Transform(toBoolean)
  @IsBoolean()
  enabled?: boolean;

  @ApiPropertyOptional({ description: 'Part of the id or label' })
  @IsOptional()
  @Transform(trimToUndefined)
  @IsDisplayName(200)
  q?: string;
}

export class DeviceDto {
  @ApiProperty({ example: 'vl-611026001201-1' }) id!: string;
  @ApiProperty({ example: '611026001201' }) villageCode!: string;
  @ApiProperty({ enum: DEVICE_TYPES }) type!: DeviceType;
  @ApiProperty() enabled!: boolean;
  @ApiProperty({ type: String, nullable: true }) label!: string | null;
  @ApiProperty({ type: String, nullable: true }) notes!: string | null;
  @ApiProperty(RESOURCE_CODE_DOC) resourceCode!: string | null;
  @ApiProperty({ format: 'date-time', description: 'When the current secret was issued' })
  secretRotatedAt!: string;
  @ApiProperty({ description: 'Connected now (from its state messages, Will and heartbeats)' })
  online!: boolean;
  @ApiProperty({
    format: 'date-time',
    type: String,
    nullable: true,
    description: 'Last message of any kind',
  })
  lastSeenAt!: string | null;
  @ApiProperty({
    description:
      'Its latest hello named another type than `type` (what it said: `presence.reportedType` of the device); it is still served',
  })
  typeMismatch!: boolean;
  @ApiProperty({
    type: [String],
    example: ['ed25519'],
    description:
      'Signature algorithms its latest hello says it verifies commands with (`verifies`); empty: it has not said it checks signatures (COMMAND_SIGNING=required needs every device to)',
  })
  verifiesSignatures!: string[];
  @ApiProperty({ format: 'date-time' }) createdAt!: string;
  @ApiProperty({ format: 'date-time' }) updatedAt!: string;
}

export class TelemetryDto {
  @ApiPropertyOptional({ description: 'Output volume, percent' }) volume?: number;
  @ApiPropertyOptional({ description: 'Signal, dBm' }) signalDbm?: number;
  @ApiPropertyOptional({ description: 'Battery, percent' }) batteryPct?: number;
  @ApiPropertyOptional({ description: 'Enclosure temperature, °C' }) temperatureC?: number;
  @ApiPropertyOptional() uptimeS?: number;
  @ApiPropertyOptional({
    nullable: true,
    description: 'The delivery being played, if any',
    example: { deliveryId: 'd-1', broadcastId: 'b-1' },
  })
  playing?: { deliveryId: string; broadcastId: string } | null;
}

export class PresenceDto {
  @ApiProperty() online!: boolean;
  @ApiProperty({
    format: 'date-time',
    type: String,
    nullable: true,
    description: 'Last message of any kind',
  })
  lastSeenAt!: string | null;
  @ApiProperty({ format: 'date-time', type: String, nullable: true }) onlineSince!: string | null;
  @ApiProperty({ type: String, nullable: true }) firmware!: string | null;
  @ApiProperty({ type: [String] }) codecs!: string[];
  @ApiProperty({ type: String, nullable: true, description: 'The type the device says it is' })
  reportedType!: string | null;
  @ApiProperty({
    type: Number,
    nullable: true,
    description:
      'Output volume, percent, as last reported: by the hello, by telemetry, or by the ack of a volume command',
  })
  volume!: number | null;
  @ApiProperty({ type: TelemetryDto, nullable: true }) telemetry!: TelemetryDto | null;
  @ApiProperty({ format: 'date-time', type: String, nullable: true }) telemetryAt!: string | null;
}

export class DeviceDetailDto extends DeviceDto {
  @ApiProperty({ type: PresenceDto }) presence!: PresenceDto;
}

export class PresenceIntervalDto {
  @ApiProperty({ format: 'date-time' }) startedAt!: string;
  @ApiProperty({
    format: 'date-time',
    type: String,
    nullable: true,
    description: 'Null while still online',
  })
  endedAt!: string | null;
  @ApiProperty({
    type: String,
    nullable: true,
    description:
      'offline (the device or its Will said so), timeout, reconnect, server_stop, server_restart',
  })
  endReason!: string | null;
}

export class PresenceHistoryQuery {
  @ApiPropertyOptional({ minimum: 1, maximum: 500, default: 50 })
  @IsOptional()
  @Transform(toQueryInt)
  @IsInt()
  @Min(1)
  @Max(500)
  limit?: number;
}

export class DeviceWithSecretDto extends DeviceDto {
  @ApiProperty({
    description:
      'The device secret (its MQTT password). Shown once, in this response only: store it now.',
    example: 'k3Jd9…',
  })
  secret!: string;
}

export class DevicePageDto extends PageMetaDto {
  @ApiProperty({ type: [DeviceDto] }) items!: DeviceDto[];
}

export class DeviceSecretDto {
  @ApiProperty() id!: string;
  @ApiProperty({ description: 'Shown once' }) secret!: string;
}
