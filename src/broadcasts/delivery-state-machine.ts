/**
 * The delivery state machine (DESIGN.md, "Delivery"): states only move forward;
 * `pending → sent → received → downloading → ready → playing → played`, or end in `failed`,
 * `rejected`, `expired` or `cancelled`. `preempted` (a more urgent broadcast took the speaker) returns
 * a delivery to `pending` while its broadcast is still valid. Pure: no I/O, no clock.
 */
import { DELIVERY_PROGRESS, DeliveryState, DeviceReportedState } from '../contract/messages.js';

export const TERMINAL_STATES: readonly DeliveryState[] = [
  'played',
  'failed',
  'rejected',
  'expired',
  'cancelled',
];
export const OPEN_STATES: readonly DeliveryState[] = [
  'pending',
  'sent',
  'received',
  'downloading',
  'ready',
  'playing',
];

export type DeliveryEventSource = 'mqtt' | 'manual' | 'system';

/** What can happen to a delivery: a device report, or the server's own decisions. */
export type DeliveryInput =
  | { kind: 'device'; state: DeviceReportedState }
  | { kind: 'sent' }
  | { kind: 'expired' }
  | { kind: 'cancelled' }
  | { kind: 'failed' };

export type RefusalReason = 'duplicate' | 'backwards' | 'terminal' | 'not_applicable';

export type Transition = { ok: true; next: DeliveryState } | { ok: false; reason: RefusalReason };

const rank = (s: DeliveryState) => (DELIVERY_PROGRESS as readonly DeliveryState[]).indexOf(s);

export function isTerminal(state: DeliveryState): boolean {
  return TERMINAL_STATES.includes(state);
}

/**
 * Applies one input to a delivery in `current`. `broadcastOpen` says whether the broadcast can still
 * be delivered (not past its expiry), which decides where a preempted delivery goes.
 */
export function transition(
  current: DeliveryState,
  input: DeliveryInput,
  broadcastOpen: boolean,
): Transition {
  const target = input.kind === 'device' ? input.state : input.kind;
  if (isTerminal(current))
    return { ok: false, reason: current === target ? 'duplicate' : 'terminal' };

  switch (target) {
    case 'sent':
      if (current === 'pending') return { ok: true, next: 'sent' };
      return { ok: false, reason: current === 'sent' ? 'duplicate' : 'backwards' };
    case 'preempted':
      if (rank(current) < rank('sent')) return { ok: false, reason: 'not_applicable' };
      return { ok: true, next: broadcastOpen ? 'pending' : 'expired' };
    case 'failed':
    case 'rejected':
    case 'expired':
    case 'cancelled':
      return { ok: true, next: target };
    default: {
      // received, downloading, ready, playing, played: forward only (a lost step may be skipped).
      const from = rank(current);
      const to = rank(target);
      if (to === from) return { ok: false, reason: 'duplicate' };
      if (to < from) return { ok: false, reason: 'backwards' };
      return { ok: true, next: target };
    }
  }
}
