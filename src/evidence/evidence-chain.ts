// STAND-IN: replaced by h17-evid at merge
import { Injectable } from '@nestjs/common';

/** Stand-in for the evidence hash chain: no entries yet, so no head. */
@Injectable()
export class EvidenceChain {
  /** The last entry of one broadcast's evidence; null while there is none. */
  headOf(_broadcastId: string): Promise<{ seq: number; hash: string } | null> {
    return Promise.resolve(null);
  }
}
