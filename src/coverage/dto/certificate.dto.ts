import { ApprovalDto } from '../../broadcasts/dto/approval-policy.dto.js';
import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { LEVELS } from '../../contract/messages.js';
import { SIGNATURE_ALGORITHMS } from '../../contract/signing.js';
import { BROADCAST_OUTCOMES } from '../../broadcasts/broadcast.entity.js';
import { UNCOVERED_REASONS, VILLAGE_OUTCOMES } from '../coverage.js';

/**
 * The coverage certificate (docs/certificates.md). Every value is a string, an integer, a boolean
 * or null: no fractions (no `rate`), so any RFC 8785 implementation, however small, agrees on the
 * bytes that are signed.
 */
export class CertificateKeyDto {
  @ApiProperty({ example: 'ed25519-3f1c0a9b5d2e7f64' }) kid!: string;
  @ApiProperty({ enum: SIGNATURE_ALGORITHMS }) alg!: string;
  @ApiProperty({ description: 'base64url raw public key' }) publicKey!: string;
}

export class DeviceKeyEntryDto extends CertificateKeyDto {
  @ApiProperty() deviceId!: string;
}

export class DeviceProofDto {
  @ApiProperty() deviceId!: string;
  @ApiProperty({ format: 'uuid' }) deliveryId!: string;
  @ApiProperty({ description: 'The device key (listed in `deviceKeys`)' }) kid!: string;
  @ApiProperty({
    description:
      'The exact text the device signed: the canonical JSON of its `played` event without `sig`',
  })
  signed!: string;
  @ApiProperty({ description: "base64url signature by the device's key over `signed` (UTF-8)" })
  sig!: string;
}

export class CertificateBroadcastDto {
  @ApiProperty({ format: 'uuid' }) id!: string;
  @ApiProperty() title!: string;
  @ApiProperty({ enum: LEVELS }) level!: string;
  @ApiProperty() status!: string;
  @ApiProperty({ enum: BROADCAST_OUTCOMES, nullable: true, type: String })
  outcome!: string | null;
  @ApiProperty({ format: 'date-time' }) startAt!: string;
  @ApiProperty({ format: 'date-time' }) expiresAt!: string;
  @ApiProperty({ nullable: true, type: String }) endReason!: string | null;
  @ApiProperty({
    type: ApprovalDto,
    nullable: true,
    description:
      'For a level that needed a second person: who approved it, or who sent it without one and why (`mode: override`)',
  })
  approval!: ApprovalDto | null;
}

export class CertificateSummaryDto {
  @ApiProperty() targeted!: number;
  @ApiProperty() covered!: number;
  @ApiProperty() coveredByDevices!: number;
  @ApiProperty() coveredManually!: number;
  @ApiProperty() partial!: number;
  @ApiProperty() uncovered!: number;
  @ApiProperty({ description: 'Covered villages whose `played` a device signed itself' })
  deviceSigned!: number;
  @ApiProperty({
    type: 'object',
    additionalProperties: { type: 'integer' },
    description: `Uncovered villages by reason (${UNCOVERED_REASONS.join(', ')})`,
  })
  uncoveredByReason!: Record<string, number>;
}

export class CertificateVillageDto {
  @ApiProperty() code!: string;
  @ApiProperty() name!: string;
  @ApiProperty({ description: 'Town name' }) town!: string;
  @ApiProperty({ enum: VILLAGE_OUTCOMES }) outcome!: string;
  @ApiProperty({ enum: ['devices', 'manual'], nullable: true, type: String })
  coveredBy!: string | null;
  @ApiProperty({ enum: UNCOVERED_REASONS, nullable: true, type: String }) reason!: string | null;
  @ApiProperty({
    type: Number,
    nullable: true,
    description: 'Time to first sound: ms from the broadcast start to its first `playing` here',
  })
  firstSoundMs!: number | null;
  @ApiProperty({ description: 'A device of the village signed its `played` with its own key' })
  deviceSigned!: boolean;
  @ApiPropertyOptional({ type: [DeviceProofDto], description: 'Only when deviceSigned' })
  deviceProofs?: DeviceProofDto[];
}

export class ChainHeadDto {
  @ApiProperty() seq!: number;
  @ApiProperty({ description: 'sha256 hex of the last evidence entry of this broadcast' })
  hash!: string;
}

export class CertificateDto {
  @ApiProperty({ example: 'dalaba-certificate/1' }) format!: 'dalaba-certificate/1';
  @ApiProperty({ format: 'date-time' }) issuedAt!: string;
  @ApiProperty({ description: 'The issuing server (PUBLIC_URL)' }) server!: string;
  @ApiProperty({ type: CertificateBroadcastDto }) broadcast!: CertificateBroadcastDto;
  @ApiProperty({ type: CertificateSummaryDto }) summary!: CertificateSummaryDto;
  @ApiProperty({ type: [CertificateVillageDto], description: 'Town, then village code order' })
  villages!: CertificateVillageDto[];
  @ApiProperty({
    type: [DeviceKeyEntryDto],
    description: 'The device keys the proofs verify with, as pinned from the devices',
  })
  deviceKeys!: DeviceKeyEntryDto[];
  @ApiProperty({
    type: ChainHeadDto,
    nullable: true,
    description: 'The evidence chain head the figures were computed from; null before any entry',
  })
  chainHead!: ChainHeadDto | null;
  @ApiProperty({ type: CertificateKeyDto, description: 'The server key that signed it' })
  key!: CertificateKeyDto;
}

export class SignedCertificateDto {
  @ApiProperty({ type: CertificateDto }) certificate!: CertificateDto;
  @ApiProperty({
    description:
      'base64url signature by `certificate.key` over the RFC 8785 canonical JSON of `certificate` (UTF-8)',
  })
  signature!: string;
}
