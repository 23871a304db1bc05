/**
 * What came of a broadcast (pure): its outcome, and how long after its start shares of its targeted
 * villages first sounded and had it played through. The delivery ledger stores both when a
 * broadcast ends; coverage computes the milestones of a running one the same way.
 */
import type { BroadcastOutcome, BroadcastStatus } from './broadcast.entity.js';

/** The shares of targeted villages the milestones are taken at. */
export const MILESTONE_SHARES = [0.5, 0.9, 1] as const;

export interface Milestone {
  share: number;
  /** Villages that had to have reached it. */
  villages: number;
  reachedAt: number | null;
  /** From the broadcast's start. */
  afterMs: number | null;
}

/**
 * When each share of `targeted` villages had reached something, from each village's first time
 * (villages that never reached it are left out of `times`).
 */
export function milestones(
  times: readonly number[],
  targeted: number,
  startAt: number,
): Milestone[] {
  const sorted = [...times].sort((a, b) => a - b);
  return MILESTONE_SHARES.map((share) => {
    const need = Math.ceil(share * targeted);
    const reachedAt = need > 0 && sorted.length >= need ? sorted[need - 1] : null;
    return {
      share,
      villages: need,
      reachedAt,
      afterMs: reachedAt === null ? null : Math.max(0, reachedAt - startAt),
    };
  });
}

/**
 * How a broadcast that ended in `status` turned out, from its villages: `targeted` leaves out the
 * villages whose quiet hours held it until it expired (the station's own rule, not a failure);
 * when that leaves none, it expired without a chance to play anywhere.
 */
export function outcomeOf(
  status: Extract<BroadcastStatus, 'completed' | 'cancelled' | 'expired'>,
  targeted: number,
  covered: number,
  heldByQuiet = 0,
): BroadcastOutcome {
  if (status !== 'completed') return status;
  if (targeted > 0 && heldByQuiet === targeted) return 'expired';
  if (covered === 0) return 'failed';
  return covered < targeted - heldByQuiet ? 'partially_completed' : 'completed';
}

/** Per targeted village: when a device first sounded it and first played it through. */
export interface VillageTimes {
  firstSoundAt: number | null;
  playedAt: number | null;
  /** Its quiet hours held the broadcast until it expired. */
  heldByQuiet: boolean;
}

/** How long after the start half, 90% and all of the targeted villages sounded and played it. */
export interface MilestoneTimes {
  firstSoundP50Ms: number | null;
  firstSoundP90Ms: number | null;
  firstSoundP100Ms: number | null;
  playedP50Ms: number | null;
  playedP90Ms: number | null;
  playedP100Ms: number | null;
}

export interface Settlement extends MilestoneTimes {
  outcome: BroadcastOutcome;
}

/** A broadcast's settlement before it ends: nothing known yet. */
export const UNSETTLED = {
  outcome: null,
  firstSoundP50Ms: null,
  firstSoundP90Ms: null,
  firstSoundP100Ms: null,
  playedP50Ms: null,
  playedP90Ms: null,
  playedP100Ms: null,
} as const;

/**
 * The outcome and milestones of a broadcast ending in `status`. Covered villages are those where a
 * device played it or staff confirmed it by hand; milestones count the devices' reports only
 * (a manual confirmation carries a time staff typed).
 */
export function settle(
  status: Extract<BroadcastStatus, 'completed' | 'cancelled' | 'expired'>,
  startAt: number,
  villages: ReadonlyMap<string, VillageTimes>,
  targeted: readonly string[],
  manual: ReadonlySet<string>,
): Settlement {
  let covered = 0;
  let quiet = 0;
  for (const code of targeted) {
    const t = villages.get(code);
    if (t?.playedAt != null || manual.has(code)) covered++;
    else if (t?.heldByQuiet) quiet++;
  }
  return {
    outcome: outcomeOf(status, targeted.length, covered, quiet),
    ...milestoneTimes(startAt, villages, targeted),
  };
}

/** The milestones alone, for a broadcast still running (the same figures it will keep). */
export function milestoneTimes(
  startAt: number,
  villages: ReadonlyMap<string, VillageTimes>,
  targeted: readonly string[],
): MilestoneTimes {
  const sound: number[] = [];
  const played: number[] = [];
  for (const code of targeted) {
    const t = villages.get(code);
    if (t?.firstSoundAt != null) sound.push(t.firstSoundAt);
    if (t?.playedAt != null) played.push(t.playedAt);
  }
  const [s50, s90, s100] = milestones(sound, targeted.length, startAt).map((m) => m.afterMs);
  const [p50, p90, p100] = milestones(played, targeted.length, startAt).map((m) => m.afterMs);
  return {
    firstSoundP50Ms: s50,
    firstSoundP90Ms: s90,
    firstSoundP100Ms: s100,
    playedP50Ms: p50,
    playedP90Ms: p90,
    playedP100Ms: p100,
  };
}
