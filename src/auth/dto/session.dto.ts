import { ApiProperty } from '@nestjs/swagger';
import { IsString, Length, MaxLength } from 'class-validator';
import { PASSWORD_MAX_LENGTH } from '../password-hasher.js';
import { PrincipalDto } from './token.dto.js';

export class SignInDto {
  @ApiProperty({ example: 'wang.li', maxLength: 64 })
  @IsString()
  @Length(1, 64)
  username!: string;

  @ApiProperty({ format: 'password', maxLength: PASSWORD_MAX_LENGTH })
  @IsString()
  @Length(1, PASSWORD_MAX_LENGTH)
  password!: string;
}

export class ChangePasswordDto {
  @ApiProperty({ format: 'password', maxLength: PASSWORD_MAX_LENGTH })
  @IsString()
  @Length(1, PASSWORD_MAX_LENGTH)
  currentPassword!: string;

  @ApiProperty({
    format: 'password',
    description: 'At least PASSWORD_MIN_LENGTH (10) characters, not the username',
    maxLength: PASSWORD_MAX_LENGTH,
  })
  @IsString()
  @MaxLength(PASSWORD_MAX_LENGTH)
  newPassword!: string;
}

/** The signed-in person: who they act as, and whether they must change their password first. */
export class MeDto extends PrincipalDto {
  @ApiProperty() displayName!: string;
  @ApiProperty({ description: 'Only the password change and sign-out work until it is changed' })
  mustChangePassword!: boolean;
}

export class SessionDto {
  @ApiProperty({ type: MeDto }) user!: MeDto;
  @ApiProperty({ description: 'Send as X-CSRF-Token with every change made with this session' })
  csrfToken!: string;
  @ApiProperty({ format: 'date-time', description: 'The session ends then, however active' })
  expiresAt!: string;
  @ApiProperty({ description: 'The session ends after this many seconds without a request' })
  idleTimeoutS!: number;
}
