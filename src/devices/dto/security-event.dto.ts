import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsInt, IsOptional, Max, Min } from 'class-validator';
import { SECURITY_EVENT_KINDS, type SecurityEventKind } from '../../contract/security-reasons.js';
import { toQueryInt } from '../../common/query.js';

export class SecurityEventDto {
  @ApiProperty() id!: number;
  @ApiProperty({ example: 'vl-611026001201-1' }) deviceId!: string;
  @ApiProperty({ format: 'date-time', description: 'Server receipt time' }) at!: string;
  @ApiProperty({ enum: SECURITY_EVENT_KINDS }) kind!: SecurityEventKind;
  @ApiProperty({
    example: 'bad_signature',
    description:
      'For command_rejected the device’s reason (unsigned, bad_signature, unknown_key, revoked_key, replayed, expired, wrong_device); otherwise the kind',
  })
  reason!: string;
  @ApiProperty({ type: String, nullable: true, description: 'The device’s own words' })
  detail!: string | null;
  @ApiProperty({ type: String, nullable: true, description: 'The refused command’s id' })
  commandId!: string | null;
  @ApiProperty({ type: Number, nullable: true, description: 'The `seq` it carried' })
  seq!: number | null;
  @ApiProperty({ type: String, nullable: true, description: 'The `kid` it carried' })
  kid!: string | null;
}

export class SecurityEventQuery {
  @ApiPropertyOptional({ minimum: 1, maximum: 500, default: 50 })
  @IsOptional()
  @Transform(toQueryInt)
  @IsInt()
  @Min(1)
  @Max(500)
  limit?: number;
}
