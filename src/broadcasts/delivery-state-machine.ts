/**
 * The delivery state machine (DESIGN.md, "Delivery"): states only move forward;
 * `pending → sent → received → downloading → ready → playing → played`, or end in `failed`,
 * `rejected`, `expired` or `cancelled`. `preempted` (a more urgent broadcast took the speaker) returns
 * a delivery to `pending` while its broadcast is still valid, a bounded number of times. Pure: no
 * I/O, no clock.
 */
import {
  DELIVERY_ENDINGS,
  DELIVERY_PROGRESS,
  DeliveryState,
  DeviceReportedState,
} from '../contract/messages.js';

/** The states a delivery ends in: played, or one of the contract's endings. */
export const TERMINAL_STATES: readonly DeliveryState[] = ['played', ...DELIVERY_ENDINGS];
/**
 * The states a delivery can still leave (`pending` to `playing`); the one list every query and
 * check uses, in the broadcasts and coverage modules alike.
 */
export const OPEN_STATES: readonly DeliveryState[] = DELIVERY_PROGRESS.filter(
  (s) => !TERMINAL_STATES.includes(s),
);
/** Open states the device has not acknowledged yet: the only ones sent again. */
export const UNACKNOWLEDGED_STATES: readonly DeliveryState[] = ['pending', 'sent'];

/**
 * Progress steps a device may leave out: `downloading`, when the clip is already in its cache.
 * Leaving out any other (`received`, `ready`, `playing`) is a protocol anomaly: the step is
 * accepted (a late `played` is still the truth about coverage) but counted and recorded.
 */
export const OPTIONAL_STEPS: readonly DeliveryState[] = ['downloading'];

export type DeliveryEventSource = 'mqtt' | 'manual' | 'system';

/** What can happen to a delivery: a device report, or the server's own decisions. */
export type DeliveryInput =
  | { kind: 'device'; state: DeviceReportedState }
  | { kind: 'sent' }
  | { kind: 'expired' }
  | { kind: 'cancelled' }
  | { kind: 'failed' };

/**
 * Why an input changes nothing: the same state again (`duplicate`), a step back (`backwards`), after
 * the end (`terminal`), meaningless in this state (`not_applicable`), or `preempted` for a run of
 * the delivery the device has not acknowledged yet (`stale`: a late copy about an earlier run).
 */
export type RefusalReason = 'duplicate' | 'backwards' | 'terminal' | 'not_applicable' | 'stale';

export type Transition =
  | {
      ok: true;
      next: DeliveryState;
      /** Required steps the device left out on the way (see {@link OPTIONAL_STEPS}). */
      skipped: DeliveryState[];
    }
  | { ok: false; reason: RefusalReason };

export interface TransitionContext {
  /** The broadcast can still be delivered (active, not past its expiry). */
  broadcastOpen: boolean;
  /**
   * The device's event named the delivery's current run (its `resume`); false or absent when it
   * named none (events about an earlier run are refused before they get here).
   */
  sameRun?: boolean;
  /** Resumptions after `preempted` already given to this delivery. */
  resumes?: number;
  /** Resumptions allowed; interrupted once more, the delivery fails. */
  maxResumes?: number;
}

const rank = (s: DeliveryState) => (DELIVERY_PROGRESS as readonly DeliveryState[]).indexOf(s);

export function isTerminal(state: DeliveryState): boolean {
  return TERMINAL_STATES.includes(state);
}

const ok = (next: DeliveryState, skipped: DeliveryState[] = []): Transition => ({
  ok: true,
  next,
  skipped,
});

/** Applies one input to a delivery in `current`. */
export function transition(
  current: DeliveryState,
  input: DeliveryInput,
  context: TransitionContext,
): Transition {
  const target = input.kind === 'device' ? input.state : input.kind;
  if (isTerminal(current))
    return { ok: false, reason: current === target ? 'duplicate' : 'terminal' };

  switch (target) {
    case 'sent':
      if (current === 'pending') return ok('sent');
      return { ok: false, reason: current === 'sent' ? 'duplicate' : 'backwards' };
    case 'preempted':
      // A device reports `received` before anything else of a run, so a `preempted` while the
      // server still waits for that is about an earlier run (resuming again would loop), unless
      // the event says it is about this one (its `received` was lost).
      if (current === 'pending') return { ok: false, reason: 'not_applicable' };
      if (current === 'sent' && !context.sameRun) return { ok: false, reason: 'stale' };
      if (!context.broadcastOpen) return ok('expired');
      if ((context.resumes ?? 0) >= (context.maxResumes ?? Infinity)) return ok('failed');
      return ok('pending');
    case 'failed':
    case 'rejected':
    case 'expired':
    case 'cancelled':
      return ok(target);
    default: {
      // received, downloading, ready, playing, played: forward only; a lost step is accepted.
      // Not before a command is out: a pending delivery was never sent, or waits to be resumed,
      // so such an event is about an earlier run and must not stop the resumption.
      if (current === 'pending') return { ok: false, reason: 'stale' };
      const from = rank(current);
      const to = rank(target);
      if (to === from) return { ok: false, reason: 'duplicate' };
      if (to < from) return { ok: false, reason: 'backwards' };
      const skipped = (DELIVERY_PROGRESS as readonly DeliveryState[])
        .slice(Math.max(from, rank('sent')) + 1, to)
        .filter((s) => !OPTIONAL_STEPS.includes(s));
      return ok(target, skipped);
    }
  }
}
