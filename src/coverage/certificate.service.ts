import { approvalOf } from '../broadcasts/broadcast-dto.js';
import { Injectable, Logger } from '@nestjs/common';
import type { AppConfig } from '../config/app-config.js';
import { InjectConfig } from '../config/config.module.js';
import { readDeviceProof } from '../broadcasts/device-proof.js';
import { DeviceProofsRepository } from '../broadcasts/device-proofs.repository.js';
import { canonicalJson, type SignatureAlgorithm } from '../contract/signing.js';
import { isoTime } from '../common/time.js';
import { ServerKeys } from '../signing/server-keys.js';
import { CoverageService } from './coverage.service.js';
import type {
  CertificateDto,
  CertificateKeyDto,
  DeviceKeyEntryDto,
  DeviceProofDto,
  SignedCertificateDto,
} from './dto/certificate.dto.js';

export const CERTIFICATE_FORMAT = 'dalaba-certificate/1';

/** Tries at signing: the key is part of what is signed, and a rotation may come in between. */
const SIGN_ATTEMPTS = 3;

/**
 * A broadcast's coverage certificate: the coverage service's own figures (never recomputed here),
 * each village's device-signed `played` proofs, the evidence chain head, signed by the server key.
 */
@Injectable()
export class CertificateService {
  private readonly logger = new Logger('coverage');
  /** The key the last certificate was signed with: what the next one names before signing. */
  private lastKey?: CertificateKeyDto;

  constructor(
    private readonly coverage: CoverageService,
    private readonly proofs: DeviceProofsRepository,
    private readonly keys: ServerKeys,
    @InjectConfig() private readonly config: AppConfig,
  ) {}

  async certificate(id: string): Promise<SignedCertificateDto> {
    // The head the figures were computed from, read with them (CoverageService.computeBroadcast).
    const {
      header,
      report,
      generatedAt,
      evidence: chainHead,
    } = await this.coverage.computeBroadcast(id);
    const stored = await this.proofs.playedProofs(id);

    const proofsOf = new Map<string, DeviceProofDto[]>();
    const deviceKeys = new Map<string, DeviceKeyEntryDto>();
    for (const row of stored) {
      // Checked again: a proof row changed by hand marks nothing device-signed.
      const p = readDeviceProof(row.proof, { deliveryId: row.deliveryId, state: 'played' });
      if (!p) {
        this.logger.warn(
          `broadcast=${id} device=${row.deviceId} delivery=${row.deliveryId}: stored device proof does not verify; left out of the certificate`,
        );
        continue;
      }
      const list = proofsOf.get(row.villageCode) ?? [];
      list.push({
        deviceId: row.deviceId,
        deliveryId: row.deliveryId,
        kid: p.kid,
        signed: p.signed,
        sig: p.sig,
      });
      proofsOf.set(row.villageCode, list);
      deviceKeys.set(`${row.deviceId} ${p.kid}`, {
        deviceId: row.deviceId,
        kid: p.kid,
        alg: p.alg,
        publicKey: p.publicKey,
      });
    }

    let deviceSigned = 0;
    const villages = report.villages.map((v) => {
      const proofs = v.coveredBy === 'devices' ? (proofsOf.get(v.code) ?? []) : [];
      if (proofs.length) deviceSigned++;
      return {
        code: v.code,
        name: v.name,
        town: v.townName,
        outcome: v.outcome,
        coveredBy: v.coveredBy,
        reason: v.reason,
        // As the milestones count it (broadcast-outcome.ts): never before the start.
        firstSoundMs: v.firstSoundAt === null ? null : Math.max(0, v.firstSoundAt - header.startAt),
        deviceSigned: proofs.length > 0,
        ...(proofs.length ? { deviceProofs: proofs } : {}),
      };
    });
    const s = report.summary;
    const body: Omit<CertificateDto, 'key'> = {
      format: CERTIFICATE_FORMAT,
      issuedAt: isoTime(generatedAt),
      server: this.config.publicUrl,
      broadcast: {
        id: header.id,
        title: header.title,
        level: header.level,
        status: header.status,
        outcome: header.outcome,
        startAt: isoTime(header.startAt),
        expiresAt: isoTime(header.expiresAt),
        endReason: header.endReason,
        approval: approvalOf(header),
      },
      summary: {
        targeted: s.targeted,
        covered: s.covered,
        coveredByDevices: s.coveredByDevices,
        coveredManually: s.coveredManually,
        partial: s.partial,
        uncovered: s.uncovered,
        deviceSigned,
        uncoveredByReason: { ...s.uncoveredByReason },
      },
      villages,
      deviceKeys: [...deviceKeys.values()],
      chainHead: chainHead ? { seq: chainHead.seq, hash: chainHead.hash } : null,
    };
    return this.sign(body);
  }

  /** Names the signing key inside the certificate, signs it, and signs again if the key moved on. */
  private async sign(body: Omit<CertificateDto, 'key'>): Promise<SignedCertificateDto> {
    let key: CertificateKeyDto = this.lastKey ?? { kid: '', alg: 'ed25519', publicKey: '' };
    for (let attempt = 0; attempt < SIGN_ATTEMPTS; attempt++) {
      const certificate: CertificateDto = { ...body, key };
      const signed = await this.keys.signDocument(Buffer.from(canonicalJson(certificate), 'utf8'));
      const used = {
        kid: signed.kid,
        alg: signed.alg as SignatureAlgorithm,
        publicKey: signed.publicKey,
      };
      if (used.kid === key.kid && used.publicKey === key.publicKey && used.alg === key.alg) {
        this.lastKey = key;
        return { certificate, signature: signed.sig };
      }
      key = used;
    }
    throw new Error(`the server key changed ${SIGN_ATTEMPTS} times while signing a certificate`);
  }
}
