import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { In, Repository } from 'typeorm';
import { isUniqueViolation } from '../database/db-errors.js';
import { chunks } from '../database/batch.js';
import { WriteQueue } from '../database/write-queue.js';
import { CapMessageEntity, type CapMessageKind } from './cap-message.entity.js';

/** The only file that speaks TypeORM for the CAP identifiers published (cap-out.ts). */
@Injectable()
export class CapMessagesRepository {
  constructor(
    @InjectRepository(CapMessageEntity)
    private readonly messages: Repository<CapMessageEntity>,
    private readonly writes: WriteQueue,
  ) {}

  /** The identifiers already given to these broadcasts' messages, by `<broadcast id>:<kind>`. */
  async identifiers(broadcastIds: string[]): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    for (const ids of chunks(broadcastIds, 500))
      for (const m of await this.messages.find({ where: { broadcastId: In(ids) } }))
        out.set(`${m.broadcastId}:${m.kind}`, m.identifier);
    return out;
  }

  /**
   * Gives the message the first of `candidates` no other message has, and answers the one it has
   * (another server may have given it one meanwhile); null when every candidate is taken.
   */
  async claim(
    broadcastId: string,
    kind: CapMessageKind,
    candidates: string[],
    now: number,
  ): Promise<string | null> {
    for (const identifier of candidates) {
      try {
        await this.writes.run((m) =>
          m.insert(CapMessageEntity, { broadcastId, kind, identifier, createdAt: now }),
        );
        return identifier;
      } catch (err) {
        if (!isUniqueViolation(err)) throw err;
        const mine = await this.messages.findOneBy({ broadcastId, kind });
        if (mine) return mine.identifier;
      }
    }
    return null;
  }
}
