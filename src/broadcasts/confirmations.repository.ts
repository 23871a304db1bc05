import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { IsNull, Repository } from 'typeorm';
import { WriteQueue } from '../database/write-queue.js';
import { ManualConfirmationEntity } from './broadcast.entity.js';

/** The only file that writes manual confirmations. */
@Injectable()
export class ConfirmationsRepository {
  constructor(
    @InjectRepository(ManualConfirmationEntity)
    private readonly confirmations: Repository<ManualConfirmationEntity>,
    private readonly writes: WriteQueue,
  ) {}

  async insert(row: ManualConfirmationEntity): Promise<void> {
    await this.writes.run((m) => m.insert(ManualConfirmationEntity, row));
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
    const moved = await this.writes.run((m) =>
      m.update(
        ManualConfirmationEntity,
        { id, withdrawnAt: IsNull() },
        { withdrawnAt: at, withdrawnBy: by, withdrawReason: reason },
      ),
    );
    return (moved.affected ?? 0) > 0;
  }
}
