/**
 * Seeds a large history straight into a migrated SQLite file (prepared statements in one
 * transaction): towns, villages, 100,000 devices with a presence interval each, one broadcast to
 * all of them, and smaller broadcasts over 30 days, for `rows` delivery rows in all.
 */
import Database from 'better-sqlite3';
import { randomUUID } from 'node:crypto';

export interface CoverageSeed {
  bigBroadcastId: string;
  villages: number;
  devices: number;
  broadcasts: number;
  rows: number;
  from: number;
  to: number;
}

const DAY = 86_400_000;
const PER_VILLAGE = 125;

export function seedHistory(
  dbPath: string,
  options: { devices: number; rows: number; now: number },
): CoverageSeed {
  const { devices, rows, now } = options;
  const villages = Math.ceil(devices / PER_VILLAGE);
  const towns = Math.ceil(villages / 100);
  const db = new Database(dbPath);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = OFF');
  const townCode = (t: number) => `9999991${String(t).padStart(2, '0')}`;
  const villageCode = (v: number) =>
    `${townCode(Math.floor(v / 100))}${String(v % 100).padStart(3, '0')}`;
  const deviceId = (i: number) => `cv-${String(i).padStart(6, '0')}`;
  const villageOf = (i: number) => Math.floor(i / PER_VILLAGE);
  const clipId = randomUUID();
  const from = now - 30 * DAY;
  const bigBroadcastId = randomUUID();
  let broadcasts = 0;

  db.transaction(() => {
    const t0 = now - 40 * DAY;
    for (let t = 0; t < towns; t++)
      db.prepare('INSERT INTO towns VALUES (?, ?, ?, ?)').run(
        townCode(t),
        `压测镇${t + 1}`,
        t0,
        t0,
      );
    const v = db.prepare(
      'INSERT INTO villages (code, name, town_code, created_at, updated_at) VALUES (?, ?, ?, ?, ?)',
    );
    for (let i = 0; i < villages; i++)
      v.run(villageCode(i), `压测村${i + 1}`, townCode(Math.floor(i / 100)), t0, t0);
    const d = db.prepare(
      `INSERT INTO devices (id, village_code, type, enabled, secret_hash, secret_rotated_at, created_at, updated_at)
       VALUES (?, ?, ?, 1, 'scrypt$unused', ?, ?, ?)`,
    );
    const p = db.prepare(
      'INSERT INTO presence_intervals (device_id, started_at, ended_at, end_reason) VALUES (?, ?, ?, ?)',
    );
    for (let i = 0; i < devices; i++) {
      d.run(
        deviceId(i),
        villageCode(villageOf(i)),
        i % 7 === 0 ? 'flood_pa' : 'village_loudspeaker',
        t0,
        t0,
        t0,
      );
      p.run(
        deviceId(i),
        from + (i % 48) * 3_600_000,
        i % 5 === 0 ? now - DAY : null,
        i % 5 === 0 ? 'will' : null,
      );
    }
    db.prepare(
      `INSERT INTO clips (id, title, status, source_sha256, original_bytes, sha256, bytes, duration_ms, created_by, created_at, updated_at)
       VALUES (?, 'bench', 'ready', ?, 1000, ?, 1000, 1000, 'bench', ?, ?)`,
    ).run(clipId, 'a'.repeat(64), 'a'.repeat(64), t0, t0);

    const b = db.prepare(
      `INSERT INTO broadcasts (id, title, clip_id, level, target, start_at, expires_at, repeat, attention_tone, status,
         audio_sha256, audio_bytes, audio_duration_ms, created_by, created_at, updated_at, dispatched_at, ended_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, 1, 0, 'completed', ?, 1000, 1000, 'bench', ?, ?, ?, ?)`,
    );
    const bv = db.prepare('INSERT INTO broadcast_villages VALUES (?, ?)');
    const del = db.prepare(
      `INSERT INTO deliveries (id, broadcast_id, device_id, village_code, device_type, state, reason, attempts,
         next_send_at, sent_at, received_at, started_at, played_at, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, 1, NULL, ?, ?, ?, ?, ?)`,
    );
    const broadcast = (
      id: string,
      start: number,
      firstDevice: number,
      count: number,
      level: string,
    ) => {
      broadcasts++;
      b.run(
        id,
        `压测广播${broadcasts}`,
        clipId,
        level,
        '{"all":true}',
        start,
        start + 3_600_000,
        'a'.repeat(64),
        start,
        start,
        start,
        start + 3_660_000,
      );
      const seen = new Set<number>();
      for (let k = 0; k < count; k++) {
        const i = (firstDevice + k) % devices;
        const village = villageOf(i);
        if (!seen.has(village)) {
          seen.add(village);
          bv.run(id, villageCode(village));
        }
        // 96% played, 2% failed, 1% expired after sending, 1% never reached (expired unsent).
        const r = (i * 7919 + broadcasts) % 100;
        const state = r < 96 ? 'played' : r < 98 ? 'failed' : 'expired';
        const sent = r < 99;
        const at = start + 200 + (k % 5000);
        del.run(
          randomUUID(),
          id,
          deviceId(i),
          villageCode(village),
          i % 7 === 0 ? 'flood_pa' : 'village_loudspeaker',
          state,
          state === 'failed'
            ? 'download failed: HTTP 503'
            : state === 'expired'
              ? 'not played before the deadline'
              : null,
          sent ? start + 10 : null,
          sent ? start + 50 : null,
          r < 96 ? at : null,
          r < 96 ? at + 1000 : null,
          start + 3_600_000,
        );
      }
    };
    broadcast(bigBroadcastId, now - DAY, 0, devices, 'I');
    const others = Math.max(0, rows - devices);
    const size = 10_000;
    const count = Math.ceil(others / size);
    for (let j = 0; j < count; j++) {
      const n = Math.min(size, others - j * size);
      const start = from + Math.floor(((j + 0.5) / count) * 29 * DAY);
      broadcast(randomUUID(), start, (j * size) % devices, n, j % 10 === 0 ? 'II' : 'routine');
    }
  })();
  // No ANALYZE: the server never runs it, so the planner sees what it sees in production.
  db.pragma('wal_checkpoint(TRUNCATE)');
  db.close();
  return {
    bigBroadcastId,
    villages,
    devices,
    broadcasts,
    rows: Math.max(rows, devices),
    from,
    to: now,
  };
}

/** The indexes issue 6 added for coverage; the baseline runs on the schema without them. */
export const COVERAGE_INDEXES = [
  'IDX_deliveries_coverage',
  'IDX_deliveries_village_played',
  'IDX_broadcasts_start_at',
  'IDX_broadcast_villages_village',
  'IDX_presence_intervals_ended',
];
