import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { SIGNATURE_ALGORITHMS, type SignatureAlgorithm } from '../../contract/signing.js';
import { SIGNING_MODES, type SigningMode } from '../../config/app-config.js';
import { DeviceWithSecretDto } from './device.dto.js';

/** The format name and version a provisioning bundle carries first. */
export const PROVISIONING_FORMAT = 'dalaba-provisioning/1';

export class ProvisioningKeyDto {
  @ApiProperty({ example: 'ed25519-3f2a9c0d1e4b5a68' }) kid!: string;
  @ApiProperty({ enum: SIGNATURE_ALGORITHMS }) alg!: SignatureAlgorithm;
  @ApiProperty({
    description: 'base64url: Ed25519 the 32 raw bytes, SM2 the 65-byte uncompressed point',
  })
  publicKey!: string;
  @ApiPropertyOptional({ description: 'The key that vouches for this one (its predecessor)' })
  endorsedBy?: string;
  @ApiPropertyOptional({ description: 'Signature by `endorsedBy` over `{alg, kid, publicKey}`' })
  endorsement?: string;
  @ApiPropertyOptional({ description: 'Accepted until then (epoch ms): a key being retired' })
  until?: number;
}

export class ProvisioningSigningDto {
  @ApiProperty({
    enum: SIGNING_MODES,
    description:
      'COMMAND_SIGNING of this server; `required`: the device refuses every unsigned command from the start',
  })
  mode!: SigningMode;
  @ApiProperty({
    type: [ProvisioningKeyDto],
    description: 'The public keys the server signs commands with (protocol section 9.4)',
  })
  keys!: ProvisioningKeyDto[];
}

/** Everything a device needs to join this server, for a field installer: JSON, and as a QR code. */
export class ProvisioningBundleDto {
  @ApiProperty({ enum: [PROVISIONING_FORMAT] }) format!: typeof PROVISIONING_FORMAT;
  @ApiProperty({ example: 'vl-611026001201-1' }) deviceId!: string;
  @ApiProperty({
    type: String,
    nullable: true,
    description:
      'The device secret (its MQTT password): only in the response that creates or rotates it; null otherwise',
  })
  secret!: string | null;
  @ApiProperty({
    example: 'mqtt://192.168.1.20:1883',
    description:
      'The broker the device connects to: MQTT_PUBLIC_URL, or derived (never with the server’s own credentials)',
  })
  mqttUrl!: string;
  @ApiProperty({ example: 'dalaba/v1' }) topicPrefix!: string;
  @ApiProperty({ example: 1, description: 'Protocol version' }) protocol!: number;
  @ApiProperty({ type: ProvisioningSigningDto }) signing!: ProvisioningSigningDto;
  @ApiProperty({ description: 'Server clock when the bundle was made, epoch ms' })
  serverTime!: number;
  @ApiProperty({
    type: String,
    nullable: true,
    description:
      'The bundle without `qr`, as JSON, in a QR code (an SVG document); null when it is too large for one code',
  })
  qr!: string | null;
}

export class ProvisionedDeviceDto extends DeviceWithSecretDto {
  @ApiProperty({
    type: ProvisioningBundleDto,
    description: 'The provisioning bundle, with the secret: shown once, in this response only',
  })
  provisioning!: ProvisioningBundleDto;
}
