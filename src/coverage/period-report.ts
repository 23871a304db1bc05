/**
 * Period report arithmetic (pure): coverage across the broadcasts of a period, per village, and
 * the figures the county reports upward, from (broadcast, village) pairs and online time.
 */
import { LEVELS, Level } from '../contract/messages.js';
import type { VillageRef } from './coverage.js';
import { rate } from './coverage.js';
import { byTownThenCode } from '../villages/village-ref.js';

export interface PeriodBroadcast {
  id: string;
  title: string;
  level: Level;
  status: string;
  startAt: number;
  dispatchedAt: number | null;
}

export interface Pair {
  broadcastId: string;
  villageCode: string;
}

export interface PeriodInput {
  from: number;
  to: number;
  /** The part of the period already past: availability is measured over [from, measuredTo). */
  measuredTo: number;
  threshold: number;
  broadcasts: PeriodBroadcast[];
  /** Targets of the counted broadcasts (dispatched, not cancelled). */
  targets: Pair[];
  played: Pair[];
  confirmed: Pair[];
  villages: VillageRef[];
  /** Villages where a device played anything in the period. */
  villagesPlayed: Set<string>;
  devices: readonly { id: string; villageCode: string; enabled: boolean }[];
  onlineMs: Map<string, number>;
}

export interface BroadcastLine {
  id: string;
  title: string;
  level: Level;
  status: string;
  startAt: number;
  counted: boolean;
  targeted: number;
  covered: number;
  coveredManually: number;
  rate: number | null;
}

export interface VillageLine extends VillageRef {
  /** Counted broadcasts that targeted it, and of those the ones it heard (devices or staff). */
  targeted: number;
  covered: number;
  coveredManually: number;
  rate: number | null;
  belowThreshold: boolean;
  /** A device of the village played at least one broadcast in the period (the county's "usage"). */
  used: boolean;
  devicesEnabled: number;
  /** Mean share of the period its enabled devices were online; null without enabled devices. */
  availability: number | null;
}

export interface PeriodReport {
  broadcasts: {
    total: number;
    counted: number;
    byLevel: Record<Level, number>;
    byStatus: Record<string, number>;
    items: BroadcastLine[];
  };
  coverage: {
    mean: number | null;
    worst: BroadcastLine | null;
  };
  usage: { villages: number; used: number; rate: number | null };
  availability: { measuredMs: number; mean: number | null };
  villages: VillageLine[];
  belowThreshold: VillageLine[];
}

/** Broadcasts whose coverage counts: sent to the devices and not called off. */
export function isCounted(b: PeriodBroadcast): boolean {
  return b.dispatchedAt !== null && b.status !== 'cancelled';
}

const key = (p: Pair) => `${p.broadcastId}\u0000${p.villageCode}`;

export function computePeriodReport(input: PeriodInput): PeriodReport {
  const byPlayed = new Set(input.played.map(key));
  const byHand = new Set(input.confirmed.map(key));
  const perBroadcast = new Map<string, { targeted: number; covered: number; manual: number }>();
  const perVillage = new Map<string, { targeted: number; covered: number; manual: number }>();
  const bump = (
    m: Map<string, { targeted: number; covered: number; manual: number }>,
    k: string,
    covered: boolean,
    manualOnly: boolean,
  ) => {
    const e = m.get(k) ?? { targeted: 0, covered: 0, manual: 0 };
    e.targeted++;
    if (covered) e.covered++;
    if (manualOnly) e.manual++;
    m.set(k, e);
  };
  for (const t of input.targets) {
    const k = key(t);
    const devices = byPlayed.has(k);
    const covered = devices || byHand.has(k);
    bump(perBroadcast, t.broadcastId, covered, covered && !devices);
    bump(perVillage, t.villageCode, covered, covered && !devices);
  }

  const items = input.broadcasts.map((b): BroadcastLine => {
    const e = perBroadcast.get(b.id) ?? { targeted: 0, covered: 0, manual: 0 };
    const counted = isCounted(b);
    return {
      id: b.id,
      title: b.title,
      level: b.level,
      status: b.status,
      startAt: b.startAt,
      counted,
      targeted: e.targeted,
      covered: e.covered,
      coveredManually: e.manual,
      rate: counted ? rate(e.covered, e.targeted) : null,
    };
  });
  const rated = items.filter((i) => i.counted && i.rate !== null);
  const worst = rated.reduce<BroadcastLine | null>(
    (w, i) => (w === null || i.rate! < w.rate! ? i : w),
    null,
  );

  const measuredMs = Math.max(0, input.measuredTo - input.from);
  const devicesOf = new Map<string, string[]>();
  for (const d of input.devices) {
    if (!d.enabled) continue;
    const list = devicesOf.get(d.villageCode) ?? [];
    list.push(d.id);
    devicesOf.set(d.villageCode, list);
  }
  const villages = [...input.villages].sort(byTownThenCode).map((v): VillageLine => {
    const e = perVillage.get(v.code) ?? { targeted: 0, covered: 0, manual: 0 };
    const r = rate(e.covered, e.targeted);
    const ids = devicesOf.get(v.code) ?? [];
    const online = ids.reduce((n, id) => n + Math.min(input.onlineMs.get(id) ?? 0, measuredMs), 0);
    return {
      code: v.code,
      name: v.name,
      townCode: v.townCode,
      townName: v.townName,
      targeted: e.targeted,
      covered: e.covered,
      coveredManually: e.manual,
      rate: r,
      belowThreshold: r !== null && r < input.threshold,
      used: input.villagesPlayed.has(v.code),
      devicesEnabled: ids.length,
      availability: ids.length && measuredMs ? online / (ids.length * measuredMs) : null,
    };
  });
  const withAvailability = villages.filter((v) => v.availability !== null);
  const used = villages.filter((v) => v.used).length;

  const byLevel = Object.fromEntries(LEVELS.map((l) => [l, 0])) as Record<Level, number>;
  const byStatus: Record<string, number> = {};
  for (const b of input.broadcasts) {
    byLevel[b.level]++;
    byStatus[b.status] = (byStatus[b.status] ?? 0) + 1;
  }

  return {
    broadcasts: {
      total: items.length,
      counted: items.filter((i) => i.counted).length,
      byLevel,
      byStatus,
      items,
    },
    coverage: {
      mean: rated.length ? rated.reduce((n, i) => n + i.rate!, 0) / rated.length : null,
      worst,
    },
    usage: { villages: villages.length, used, rate: rate(used, villages.length) },
    availability: {
      measuredMs,
      mean: withAvailability.length
        ? withAvailability.reduce((n, v) => n + v.availability!, 0) / withAvailability.length
        : null,
    },
    villages,
    belowThreshold: villages.filter((v) => v.belowThreshold),
  };
}
