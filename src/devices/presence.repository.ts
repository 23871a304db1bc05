import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { In, IsNull, Repository } from 'typeorm';
import { chunks, upsertMany } from '../database/batch.js';
import { WriteQueue } from '../database/write-queue.js';
import { DeviceEntity } from './device.entity.js';
import { DevicePresenceEntity, PresenceIntervalEntity } from './presence.entity.js';

export type IntervalChange =
  | { kind: 'open'; deviceId: string; at: number }
  | { kind: 'close'; deviceId: string; at: number; reason: string };

/** The only file that speaks TypeORM for presence. */
@Injectable()
export class PresenceRepository {
  constructor(
    @InjectRepository(DevicePresenceEntity)
    private readonly presence: Repository<DevicePresenceEntity>,
    @InjectRepository(PresenceIntervalEntity)
    private readonly intervals: Repository<PresenceIntervalEntity>,
    @InjectRepository(DeviceEntity) private readonly devices: Repository<DeviceEntity>,
    private readonly writes: WriteQueue,
  ) {}

  loadAll(): Promise<DevicePresenceEntity[]> {
    return this.presence.find();
  }

  async deviceIds(): Promise<string[]> {
    return (await this.devices.find({ select: { id: true } })).map((d) => d.id);
  }

  openIntervals(): Promise<PresenceIntervalEntity[]> {
    return this.intervals.findBy({ endedAt: IsNull() });
  }

  /**
   * Milliseconds each device was online within [from, to) (`to` no later than now), summed in SQL
   * over the intervals that overlap the period; an interval still open counts until `now`.
   */
  async onlineMsBetween(from: number, to: number, now: number): Promise<Map<string, number>> {
    const end = 'COALESCE(i.ended_at, :now)';
    const rows = await this.intervals
      .createQueryBuilder('i')
      .select('i.device_id', 'deviceId')
      .addSelect(
        `SUM((CASE WHEN ${end} < :to THEN ${end} ELSE :to END) - (CASE WHEN i.started_at > :from THEN i.started_at ELSE :from END))`,
        'onlineMs',
      )
      .where('i.started_at < :to', { to })
      .andWhere('(i.ended_at IS NULL OR i.ended_at > :from)', { from })
      .setParameter('now', now)
      .groupBy('i.device_id')
      .getRawMany<{ deviceId: string; onlineMs: string | number | null }>();
    return new Map(rows.map((r) => [r.deviceId, Math.max(0, Number(r.onlineMs ?? 0))]));
  }

  history(deviceId: string, limit: number): Promise<PresenceIntervalEntity[]> {
    return this.intervals.find({ where: { deviceId }, order: { startedAt: 'DESC' }, take: limit });
  }

  /**
   * One transaction for a whole batch: the changed presence rows (upserted) and the history
   * intervals opened and closed since the last batch, in order.
   */
  async saveBatch(rows: DevicePresenceEntity[], changes: IntervalChange[]): Promise<void> {
    if (rows.length === 0 && changes.length === 0) return;
    // In device order, so two servers writing the same devices' presence queue, not deadlock.
    const sorted = [...rows].sort((a, b) => (a.deviceId < b.deviceId ? -1 : 1));
    await this.writes.run(async (m) => {
      await upsertMany(m, DevicePresenceEntity, 'deviceId', sorted);
      // In order, as runs of one kind: opens are inserted together; a run of closes is one
      // UPDATE … IN per (time, reason) — 10,000 devices going offline at a restart were 10,000
      // single-row updates (seconds of the 10-second shutdown budget), now about twenty.
      for (const run of runsOfKind(changes)) {
        if (run[0].kind === 'open') {
          // Another server that hears the same device may have opened it already: nothing to do.
          const opens = [...run].sort((a, b) => (a.deviceId < b.deviceId ? -1 : 1));
          for (const chunk of chunks(opens, 500))
            await m
              .createQueryBuilder()
              .insert()
              .into(PresenceIntervalEntity)
              .values(
                chunk.map((c) => ({
                  deviceId: c.deviceId,
                  startedAt: c.at,
                  endedAt: null,
                  endReason: null,
                })),
              )
              .orIgnore()
              .execute();
          continue;
        }
        for (const [{ at, reason }, ids] of closesByTimeAndReason(run as CloseChange[]))
          for (const chunk of chunks(ids, 500))
            await m.update(
              PresenceIntervalEntity,
              { deviceId: In(chunk), endedAt: IsNull() },
              { endedAt: at, endReason: reason },
            );
      }
    });
  }
}

type CloseChange = Extract<IntervalChange, { kind: 'close' }>;

/** Consecutive changes of the same kind, in order. */
function runsOfKind(changes: IntervalChange[]): IntervalChange[][] {
  const runs: IntervalChange[][] = [];
  for (const c of changes) {
    const last = runs.at(-1);
    if (last && last[0].kind === c.kind) last.push(c);
    else runs.push([c]);
  }
  return runs;
}

/**
 * A run of closes grouped by (time, reason). Only a device's first close counts (a second one,
 * with no open between, finds nothing open), so grouping cannot reorder what matters.
 */
function closesByTimeAndReason(run: CloseChange[]): [{ at: number; reason: string }, string[]][] {
  const seen = new Set<string>();
  const groups = new Map<string, [{ at: number; reason: string }, string[]]>();
  for (const c of run) {
    if (seen.has(c.deviceId)) continue;
    seen.add(c.deviceId);
    const key = `${c.at}\u0000${c.reason}`;
    const group = groups.get(key);
    if (group) group[1].push(c.deviceId);
    else groups.set(key, [{ at: c.at, reason: c.reason }, [c.deviceId]]);
  }
  return [...groups.values()];
}
