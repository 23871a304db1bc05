/**
 * Coverage arithmetic (pure): which targeted villages heard a broadcast and why the others did
 * not, from grouped delivery facts. No I/O, no clock; the service feeds it and the specs test it.
 */
import { failureCode, FailureCode } from '../contract/failure-reasons.js';
import { DEVICE_TYPES, DeviceType } from '../contract/device.js';
import type { DeliveryState } from '../contract/messages.js';
import { milestones, type Milestone } from '../broadcasts/broadcast-outcome.js';
import type { DeliveryGroup, FailureGroup } from '../broadcasts/delivery-groups.js';
import { OPEN_STATES } from '../broadcasts/delivery-state-machine.js';
import { byTownThenCode, type VillageRef } from '../villages/village-ref.js';

export const VILLAGE_OUTCOMES = ['covered', 'partial', 'uncovered'] as const;
export type VillageOutcome = (typeof VILLAGE_OUTCOMES)[number];

/**
 * Why a targeted village did not hear it, most actionable first:
 * - `no_device`: no enabled device matched the target in the village at dispatch;
 * - `failed`: its devices reported failure or refusal (see `failures` for their reasons);
 * - `all_offline`: still open and none of its devices in the broadcast is online, or closed
 *   with no device ever online to receive it;
 * - `quiet_hours`: a routine broadcast held by the village's quiet hours: still waiting for them
 *   to end, or they lasted until after the broadcast expired (the station's own rule, not a
 *   device failure);
 * - `pending`: still open and a device is online, being delivered;
 * - `expired`: sent, but not played before the broadcast's window closed;
 * - `cancelled`: the broadcast was cancelled first (also when a device had begun playing it).
 */
export const UNCOVERED_REASONS = [
  'no_device',
  'failed',
  'all_offline',
  'quiet_hours',
  'pending',
  'expired',
  'cancelled',
] as const;
export type UncoveredReason = (typeof UNCOVERED_REASONS)[number];

export type { VillageRef };

export interface CoverageInput {
  startAt: number;
  /** Villages the broadcast targeted (fixed at dispatch), with names. */
  villages: VillageRef[];
  groups: DeliveryGroup[];
  failures: FailureGroup[];
  /** First manual confirmation per village. */
  manual: Map<string, number>;
  /** Enabled devices online now, per village and type. */
  online: Map<string, Partial<Record<DeviceType, number>>>;
}

export interface VillageCoverage extends VillageRef {
  outcome: VillageOutcome;
  /** For covered villages: the devices confirmed it, or only staff did. */
  coveredBy: 'devices' | 'manual' | null;
  reason: UncoveredReason | null;
  /** The devices' own reasons with the code each begins with (contract/failure-reasons.ts). */
  failures: { code: FailureCode; reason: string; devices: number }[];
  devices: number;
  played: number;
  states: Partial<Record<DeliveryState, number>>;
  /** When a device of the village first began playing it: the time to first sound. */
  firstSoundAt: number | null;
  /** When a device of the village first played it through (`played`). */
  playedAt: number | null;
  manualAt: number | null;
}

export interface Tally {
  targeted: number;
  covered: number;
  coveredByDevices: number;
  coveredManually: number;
  partial: number;
  uncovered: number;
  /** covered / targeted, null when nothing was targeted. */
  rate: number | null;
}

export interface TownCoverage extends Tally {
  townCode: string;
  townName: string;
}

export interface TypeCoverage {
  type: DeviceType | 'unknown';
  devices: number;
  played: number;
  failed: number;
  open: number;
  /** Villages with at least one device of this type in the broadcast, and of those, where one played. */
  villages: number;
  villagesPlayed: number;
  rate: number | null;
}

export type { Milestone };

export interface CoverageReport {
  summary: Tally & { uncoveredByReason: Record<UncoveredReason, number> };
  byTown: TownCoverage[];
  byType: TypeCoverage[];
  deliveries: Partial<Record<DeliveryState, number>> & { total: number };
  /**
   * When shares of the targeted villages first sounded (a device reported `playing`; the figure
   * that matters in an emergency) and had it played through (`played`).
   */
  milestones: { firstSound: Milestone[]; played: Milestone[] };
  villages: VillageCoverage[];
}

