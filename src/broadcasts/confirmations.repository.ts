import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { IsNull, Repository } from 'typeorm';
import { WriteQueue } from '../database/write-queue.js';
import { EvidenceChain } from '../evidence/evidence-chain.js';
import { confirmationBody, EvidenceDraft } from '../evidence/evidence-hash.js';
import { ManualConfirmationEntity } from './broadcast.entity.js';

/** The only file that writes manual confirmations. */
@Injectable()
export class ConfirmationsRepository {
  constructor(
    @InjectRepository(ManualConfirmationEntity)
    private readonly confirmations: Repository<ManualConfirmationEntity>,
    private readonly writes: WriteQueue,
    private readonly evidence: EvidenceChain,
  ) {}

  async insert(row: ManualConfirmationEntity): Promise<void> {
    await this.writes.run(async (m) => {
      await m.insert(ManualConfirmationEntity, row);
      await this.evidence.append(m, [proofOf(row, row.createdAt)]);
    });
  }

  ofBroadcast(broadcastId: string): Promise<ManualConfirmationEntity[]> {
    return this.confirmations.find({
      where: { broadcastId },
      order: { confirmedAt: 'ASC', id: 'ASC' },
    });
  }

  find(broadcastId: string, id: string): Promise<ManualConfirmationEntity | null> {
    return this.confirmations.findOneBy({ broadcastId, id });
  }

  /** Marks a confirmation withdrawn unless it already is; true if this call did it. */
  async withdraw(id: string, at: number, by: string, reason: string): Promise<boolean> {
    return this.writes.run(async (m) => {
      const moved = await m.update(
        ManualConfirmationEntity,
        { id, withdrawnAt: IsNull() },
        { withdrawnAt: at, withdrawnBy: by, withdrawReason: reason },
      );
      if (!moved.affected) return false;
      // The row as it now stands: its last entry is what verify holds it to.
      const row = await m.findOneByOrFail(ManualConfirmationEntity, { id });
      await this.evidence.append(m, [proofOf(row, at)]);
      return true;
    });
  }
}

/** The evidence entry of a manual confirmation as it stands after a write (docs/evidence.md). */
function proofOf(row: ManualConfirmationEntity, at: number): EvidenceDraft {
  return {
    at,
    kind: 'manual_confirmation',
    broadcastId: row.broadcastId,
    subject: row.id,
    body: confirmationBody(row),
  };
}
