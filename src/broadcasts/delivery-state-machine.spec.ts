import assert from 'node:assert/strict';
import { describe, it } from '@jest/globals';
import { DELIVERY_PROGRESS, DeliveryState, DEVICE_REPORTED_STATES } from '../contract/messages.js';
import {
  DeliveryInput,
  OPEN_STATES,
  TERMINAL_STATES,
  transition,
} from './delivery-state-machine.js';

const ALL: DeliveryState[] = [...OPEN_STATES, ...TERMINAL_STATES];
const device = (state: (typeof DEVICE_REPORTED_STATES)[number]): DeliveryInput => ({
  kind: 'device',
  state,
});
const progress = DELIVERY_PROGRESS as readonly DeliveryState[];
const open = { broadcastOpen: true };
const closed = { broadcastOpen: false };

describe('delivery state machine', () => {
  it('moves forward along the progress states, naming the required steps it skipped', () => {
    for (const from of OPEN_STATES) {
      for (const to of ['received', 'downloading', 'ready', 'playing', 'played'] as const) {
        const result = transition(from, device(to), open);
        if (from === 'pending') {
          // Never sent, or waiting to be resumed: a report of progress is about an earlier run.
          assert.deepEqual(result, { ok: false, reason: 'stale' }, `${from} → ${to}`);
          continue;
        }
        const forward = progress.indexOf(to) > progress.indexOf(from);
        const skipped = progress
          .slice(Math.max(progress.indexOf(from), 1) + 1, progress.indexOf(to))
          .filter((s) => s !== 'downloading');
        if (forward) assert.deepEqual(result, { ok: true, next: to, skipped }, `${from} → ${to}`);
        else
          assert.deepEqual(
            result,
            { ok: false, reason: to === from ? 'duplicate' : 'backwards' },
            `${from} → ${to}`,
          );
      }
    }
  });

  it('ends an open delivery as failed, rejected, expired or cancelled from any open state', () => {
    const inputs: [DeliveryInput, DeliveryState][] = [
      [device('failed'), 'failed'],
      [device('rejected'), 'rejected'],
      [{ kind: 'failed' }, 'failed'],
      [{ kind: 'expired' }, 'expired'],
      [{ kind: 'cancelled' }, 'cancelled'],
    ];
    for (const from of OPEN_STATES) {
      for (const [input, next] of inputs)
        assert.deepEqual(
          transition(from, input, open),
          { ok: true, next, skipped: [] },
          `${from} + ${JSON.stringify(input)}`,
        );
    }
  });

  it('changes nothing once a delivery has ended: the same end again is a duplicate, anything else is refused', () => {
    const inputs: DeliveryInput[] = [
      ...DEVICE_REPORTED_STATES.map(device),
      { kind: 'sent' },
      { kind: 'expired' },
      { kind: 'cancelled' },
      { kind: 'failed' },
    ];
    for (const from of TERMINAL_STATES) {
      for (const input of inputs) {
        const target = input.kind === 'device' ? input.state : input.kind;
        assert.deepEqual(
          transition(from, input, open),
          { ok: false, reason: target === from ? 'duplicate' : 'terminal' },
          `${from} + ${target}`,
        );
      }
    }
  });

  it('marks a command sent only from pending', () => {
    assert.deepEqual(transition('pending', { kind: 'sent' }, open), {
      ok: true,
      next: 'sent',
      skipped: [],
    });
    assert.deepEqual(transition('sent', { kind: 'sent' }, open), {
      ok: false,
      reason: 'duplicate',
    });
    for (const from of ['received', 'downloading', 'ready', 'playing'] as const) {
      assert.deepEqual(
        transition(from, { kind: 'sent' }, open),
        { ok: false, reason: 'backwards' },
        from,
      );
    }
  });

  it('treats only downloading as optional: a cached clip goes from received to ready', () => {
    assert.deepEqual(transition('received', device('ready'), open), {
      ok: true,
      next: 'ready',
      skipped: [],
    });
    assert.deepEqual(transition('sent', device('played'), open), {
      ok: true,
      next: 'played',
      skipped: ['received', 'ready', 'playing'],
    });
    assert.deepEqual(transition('ready', device('played'), open), {
      ok: true,
      next: 'played',
      skipped: ['playing'],
    });
  });

  it('returns a preempted delivery to pending while the broadcast is open, and expires it after', () => {
    for (const from of ['received', 'downloading', 'ready', 'playing'] as const) {
      assert.deepEqual(
        transition(from, device('preempted'), open),
        { ok: true, next: 'pending', skipped: [] },
        from,
      );
      assert.deepEqual(
        transition(from, device('preempted'), closed),
        { ok: true, next: 'expired', skipped: [] },
        from,
      );
    }
    assert.deepEqual(transition('pending', device('preempted'), open), {
      ok: false,
      reason: 'not_applicable',
    });
  });

  it('refuses a preempted about an earlier run: the device has not acknowledged the resumption yet', () => {
    assert.deepEqual(transition('sent', device('preempted'), open), {
      ok: false,
      reason: 'stale',
    });
    // Unless the event names this run: its `received` was lost, its device lost the playback.
    assert.deepEqual(transition('sent', device('preempted'), { ...open, sameRun: true }), {
      ok: true,
      next: 'pending',
      skipped: [],
    });
  });

  it('fails a delivery interrupted once more than the resumptions allowed', () => {
    const context = { broadcastOpen: true, maxResumes: 3 };
    assert.deepEqual(transition('playing', device('preempted'), { ...context, resumes: 2 }), {
      ok: true,
      next: 'pending',
      skipped: [],
    });
    assert.deepEqual(transition('playing', device('preempted'), { ...context, resumes: 3 }), {
      ok: true,
      next: 'failed',
      skipped: [],
    });
  });

  it('covers every state', () => {
    assert.equal(ALL.length, 11);
  });
});
