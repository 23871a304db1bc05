/**
 * Transcoding lanes: which ffmpeg runs get the FFMPEG_CONCURRENCY slots (pure logic; the Ffmpeg
 * class applies the plan to real processes).
 *
 * - `urgent`: uploads marked `priority=urgent`, renditions a broadcast is waiting for with an
 *   emergency level, and every step of an urgent clip up to its emergency-tone rendition;
 * - `routine`: other recordings up to {@link SHORT_CLIP_MS}, and their emergency-tone rendition
 *   made ahead;
 * - `background`: longer recordings (or ones whose header does not say how long they are), and the
 *   renditions with the routine and test tones made ahead of need.
 *
 * A run in a higher lane takes a slot from a lower one at once: the lower run is suspended (the
 * process stopped, so no work is lost) and resumes when the slot is free again. Within a lane,
 * started runs keep their slot and the rest go by the order their jobs arrived in.
 */
export const LANES = ['urgent', 'routine', 'background'] as const;
export type Lane = (typeof LANES)[number];

/** Up to this long a recording is transcoded in the routine lane; a longer one in the background. */
export const SHORT_CLIP_MS = 2 * 60_000;

let tickets = 0;

/**
 * One job's place in the queue (a clip's transcode, one rendition): every ffmpeg run of the job
 * carries it. The lane can be raised while the job waits or runs; a cancelled job's runs end.
 */
export class TranscodeTicket {
  /** Arrival order: earlier jobs go first within a lane. */
  readonly seq = tickets++;
  cancelled = false;

  constructor(
    public lane: Lane,
    /** For log lines: `clip=… transcode`, `clip=… rendition=emergency`. */
    public label: string,
  ) {}

  /** Moves the job to `lane` when that is higher than where it is; true when it moved. */
  raise(lane: Lane): boolean {
    if (rank(lane) >= rank(this.lane)) return false;
    this.lane = lane;
    return true;
  }
}

export function rank(lane: Lane): number {
  return LANES.indexOf(lane);
}

export type RunState = 'waiting' | 'running' | 'suspended';

export interface LaneRun {
  ticket: TranscodeTicket;
  /** Arrival order of the run itself (a job's runs come one after another). */
  order: number;
  state: RunState;
}

export interface LanePlan<R extends LaneRun> {
  start: R[];
  resume: R[];
  suspend: R[];
}

/**
 * Which runs should hold the `slots`: the first by lane, then started before waiting (no run
 * is suspended for another of its own lane), then by job and run arrival. Without `canSuspend`
 * (a platform that cannot stop a process) running runs keep their slots and only the free ones
 * are given out by lane.
 */
export function planLanes<R extends LaneRun>(
  runs: Iterable<R>,
  slots: number,
  canSuspend: boolean,
): LanePlan<R> {
  const all = [...runs];
  const sorted = all.sort(
    (a, b) =>
      rank(a.ticket.lane) - rank(b.ticket.lane) ||
      Number(a.state === 'waiting') - Number(b.state === 'waiting') ||
      a.ticket.seq - b.ticket.seq ||
      a.order - b.order,
  );
  const chosen = new Set<R>(canSuspend ? [] : sorted.filter((r) => r.state === 'running'));
  for (const r of sorted) {
    if (chosen.size >= slots) break;
    chosen.add(r);
  }
  return {
    start: sorted.filter((r) => chosen.has(r) && r.state === 'waiting'),
    resume: sorted.filter((r) => chosen.has(r) && r.state === 'suspended'),
    suspend: sorted.filter((r) => !chosen.has(r) && r.state === 'running'),
  };
}
