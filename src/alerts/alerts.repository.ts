import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { FindOptionsWhere, In, IsNull, Like, Not, Repository } from 'typeorm';
import { WriteQueue } from '../database/write-queue.js';
import { AlertEntity, AlertOutcome, AlertSenderEntity, AlertSource } from './alert.entity.js';

/** The only file that speaks TypeORM for alerts and their senders (feeds: src/alerts/feeds/). */
@Injectable()
export class AlertsRepository {
  constructor(
    @InjectRepository(AlertEntity) private readonly alerts: Repository<AlertEntity>,
    @InjectRepository(AlertSenderEntity) private readonly senders: Repository<AlertSenderEntity>,
    private readonly writes: WriteQueue,
  ) {}

  find(id: string): Promise<AlertEntity | null> {
    return this.alerts.findOneBy({ id });
  }

  /** Alerts left recorded with `reason` (being processed) by a stop: oldest first. */
  inProcessing(reason: string): Promise<AlertEntity[]> {
    return this.alerts.find({
      where: { outcome: 'recorded', reason },
      order: { receivedAt: 'ASC' },
      take: 500,
    });
  }

  /** Alerts with this outcome, oldest first, at most `take`. */
  /** With this outcome, oldest first, a page at a time (`skip`). */
  withOutcome(outcome: AlertOutcome, take: number, skip = 0): Promise<AlertEntity[]> {
    return this.alerts.find({
      where: { outcome },
      order: { receivedAt: 'ASC', id: 'ASC' },
      take,
      skip,
    });
  }

  findByDedupKey(dedupKey: string): Promise<AlertEntity | null> {
    return this.alerts.findOneBy({ dedupKey });
  }

  /** Accepted alerts of this sender with one of these identifiers (what references name). */
  findReferenced(sender: string, identifiers: string[]): Promise<AlertEntity[]> {
    if (identifiers.length === 0) return Promise.resolve([]);
    return this.alerts.find({
      where: { sender, identifier: In(identifiers) },
      order: { receivedAt: 'ASC' },
    });
  }

  /** Accepted messages of this sender whose references name one of these `sender,identifier,sent`. */
  async findReferencing(sender: string, references: string[]): Promise<AlertEntity[]> {
    if (references.length === 0) return [];
    // LIKE narrows it down (`%` or `_` in a reference match loosely); the exact test follows.
    const rows = await this.alerts.find({
      where: references.map((r) => ({ sender, referencesJson: Like(`%${JSON.stringify(r)}%`) })),
      order: { receivedAt: 'ASC' },
    });
    return rows.filter((a) =>
      (JSON.parse(a.referencesJson ?? '[]') as string[]).some((r) => references.includes(r)),
    );
  }

  /** Messages from `source` with this identifier, newest first (a few: a resend, its copies). */
  findByIdentifier(source: AlertSource, identifier: string): Promise<AlertEntity[]> {
    return this.alerts.find({
      where: { source, identifier },
      order: { receivedAt: 'DESC' },
      take: 20,
    });
  }

  findByBroadcast(broadcastId: string): Promise<AlertEntity | null> {
    return this.alerts.findOne({ where: { broadcastId }, order: { receivedAt: 'ASC' } });
  }

  findByDraft(draftId: string): Promise<AlertEntity | null> {
    return this.alerts.findOne({ where: { draftId }, order: { receivedAt: 'ASC' } });
  }

  list(
    filter: { outcome?: AlertOutcome; source?: AlertSource },
    limit: number,
    offset: number,
  ): Promise<[AlertEntity[], number]> {
    const where: FindOptionsWhere<AlertEntity> = {};
    if (filter.outcome) where.outcome = filter.outcome;
    if (filter.source) where.source = filter.source;
    return this.alerts.findAndCount({
      where,
      // The XML stays out of lists: it can be hundreds of kilobytes each.
      select: {
        ...Object.fromEntries(
          this.alerts.metadata.columns.map((c) => [c.propertyName, c.propertyName !== 'xml']),
        ),
      },
      order: { receivedAt: 'DESC', id: 'ASC' },
      take: limit,
      skip: offset,
    });
  }

  /** Inserts; a second alert with the same dedup key throws a unique violation. */
  async insert(row: AlertEntity): Promise<void> {
    await this.writes.run((m) => m.insert(AlertEntity, row));
  }

  async update(id: string, patch: Partial<AlertEntity>): Promise<void> {
    await this.writes.run((m) => m.update(AlertEntity, { id }, patch));
  }

  /** Moves an alert on only if its outcome is still `from` (two operators picking a level at once). */
  async transition(id: string, from: AlertOutcome, patch: Partial<AlertEntity>): Promise<boolean> {
    return this.writes.run(
      async (m) => ((await m.update(AlertEntity, { id, outcome: from }, patch)).affected ?? 0) > 0,
    );
  }

  /**
   * Accepted messages of this sender and status whose references name `identifier` (its Updates
   * and Cancels); `exceptId` is the alert itself.
   */
  async findReferencingIdentifier(
    sender: string,
    identifier: string,
    status: string,
    exceptId: string,
  ): Promise<AlertEntity[]> {
    const rows = await this.alerts.find({
      where: { sender, status, referencesJson: Not(IsNull()), outcome: Not('refused') },
      order: { receivedAt: 'ASC' },
    });
    return rows.filter(
      (r) =>
        r.id !== exceptId &&
        (JSON.parse(r.referencesJson!) as string[]).some((ref) => ref.split(',')[1] === identifier),
    );
  }

  // ---- senders ----

  sender(sender: string): Promise<AlertSenderEntity | null> {
    return this.senders.findOneBy({ sender });
  }

  allSenders(): Promise<AlertSenderEntity[]> {
    return this.senders.find({ order: { sender: 'ASC' } });
  }

  async saveSender(row: AlertSenderEntity): Promise<void> {
    await this.writes.run((m) => m.save(AlertSenderEntity, row));
  }

  async deleteSender(sender: string): Promise<boolean> {
    return this.writes.run(
      async (m) => ((await m.delete(AlertSenderEntity, { sender })).affected ?? 0) > 0,
    );
  }
}