/** A village's failure groups as one line per reason, with its code, most devices first. */
export function failureList(failures: FailureGroup[]): VillageCoverage['failures'] {
  const byReason = new Map<string, number>();
  for (const f of failures) byReason.set(f.reason, (byReason.get(f.reason) ?? 0) + f.count);
  return [...byReason]
    .map(([reason, n]) => ({ code: failureCode(reason), reason, devices: n }))
    .sort((a, b) => b.devices - a.devices || a.reason.localeCompare(b.reason));
}

export function rate(part: number, whole: number): number | null {
  return whole === 0 ? null : part / whole;
}

/** One village's outcome and reason from its delivery groups (all of one broadcast). */
export function classifyVillage(
  groups: DeliveryGroup[],
  failures: FailureGroup[],
  manualAt: number | null,
  online: Partial<Record<DeviceType, number>>,
): Pick<VillageCoverage, 'outcome' | 'coveredBy' | 'reason'> {
  const count = (pred: (g: DeliveryGroup) => boolean) =>
    groups.reduce((n, g) => n + (pred(g) ? g.count : 0), 0);
  if (count((g) => g.state === 'played') > 0)
    return { outcome: 'covered', coveredBy: 'devices', reason: null };
  if (manualAt !== null) return { outcome: 'covered', coveredBy: 'manual', reason: null };
  const open = groups.filter((g) => OPEN_STATES.includes(g.state) && g.count > 0);
  // Partial: sounding, or interrupted and waiting to resume; a delivery that ended never is.
  if (open.some((g) => g.started > 0)) return { outcome: 'partial', coveredBy: null, reason: null };
  const uncovered = (reason: UncoveredReason) => ({
    outcome: 'uncovered' as const,
    coveredBy: null,
    reason,
  });
  if (count(() => true) === 0) return uncovered('no_device');
  if (open.length > 0) {
    if (open.every((g) => g.heldByQuiet === g.count)) return uncovered('quiet_hours');
    const totalOnline = Object.values(online).reduce((n, v) => n + (v ?? 0), 0);
    const anyOnline = open.some((g) =>
      g.deviceType === null ? totalOnline > 0 : (online[g.deviceType] ?? 0) > 0,
    );
    return uncovered(anyOnline ? 'pending' : 'all_offline');
  }
  if (failures.length > 0 || count((g) => g.state === 'failed' || g.state === 'rejected') > 0)
    return uncovered('failed');
  const expired = groups.filter((g) => g.state === 'expired' && g.count > 0);
  if (expired.length > 0) {
    // The village's quiet hours hold all its devices alike; one held past expiry says why.
    if (expired.some((g) => g.heldByQuiet > 0)) return uncovered('quiet_hours');
    const neverSent = expired.every((g) => g.neverSent === g.count);
    return uncovered(neverSent ? 'all_offline' : 'expired');
  }
  return uncovered('cancelled');
}

function emptyTally(): Tally {
  return {
    targeted: 0,
    covered: 0,
    coveredByDevices: 0,
    coveredManually: 0,
    partial: 0,
    uncovered: 0,
    rate: null,
  };
}

function addTo(t: Tally, v: VillageCoverage): void {
  t.targeted++;
  if (v.outcome === 'covered') {
    t.covered++;
    if (v.coveredBy === 'devices') t.coveredByDevices++;
    else t.coveredManually++;
  } else if (v.outcome === 'partial') t.partial++;
  else t.uncovered++;
  t.rate = rate(t.covered, t.targeted);
}

