import { ApiProperty } from '@nestjs/swagger';
import { SIGNATURE_ALGORITHMS } from '../../contract/signing.js';

/** A device's own public key (protocol 1.1), as pinned from its hello. */
export class DeviceKeyDto {
  @ApiProperty({ example: 'vl-611026001201-1' }) deviceId!: string;
  @ApiProperty({ example: 'ed25519-3f1c0a9b5d2e7f64' }) kid!: string;
  @ApiProperty({ enum: SIGNATURE_ALGORITHMS }) alg!: string;
  @ApiProperty({
    description: 'base64url: Ed25519 the 32 raw bytes, SM2 the 65-byte uncompressed point',
  })
  publicKey!: string;
  @ApiProperty({ description: 'When it was pinned (first hello that carried it)' })
  pinnedAt!: string;
}
