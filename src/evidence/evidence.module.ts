import { Module } from '@nestjs/common';
import { EvidenceChain } from './evidence-chain.js';
import { EvidenceVerifier } from './evidence-verifier.js';

/** The evidence hash chain: appended by broadcasts, read by coverage, checked by the CLI. */
@Module({
  providers: [EvidenceChain, EvidenceVerifier],
  exports: [EvidenceChain, EvidenceVerifier],
})
export class EvidenceModule {}
