// STAND-IN: replaced by h17-evid at merge
import { Module } from '@nestjs/common';
import { EvidenceChain } from './evidence-chain.js';

@Module({ providers: [EvidenceChain], exports: [EvidenceChain] })
export class EvidenceModule {}
