import { ApiProperty } from '@nestjs/swagger';
import type { SigningMode } from '../../config/app-config.js';
import { isoTime } from '../../common/time.js';
import { SIGNATURE_ALGORITHMS, type SignatureAlgorithm } from '../../contract/signing.js';
import type { KeyInfo } from '../server-keys.js';

export class PublicKeyDto {
  @ApiProperty({
    example: 'ed25519-3f1c0a9b7d2e4c61',
    description: 'Key id: alg and 16 hex of sha256(public key)',
  })
  kid!: string;
  @ApiProperty({ enum: SIGNATURE_ALGORITHMS }) alg!: SignatureAlgorithm;
  @ApiProperty({
    description:
      'base64url (no padding): Ed25519 the 32 raw bytes; SM2 the 65-byte uncompressed point 04‖x‖y',
  })
  publicKey!: string;
  @ApiProperty({
    enum: ['active', 'retiring', 'retired', 'revoked'],
    description:
      'active: signs commands and certificates now; retiring: still accepted until `until`; retired: its overlap has ended; revoked: never to be accepted',
  })
  status!: 'active' | 'retiring' | 'retired' | 'revoked';
  @ApiProperty({ format: 'date-time' }) createdAt!: string;
  @ApiProperty({
    format: 'date-time',
    type: String,
    nullable: true,
    description: 'A retiring key is accepted until then',
  })
  until!: string | null;
  @ApiProperty({ format: 'date-time', type: String, nullable: true }) revokedAt!: string | null;
  @ApiProperty({
    type: String,
    nullable: true,
    description: 'The key that was active when this one was made, and vouches for it',
  })
  endorsedBy!: string | null;
  @ApiProperty({
    type: String,
    nullable: true,
    description:
      'Signature by `endorsedBy` over the canonical JSON `{alg, kid, publicKey}` of this key (base64url)',
  })
  endorsement!: string | null;
}

export class KeysDto {
  @ApiProperty({ type: [PublicKeyDto], description: 'Every key the server has had, oldest first' })
  items!: PublicKeyDto[];
  @ApiProperty({ description: 'The key commands and certificates are signed with now' })
  active!: string;
  @ApiProperty({ type: [String], description: 'Revoked key ids: never accept them' })
  revoked!: string[];
  @ApiProperty({
    enum: ['off', 'optional', 'required'],
    description: 'COMMAND_SIGNING of this server',
  })
  signing!: 'off' | 'optional' | 'required';
}

const iso = (ms: number | null) => (ms === null ? null : isoTime(ms));

/** The public listing of the keys (REST and `keys list --json`): never a private key. */
export function toKeysDto(keys: KeyInfo[], signing: SigningMode): KeysDto {
  return {
    items: keys.map((k) => ({
      kid: k.kid,
      alg: k.alg,
      publicKey: k.publicKey,
      status: k.status,
      createdAt: isoTime(k.createdAt),
      until: iso(k.until),
      revokedAt: iso(k.revokedAt),
      endorsedBy: k.endorsedBy,
      endorsement: k.endorsement,
    })),
    active: keys.find((k) => k.status === 'active')?.kid ?? '',
    revoked: keys.filter((k) => k.status === 'revoked').map((k) => k.kid),
    signing,
  };
}
