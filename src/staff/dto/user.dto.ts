import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import {
  ArrayMaxSize,
  IsArray,
  IsBoolean,
  IsIn,
  IsOptional,
  Matches,
  ValidateIf,
} from 'class-validator';
import { Role, ROLES } from '../../auth/roles.js';
import { PageMetaDto } from '../../common/pagination.js';
import { IsDisplayName } from '../../common/validators.js';

export const USERNAME = /^[a-z0-9][a-z0-9._-]{1,63}$/;
const PHONE = /^\+?[0-9][0-9 ()-]{2,30}$/;
const TOWN_CODE = /^\d{9}$/;

const trim = ({ value }: { value: unknown }) => (typeof value === 'string' ? value.trim() : value);
const lower = ({ value }: { value: unknown }) =>
  typeof value === 'string' ? value.trim().toLowerCase() : value;

export class CreateUserDto {
  @ApiProperty({ example: 'wang.li', description: 'Lower case: a-z, 0-9, . _ - (2 to 64)' })
  @Transform(lower)
  @Matches(USERNAME, {
    message: 'username must be 2 to 64 of a-z 0-9 . _ - starting with a letter or digit',
  })
  username!: string;

  @ApiProperty({ example: '王丽', maxLength: 100 })
  @Transform(trim)
  @IsDisplayName(100)
  displayName!: string;

  @ApiPropertyOptional({ type: String, nullable: true, example: '+86 138 0000 0000' })
  @IsOptional()
  @ValidateIf((_, v) => v !== null)
  @Matches(PHONE, { message: 'phone must be digits (spaces, dashes and a leading + allowed)' })
  phone?: string | null;

  @ApiProperty({ enum: ROLES, example: 'operator' })
  @IsIn(ROLES)
  role!: Role;

  @ApiPropertyOptional({
    type: [String],
    description: 'Town codes; a town official needs at least one, county roles none',
  })
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(100)
  @Matches(TOWN_CODE, { each: true, message: 'each town code must be 9 digits' })
  towns?: string[];
}

export class UpdateUserDto {
  @ApiPropertyOptional({ maxLength: 100 })
  @IsOptional()
  @Transform(trim)
  @IsDisplayName(100)
  displayName?: string;

  @ApiPropertyOptional({ type: String, nullable: true })
  @IsOptional()
  @ValidateIf((_, v) => v !== null)
  @Matches(PHONE, { message: 'phone must be digits (spaces, dashes and a leading + allowed)' })
  phone?: string | null;

  @ApiPropertyOptional({ enum: ROLES })
  @IsOptional()
  @IsIn(ROLES)
  role?: Role;

  @ApiPropertyOptional({ type: [String] })
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(100)
  @Matches(TOWN_CODE, { each: true, message: 'each town code must be 9 digits' })
  towns?: string[];

  @ApiPropertyOptional({
    description: 'A disabled person cannot sign in; their tokens stop working',
  })
  @IsOptional()
  @IsBoolean()
  disabled?: boolean;
}

export class UserDto {
  @ApiProperty({ format: 'uuid' }) id!: string;
  @ApiProperty() username!: string;
  @ApiProperty() displayName!: string;
  @ApiProperty({ type: String, nullable: true }) phone!: string | null;
  @ApiProperty({ enum: ROLES }) role!: Role;
  @ApiProperty({ type: [String] }) towns!: string[];
  @ApiProperty() mustChangePassword!: boolean;
  @ApiProperty() disabled!: boolean;
  @ApiProperty({ description: 'Wrong passwords in a row from unknown browsers' })
  failedLogins!: number;
  @ApiProperty({ type: String, nullable: true, format: 'date-time' }) lockedUntil!: string | null;
  @ApiProperty({ type: String, nullable: true, format: 'date-time' }) lastLoginAt!: string | null;
  @ApiProperty() createdBy!: string;
  @ApiProperty({ format: 'date-time' }) createdAt!: string;
}

export class CreatedUserDto extends UserDto {
  @ApiProperty({ description: 'Shown once: the person signs in with it and must change it' })
  oneTimePassword!: string;
}

export class OneTimePasswordDto {
  @ApiProperty({ description: 'Shown once: the person signs in with it and must change it' })
  oneTimePassword!: string;
}

export class UserPageDto extends PageMetaDto {
  @ApiProperty({ type: [UserDto] }) items!: UserDto[];
}
