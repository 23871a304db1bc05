import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
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

describe('delivery state machine', () => {
  it('moves forward along the progress states, skipping lost steps', () => {
    for (const from of OPEN_STATES) {
      for (const to of ['received', 'downloading', 'ready', 'playing', 'played'] as const) {
        const result = transition(from, device(to), true);
        const forward = progress.indexOf(to) > progress.indexOf(from);
        if (forward) assert.deepEqual(result, { ok: true, next: to }, `${from} → ${to}`);
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
          transition(from, input, true),
          { ok: true, next },
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
          transition(from, input, true),
          { ok: false, reason: target === from ? 'duplicate' : 'terminal' },
          `${from} + ${target}`,
        );
      }
    }
  });

  it('marks a command sent only from pending', () => {
    assert.deepEqual(transition('pending', { kind: 'sent' }, true), { ok: true, next: 'sent' });
    assert.deepEqual(transition('sent', { kind: 'sent' }, true), {
      ok: false,
      reason: 'duplicate',
    });
    for (const from of ['received', 'downloading', 'ready', 'playing'] as const) {
      assert.deepEqual(
        transition(from, { kind: 'sent' }, true),
        { ok: false, reason: 'backwards' },
        from,
      );
    }
  });

  it('returns a preempted delivery to pending while the broadcast is open, and expires it after', () => {
    for (const from of ['sent', 'received', 'downloading', 'ready', 'playing'] as const) {
      assert.deepEqual(
        transition(from, device('preempted'), true),
        { ok: true, next: 'pending' },
        from,
      );
      assert.deepEqual(
        transition(from, device('preempted'), false),
        { ok: true, next: 'expired' },
        from,
      );
    }
    assert.deepEqual(transition('pending', device('preempted'), true), {
      ok: false,
      reason: 'not_applicable',
    });
  });

  it('covers every state', () => {
    assert.equal(ALL.length, 11);
  });
});
