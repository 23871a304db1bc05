import { Controller, Get, Query } from '@nestjs/common';
import {
  ApiBearerAuth,
  ApiOkResponse,
  ApiOperation,
  ApiProperty,
  ApiPropertyOptional,
  ApiTags,
} from '@nestjs/swagger';
import { IsISO8601, IsOptional, IsString, MaxLength } from 'class-validator';
import { RequireRole } from '../auth/auth.decorators.js';
import { ApiErrors } from '../common/api-errors.js';
import { Page, PageMetaDto, PageQuery } from '../common/pagination.js';
import { AuditDto, AuditService } from './audit.service.js';

class AuditQuery extends PageQuery {
  @ApiPropertyOptional({ description: 'Exactly this actor (person, token name, or scheduler)' })
  @IsOptional()
  @IsString()
  @MaxLength(100)
  actor?: string;

  @ApiPropertyOptional({ description: 'Part of the action, e.g. broadcasts or cancel' })
  @IsOptional()
  @IsString()
  @MaxLength(120)
  action?: string;

  @ApiPropertyOptional({ format: 'date-time' })
  @IsOptional()
  @IsISO8601()
  from?: string;

  @ApiPropertyOptional({ format: 'date-time' })
  @IsOptional()
  @IsISO8601()
  to?: string;
}

class AuditEntryDto {
  @ApiProperty() id!: number;
  @ApiProperty({ format: 'date-time' }) at!: string;
  @ApiProperty({ description: 'The person (display name), the token name, or scheduler / system' })
  actor!: string;
  @ApiProperty({ type: String, nullable: true }) actorRole!: string | null;
  @ApiProperty({
    type: String,
    nullable: true,
    format: 'uuid',
    description: 'The person, if one acted',
  })
  actorUserId!: string | null;
  @ApiProperty({
    type: String,
    nullable: true,
    description: 'The token used, when a machine acted',
  })
  viaToken!: string | null;
  @ApiProperty({ example: 'POST /api/broadcasts/:id/cancel' }) action!: string;
  @ApiProperty({ type: String, nullable: true, description: 'The id(s) in the route' }) subject!:
    string | null;
  @ApiProperty({ type: Number, nullable: true, description: 'HTTP status of the change' }) status!:
    number | null;
  @ApiProperty({
    type: 'object',
    nullable: true,
    description: 'What was sent, secrets removed',
    additionalProperties: true,
  })
  detail!: unknown;
  @ApiProperty({ type: String, nullable: true }) requestId!: string | null;
}

class AuditPageDto extends PageMetaDto {
  @ApiProperty({ type: [AuditEntryDto] }) items!: AuditEntryDto[];
}

@ApiTags('audit')
@ApiBearerAuth()
@Controller('api/audit')
export class AuditController {
  constructor(private readonly audit: AuditService) {}

  @Get()
  @RequireRole('admin')
  @ApiOperation({
    summary: 'Who created, changed, cancelled or confirmed what, and when (admin); newest first',
  })
  @ApiOkResponse({ type: AuditPageDto })
  @ApiErrors(400, 401, 403)
  list(@Query() query: AuditQuery): Promise<Page<AuditDto>> {
    return this.audit.list(query);
  }
}
