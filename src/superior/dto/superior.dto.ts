import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsOptional, Matches } from 'class-validator';
import { PageMetaDto, PageQuery } from '../../common/pagination.js';
import { readTar } from '../tar.js';
import {
  PACKAGE_DIRECTIONS,
  PACKAGE_STATUSES,
  type PackageDirection,
  type PackageStatus,
  type SuperiorPackageEntity,
} from '../superior-package.entity.js';
import type { LinkStatus } from '../superior-link.js';

export class SuperiorPackageQuery extends PageQuery {
  @ApiPropertyOptional({ enum: PACKAGE_DIRECTIONS })
  @IsOptional()
  @IsIn(PACKAGE_DIRECTIONS)
  direction?: PackageDirection;

  @ApiPropertyOptional({ enum: PACKAGE_STATUSES })
  @IsOptional()
  @IsIn(PACKAGE_STATUSES)
  status?: PackageStatus;

  @ApiPropertyOptional({ description: 'EBDType, e.g. EBMStateResponse, EBRDTState, EBM' })
  @IsOptional()
  @Matches(/^[A-Za-z]{1,32}$/)
  type?: string;
}

export class SuperiorPackageDto {
  @ApiProperty({ format: 'uuid' }) id!: string;
  @ApiProperty({
    description: 'EBDID (`refused-…`: a refused inbound package kept by an earlier version)',
  })
  ebdId!: string;
  @ApiProperty({ enum: PACKAGE_DIRECTIONS }) direction!: PackageDirection;
  @ApiProperty({ description: 'EBDType' }) type!: string;
  @ApiProperty({
    type: String,
    nullable: true,
    description:
      'What it is about: a broadcast id (EBMStateResponse), a device id or "n devices" (EBRDTState), the alert id (EBM in)',
  })
  subject!: string | null;
  @ApiProperty({ enum: PACKAGE_STATUSES }) status!: PackageStatus;
  @ApiProperty() attempts!: number;
  @ApiProperty({
    type: Number,
    nullable: true,
    description: 'Epoch ms of the next attempt (pending)',
  })
  nextAttemptAt!: number | null;
  @ApiProperty({ type: String, nullable: true }) lastError!: string | null;
  @ApiProperty({ type: String, nullable: true, description: 'EBDResponse ResultCode: 1 = success' })
  resultCode!: string | null;
  @ApiProperty({
    type: String,
    nullable: true,
    description: 'The receipt’s EBDB (the EBDResponse XML) as received (out) or answered (in)',
  })
  receipt!: string | null;
  @ApiProperty() createdAt!: number;
  @ApiProperty() updatedAt!: number;
}

export class SuperiorPackagePageDto extends PageMetaDto {
  @ApiProperty({ type: [SuperiorPackageDto] }) items!: SuperiorPackageDto[];
}

/** The receipt tar's EBDB file as text, for people reading the list. */
function receiptText(receipt: string | null): string | null {
  if (!receipt) return null;
  try {
    const file = readTar(Buffer.from(receipt, 'base64')).find((f) => f.name.startsWith('EBDB_'));
    return file ? file.data.toString('utf8') : null;
  } catch {
    return null;
  }
}

export function toSuperiorPackageDto(row: SuperiorPackageEntity): SuperiorPackageDto {
  return {
    id: row.id,
    ebdId: row.ebdId,
    direction: row.direction,
    type: row.type,
    subject: row.subject,
    status: row.status,
    attempts: row.attempts,
    nextAttemptAt: row.nextAttemptAt,
    lastError: row.lastError,
    resultCode: row.resultCode,
    receipt: receiptText(row.receipt),
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  };
}

export class SuperiorStatusDto implements LinkStatus {
  @ApiProperty({ description: 'False without SUPERIOR_URL: every other field is then empty' })
  enabled!: boolean;
  @ApiProperty({ type: String, nullable: true, description: 'SUPERIOR_URL without credentials' })
  url!: string | null;
  @ApiProperty({ type: String, nullable: true, description: 'EBR_ID' }) ebrId!: string | null;
  @ApiProperty({ type: String, nullable: true }) superiorEbrId!: string | null;
  @ApiProperty({ type: String, nullable: true, enum: ['sm2', 'ed25519'] })
  signature!: string | null;
  @ApiProperty({
    type: String,
    nullable: true,
    description: 'Key id of the key packages are signed with (EBDS CertSN)',
  })
  kid!: string | null;
  @ApiProperty({
    type: String,
    nullable: true,
    description:
      'Its public key, base64url (SM2: the 65-byte point): what the superior verifies with',
  })
  publicKey!: string | null;
  @ApiProperty({ type: String, nullable: true }) keyProblem!: string | null;
  @ApiProperty({ description: 'The last heartbeat and the last attempt both got a receipt' })
  up!: boolean;
  @ApiProperty({ type: Number, nullable: true }) lastHeartbeatAt!: number | null;
  @ApiProperty({ type: Boolean, nullable: true }) lastHeartbeatOk!: boolean | null;
  @ApiProperty({ type: String, nullable: true }) lastError!: string | null;
  @ApiProperty({ type: Number, nullable: true, description: 'Backing off until then' })
  retryAt!: number | null;
  @ApiProperty({ description: 'Outgoing packages waiting' }) pending!: number;
  @ApiProperty({
    description:
      'Outgoing packages that failed: given up after their attempts, or refused by the superior ' +
      '(kept until the 90-day sweep; listed with `status=failed`)',
  })
  failed!: number;
  @ApiProperty({
    description: 'Inbound packages refused since start (bad signature, address, unreadable)',
  })
  refusedInbound!: number;
}