/** The whole coverage of one broadcast. Villages come back in town, then code order. */
export function computeCoverage(input: CoverageInput): CoverageReport {
  const groupsOf = new Map<string, DeliveryGroup[]>();
  for (const g of input.groups) {
    const list = groupsOf.get(g.villageCode) ?? [];
    list.push(g);
    groupsOf.set(g.villageCode, list);
  }
  const failuresOf = new Map<string, FailureGroup[]>();
  for (const f of input.failures) {
    const list = failuresOf.get(f.villageCode) ?? [];
    list.push(f);
    failuresOf.set(f.villageCode, list);
  }

  const villages = [...input.villages].sort(byTownThenCode).map((ref): VillageCoverage => {
    const groups = groupsOf.get(ref.code) ?? [];
    const failures = failuresOf.get(ref.code) ?? [];
    const manualAt = input.manual.get(ref.code) ?? null;
    const states: Partial<Record<DeliveryState, number>> = {};
    let devices = 0;
    let firstSoundAt: number | null = null;
    let playedAt: number | null = null;
    for (const g of groups) {
      states[g.state] = (states[g.state] ?? 0) + g.count;
      devices += g.count;
      if (g.firstSoundAt !== null && (firstSoundAt === null || g.firstSoundAt < firstSoundAt))
        firstSoundAt = g.firstSoundAt;
      if (g.playedAt !== null && (playedAt === null || g.playedAt < playedAt))
        playedAt = g.playedAt;
    }
    const { outcome, coveredBy, reason } = classifyVillage(
      groups,
      failures,
      manualAt,
      input.online.get(ref.code) ?? {},
    );
    // Named fields, not spreads: spreading into a literal is what made coverage slow.
    return {
      code: ref.code,
      name: ref.name,
      townCode: ref.townCode,
      townName: ref.townName,
      outcome,
      coveredBy,
      reason,
      failures: failureList(failures),
      devices,
      played: states.played ?? 0,
      states,
      firstSoundAt,
      playedAt,
      manualAt,
    };
  });

  const summary = {
    ...emptyTally(),
    uncoveredByReason: Object.fromEntries(UNCOVERED_REASONS.map((r) => [r, 0])) as Record<
      UncoveredReason,
      number
    >,
  };
  const towns = new Map<string, TownCoverage>();
  for (const v of villages) {
    addTo(summary, v);
    if (v.reason) summary.uncoveredByReason[v.reason]++;
    let town = towns.get(v.townCode);
    if (!town) {
      town = { townCode: v.townCode, townName: v.townName, ...emptyTally() };
      towns.set(v.townCode, town);
    }
    addTo(town, v);
  }

  const deliveries: CoverageReport['deliveries'] = { total: 0 };
  const types = new Map<string, TypeCoverage & { playedIn: Set<string>; in: Set<string> }>();
  for (const g of input.groups) {
    deliveries[g.state] = (deliveries[g.state] ?? 0) + g.count;
    deliveries.total += g.count;
    const key = g.deviceType ?? 'unknown';
    let t = types.get(key);
    if (!t) {
      t = {
        type: key,
        devices: 0,
        played: 0,
        failed: 0,
        open: 0,
        villages: 0,
        villagesPlayed: 0,
        rate: null,
        playedIn: new Set(),
        in: new Set(),
      };
      types.set(key, t);
    }
    t.devices += g.count;
    if (g.state === 'played') {
      t.played += g.count;
      t.playedIn.add(g.villageCode);
    }
    if (g.state === 'failed' || g.state === 'rejected') t.failed += g.count;
    if (OPEN_STATES.includes(g.state)) t.open += g.count;
    t.in.add(g.villageCode);
  }
  const typeOrder = (t: string) => {
    const i = DEVICE_TYPES.indexOf(t as DeviceType);
    return i < 0 ? DEVICE_TYPES.length : i;
  };
  const byType = [...types.values()]
    .sort((a, b) => typeOrder(a.type) - typeOrder(b.type))
    .map(({ playedIn, in: inVillages, ...t }) => ({
      ...t,
      villages: inVillages.size,
      villagesPlayed: playedIn.size,
      rate: rate(playedIn.size, inVillages.size),
    }));

  // Milestones count the devices' own reports only: manual ones carry a time staff typed.
  const times = (pick: (v: VillageCoverage) => number | null) =>
    villages.map(pick).filter((t): t is number => t !== null);
  const milestoneList = {
    firstSound: milestones(
      times((v) => v.firstSoundAt),
      villages.length,
      input.startAt,
    ),
    played: milestones(
      times((v) => v.playedAt),
      villages.length,
      input.startAt,
    ),
  };

  return {
    summary,
    byTown: [...towns.values()],
    byType,
    deliveries,
    milestones: milestoneList,
    villages,
  };
}
