/**
 * Period report arithmetic (pure): coverage across the broadcasts of a period, per village, and
 * the figures the county reports upward, from (broadcast, village) pairs and online time.
 */
import type { BroadcastHeader } from '../broadcasts/broadcast-facts.repository.js';
import { BROADCAST_OUTCOMES } from '../broadcasts/broadcast.entity.js';
import { LEVELS, Level } from '../contract/messages.js';
import type { VillageRef } from './coverage.js';
import { rate } from './coverage.js';
import { byTownThenCode } from '../villages/village-ref.js';

export type PeriodBroadcast = BroadcastHeader;

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
  /** Pairs whose routine broadcast the village's quiet hours held until it expired. */
  quietHeld: Pair[];
  villages: VillageRef[];
  /** Villages where a device played anything in the period. */
  villagesPlayed: Set<string>;
  devices: readonly { id: string; villageCode: string; enabled: boolean; createdAt: number }[];
  onlineMs: Map<string, number>;
}

/** Milliseconds after a broadcast's start until half, 90% and all of its villages reached it. */
export interface ShareTimes {
  p50Ms: number | null;
  p90Ms: number | null;
  p100Ms: number | null;
}

export interface BroadcastLine {
  id: string;
  title: string;
  level: Level;
  status: string;
  outcome: PeriodBroadcast['outcome'];
  startAt: number;
  counted: boolean;
  targeted: number;
  covered: number;
  coveredManually: number;
  heldByQuietHours: number;
  rate: number | null;
  /** Time to first sound in its villages. */
  firstSound: ShareTimes;
  /** Time to played in its villages. */
  played: ShareTimes;
}

export interface VillageLine extends VillageRef {
  /** Counted broadcasts that targeted it, and of those the ones it heard (devices or staff). */
  targeted: number;
  covered: number;
  coveredManually: number;
  /** Of the targeted, those its quiet hours held until they expired: left out of the rate. */
  heldByQuietHours: number;
  /** covered / (targeted − heldByQuietHours): a station's own quiet hours are not a failure. */
  rate: number | null;
  belowThreshold: boolean;
  /** A device of the village played at least one broadcast in the period (the county's "usage"). */
  used: boolean;
  devicesEnabled: number;
  /**
   * Mean share of the time its enabled devices were registered in the period that they were
   * online; null without enabled devices (or none registered before the period's end).
   */
  availability: number | null;
}

export interface PeriodReport {
  broadcasts: {
    total: number;
    counted: number;
    byLevel: Record<Level, number>;
    byStatus: Record<string, number>;
    byOutcome: Record<string, number>;
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

type Counts = { targeted: number; covered: number; manual: number; quiet: number };

export function computePeriodReport(input: PeriodInput): PeriodReport {
  const byPlayed = new Set(input.played.map(key));
  const byHand = new Set(input.confirmed.map(key));
  const byQuiet = new Set(input.quietHeld.map(key));
  const perBroadcast = new Map<string, Counts>();
  const perVillage = new Map<string, Counts>();
  const bump = (
    m: Map<string, Counts>,
    k: string,
    devices: boolean,
    hand: boolean,
    quiet: boolean,
  ) => {
    const e = m.get(k) ?? { targeted: 0, covered: 0, manual: 0, quiet: 0 };
    e.targeted++;
    if (devices || hand) e.covered++;
    if (hand && !devices) e.manual++;
    else if (quiet && !devices) e.quiet++;
    m.set(k, e);
  };
  for (const t of input.targets) {
    const k = key(t);
    const devices = byPlayed.has(k);
    const hand = byHand.has(k);
    const quiet = byQuiet.has(k);
    bump(perBroadcast, t.broadcastId, devices, hand, quiet);
    bump(perVillage, t.villageCode, devices, hand, quiet);
  }
  // Held by quiet hours and not heard: out of the rate (confirmed by hand counts as heard).
  const rateOf = (e: Counts) => rate(e.covered, e.targeted - e.quiet);

  const items = input.broadcasts.map((b): BroadcastLine => {
    const e = perBroadcast.get(b.id) ?? { targeted: 0, covered: 0, manual: 0, quiet: 0 };
    const counted = isCounted(b);
    return {
      id: b.id,
      title: b.title,
      level: b.level,
      status: b.status,
      outcome: b.outcome,
      startAt: b.startAt,
      counted,
      targeted: e.targeted,
      covered: e.covered,
      coveredManually: e.manual,
      heldByQuietHours: e.quiet,
      rate: counted ? rateOf(e) : null,
      firstSound: {
        p50Ms: b.firstSoundP50Ms,
        p90Ms: b.firstSoundP90Ms,
        p100Ms: b.firstSoundP100Ms,
      },
      played: { p50Ms: b.playedP50Ms, p90Ms: b.playedP90Ms, p100Ms: b.playedP100Ms },
    };
  });
  const rated = items.filter((i) => i.counted && i.rate !== null);
  const worst = rated.reduce<BroadcastLine | null>(
    (w, i) => (w === null || i.rate! < w.rate! ? i : w),
    null,
  );

  const measuredMs = Math.max(0, input.measuredTo - input.from);
  const devicesOf = new Map<string, { id: string; createdAt: number }[]>();
  for (const d of input.devices) {
    if (!d.enabled) continue;
    const list = devicesOf.get(d.villageCode) ?? [];
    list.push(d);
    devicesOf.set(d.villageCode, list);
  }
  const villages = [...input.villages].sort(byTownThenCode).map((v): VillageLine => {
    const e = perVillage.get(v.code) ?? { targeted: 0, covered: 0, manual: 0, quiet: 0 };
    const r = rateOf(e);
    const devices = devicesOf.get(v.code) ?? [];
    // Each device counts from when it was registered: one added last week was not "offline" before.
    let online = 0;
    let registered = 0;
    for (const d of devices) {
      const span = Math.max(0, input.measuredTo - Math.max(input.from, d.createdAt));
      registered += span;
      online += Math.min(input.onlineMs.get(d.id) ?? 0, span);
    }
    return {
      code: v.code,
      name: v.name,
      townCode: v.townCode,
      townName: v.townName,
      targeted: e.targeted,
      covered: e.covered,
      coveredManually: e.manual,
      heldByQuietHours: e.quiet,
      rate: r,
      belowThreshold: r !== null && r < input.threshold,
      used: input.villagesPlayed.has(v.code),
      devicesEnabled: devices.length,
      availability: registered > 0 ? online / registered : null,
    };
  });
  const withAvailability = villages.filter((v) => v.availability !== null);
  const used = villages.filter((v) => v.used).length;

  const byLevel = Object.fromEntries(LEVELS.map((l) => [l, 0])) as Record<Level, number>;
  const byStatus: Record<string, number> = {};
  const byOutcome = Object.fromEntries(BROADCAST_OUTCOMES.map((o) => [o, 0])) as Record<
    string,
    number
  >;
  for (const b of input.broadcasts) {
    byLevel[b.level]++;
    byStatus[b.status] = (byStatus[b.status] ?? 0) + 1;
    if (b.outcome) byOutcome[b.outcome]++;
  }

  return {
    broadcasts: {
      total: items.length,
      counted: items.filter((i) => i.counted).length,
      byLevel,
      byStatus,
      byOutcome,
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
