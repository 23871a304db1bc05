import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsBoolean, IsIn, IsOptional, IsUUID } from 'class-validator';
import { PageMetaDto, PageQuery } from '../../common/pagination.js';
import { toBoolean } from '../../common/query.js';
import { IsDisplayName } from '../../common/validators.js';
import { Role, ROLES } from '../roles.js';

export class CreateTokenDto {
  @ApiProperty({
    description: 'Who or what uses the token',
    example: 'duty desk tablet',
    maxLength: 100,
  })
  @Transform(({ value }) => (typeof value === 'string' ? value.trim() : value))
  @IsDisplayName(100)
  name!: string;

  @ApiProperty({ enum: ROLES, example: 'operator' })
  @IsIn(ROLES)
  role!: Role;

  @ApiPropertyOptional({
    format: 'uuid',
    description:
      'The person the token acts for (audit entries name them); its role may not exceed theirs, and a town official’s token is town_official',
  })
  @IsOptional()
  @IsUUID()
  ownerUserId?: string;
}

export class ListTokensQuery extends PageQuery {
  @ApiPropertyOptional({ description: 'Include revoked tokens', default: false })
  @IsOptional()
  @Transform(toBoolean)
  @IsBoolean()
  includeRevoked?: boolean;
}

export class TokenDto {
  @ApiProperty({ format: 'uuid' }) id!: string;
  @ApiProperty() name!: string;
  @ApiProperty({ enum: ROLES }) role!: Role;
  @ApiProperty({
    description: 'First characters of the token, to recognise it',
    example: 'dlb_3kP9aZ1q',
  })
  tokenPrefix!: string;
  @ApiProperty({
    type: String,
    nullable: true,
    format: 'uuid',
    description: 'The person it acts for',
  })
  ownerUserId!: string | null;
  @ApiProperty({ type: String, nullable: true, description: 'That person’s display name' })
  ownerName!: string | null;
  @ApiProperty({ description: 'Name of the token (or `bootstrap`, `cli`) that created it' })
  createdBy!: string;
  @ApiProperty({ format: 'date-time' }) createdAt!: string;
  @ApiProperty({ format: 'date-time', nullable: true, type: String }) lastUsedAt!: string | null;
  @ApiProperty({ format: 'date-time', nullable: true, type: String }) revokedAt!: string | null;
}

export class CreatedTokenDto extends TokenDto {
  @ApiProperty({ description: 'The token. Shown once, in this response only: store it now.' })
  token!: string;
}

export class PrincipalDto {
  @ApiProperty({ description: 'The credential presented: an API token id or a session id' })
  credentialId!: string;
  @ApiProperty({ enum: ['token', 'session'] }) via!: 'token' | 'session';
  @ApiProperty({ description: 'Who acts: the person, or the token when no person owns it' })
  name!: string;
  @ApiProperty({ enum: ROLES }) role!: Role;
  @ApiProperty({ type: String, nullable: true, format: 'uuid' }) userId!: string | null;
  @ApiProperty({ type: String, nullable: true }) username!: string | null;
  @ApiProperty({ type: String, nullable: true }) phone!: string | null;
  @ApiProperty({ type: String, nullable: true, description: 'The token, when a machine acts' })
  tokenName!: string | null;
  @ApiProperty({
    type: [String],
    nullable: true,
    description: 'Town codes this principal acts for; null for the whole county',
  })
  towns!: string[] | null;
}

export class TokenPageDto extends PageMetaDto {
  @ApiProperty({ type: [TokenDto] }) items!: TokenDto[];
}
