import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { In, Not, Repository } from 'typeorm';
import { escapeLike } from '../database/db-errors.js';
import { WriteQueue } from '../database/write-queue.js';
import { ClipEntity, ClipRenditionEntity } from './clip.entity.js';

/** The only file that speaks TypeORM for clips. */
@Injectable()
export class ClipsRepository {
  constructor(
    @InjectRepository(ClipEntity) private readonly clips: Repository<ClipEntity>,
    @InjectRepository(ClipRenditionEntity)
    private readonly renditions: Repository<ClipRenditionEntity>,
    private readonly writes: WriteQueue,
  ) {}

  find(id: string): Promise<ClipEntity | null> {
    return this.clips.findOneBy({ id });
  }

  /** A clip made from exactly this upload that is ready or still processing. */
  findUsableBySource(sourceSha256: string): Promise<ClipEntity | null> {
    return this.clips.findOne({
      where: { sourceSha256, status: Not('failed') },
      order: { createdAt: 'ASC' },
    });
  }

  findProcessing(): Promise<ClipEntity[]> {
    return this.clips.findBy({ status: 'processing' });
  }

  async list(
    q: string | undefined,
    status: string | undefined,
    limit: number,
    offset: number,
  ): Promise<[ClipEntity[], number]> {
    const query = this.clips.createQueryBuilder('c');
    if (q)
      query.andWhere("LOWER(c.title) LIKE :q ESCAPE '\\'", {
        q: `%${escapeLike(q.toLowerCase())}%`,
      });
    if (status) query.andWhere('c.status = :status', { status });
    return query
      .orderBy('c.created_at', 'DESC')
      .addOrderBy('c.id', 'ASC')
      .take(limit)
      .skip(offset)
      .getManyAndCount();
  }

  /** Every sha256 any clip or rendition refers to. */
  async referencedAudio(): Promise<Set<string>> {
    const clips = await this.clips.find({
      select: { sha256: true },
      where: { sha256: Not(In([''])) },
    });
    const renditions = await this.renditions.find({ select: { sha256: true } });
    return new Set(
      [...clips.map((c) => c.sha256), ...renditions.map((r) => r.sha256)].filter(
        (s): s is string => !!s,
      ),
    );
  }

  async isAudioReferenced(sha256: string): Promise<boolean> {
    return (await this.clips.countBy({ sha256 })) + (await this.renditions.countBy({ sha256 })) > 0;
  }

  /** Ready clips and which of `tones` they have no rendition with, oldest clip first. */
  async missingRenditions<T extends string>(
    tones: readonly T[],
  ): Promise<{ clipId: string; tones: T[] }[]> {
    const ready = await this.clips.find({
      select: { id: true },
      where: { status: 'ready' },
      order: { createdAt: 'ASC' },
    });
    const made = new Set(
      (await this.renditions.find({ select: { clipId: true, tone: true } })).map(
        (r) => `${r.clipId}/${r.tone}`,
      ),
    );
    return ready
      .map((c) => ({ clipId: c.id, tones: tones.filter((t) => !made.has(`${c.id}/${t}`)) }))
      .filter((c) => c.tones.length > 0);
  }

  findRendition(clipId: string, tone: string): Promise<ClipRenditionEntity | null> {
    return this.renditions.findOneBy({ clipId, tone });
  }

  renditionsOf(clipId: string): Promise<ClipRenditionEntity[]> {
    return this.renditions.findBy({ clipId });
  }

  async insert(clip: ClipEntity): Promise<void> {
    await this.writes.run((m) => m.insert(ClipEntity, clip));
  }

  async update(id: string, patch: Partial<ClipEntity>): Promise<void> {
    await this.writes.run((m) => m.update(ClipEntity, { id }, patch));
  }

  async delete(id: string): Promise<void> {
    await this.writes.run((m) => m.delete(ClipEntity, { id }));
  }

  async insertRendition(row: ClipRenditionEntity): Promise<void> {
    await this.writes.run((m) =>
      m.upsert(ClipRenditionEntity, row, { conflictPaths: ['clipId', 'tone'] }),
    );
  }
}
