import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsOptional } from 'class-validator';
import { DEVICE_TYPES, DeviceType } from '../contract/device.js';
import { PageMetaDto } from '../common/pagination.js';
import { LatestBroadcastDto } from '../coverage/dto/coverage.dto.js';
import { SIGNING_MODES, type SigningMode } from '../config/app-config.js';
import { VillageQuery } from '../villages/dto/village.dto.js';
import { VILLAGE_PROBLEMS, VillageProblem } from './village-status.js';

export class VillageStatusQuery extends VillageQuery {
  @ApiPropertyOptional({ enum: VILLAGE_PROBLEMS, description: 'Only villages with this problem' })
  @IsOptional()
  @IsIn(VILLAGE_PROBLEMS)
  problem?: VillageProblem;
}

class TypeCountDto {
  @ApiProperty() total!: number;
  @ApiProperty() online!: number;
}

export class TypeMismatchDto {
  @ApiProperty({ example: 'vl-611026001201-1' }) deviceId!: string;
  @ApiProperty({ enum: DEVICE_TYPES, example: 'village_loudspeaker' }) registeredType!: DeviceType;
  @ApiProperty({
    enum: DEVICE_TYPES,
    example: 'flood_pa',
    description: 'What the device said it is in its latest hello',
  })
  reportedType!: string;
}

export class VillageStatusDto {
  @ApiProperty({ example: '611026001201' }) code!: string;
  @ApiProperty({ example: '东沟村' }) name!: string;
  @ApiProperty({ example: '611026001' }) townCode!: string;
  @ApiProperty({ example: '乾佑街道' }) townName!: string;
  @ApiProperty() devicesTotal!: number;
  @ApiProperty() devicesEnabled!: number;
  @ApiProperty() devicesOnline!: number;
  @ApiProperty({
    type: 'object',
    description: `Per device type (${DEVICE_TYPES.join(', ')}), only types present`,
    additionalProperties: { $ref: '#/components/schemas/TypeCountDto' },
    example: { village_loudspeaker: { total: 1, online: 1 } },
  })
  byType!: Record<string, TypeCountDto>;
  @ApiProperty({
    format: 'date-time',
    type: String,
    nullable: true,
    description: 'Latest message from any of its devices',
  })
  lastHeardAt!: string | null;
  @ApiProperty({
    enum: VILLAGE_PROBLEMS,
    nullable: true,
    description: 'Worst problem; null when every enabled device is online',
  })
  problem!: VillageProblem | null;
  @ApiProperty({
    type: [TypeMismatchDto],
    description:
      'Devices whose latest hello named another type than their registration (by device id); empty when none. Not a presence problem: they are still served',
  })
  typeMismatches!: TypeMismatchDto[];
  @ApiProperty({
    description:
      'Security events of its devices in the last 24 hours: commands they refused (forged, replayed, expired…), device keys or signatures refused',
  })
  securityEvents!: number;
  @ApiProperty({
    type: LatestBroadcastDto,
    nullable: true,
    description: 'The latest dispatched broadcast that targeted it, and what came of it here',
  })
  latestBroadcast!: LatestBroadcastDto | null;
}

export class StatusSummaryDto {
  @ApiProperty({ description: 'Villages matching the filters' }) villages!: number;
  @ApiProperty({ description: 'Of those, villages with every enabled device online' })
  villagesOk!: number;
  @ApiProperty() devicesTotal!: number;
  @ApiProperty() devicesOnline!: number;
  @ApiProperty({ description: 'Devices whose latest hello named another type than registered' })
  typeMismatches!: number;
  @ApiProperty({ description: 'Security events in the last 24 hours, across the villages' })
  securityEvents!: number;
  @ApiProperty({
    enum: SIGNING_MODES,
    description:
      'COMMAND_SIGNING: with `required`, devices that have not said they verify signatures are flagged',
  })
  commandSigning!: SigningMode;
}

export class VillageStatusPageDto extends PageMetaDto {
  @ApiProperty({ type: [VillageStatusDto] }) items!: VillageStatusDto[];
  @ApiProperty({ type: StatusSummaryDto, description: 'Across every page' })
  summary!: StatusSummaryDto;
}

export { TypeCountDto };
