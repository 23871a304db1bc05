import assert from 'node:assert/strict';
import { describe, it } from '@jest/globals';
import { milestones, outcomeOf, settle, VillageTimes } from './broadcast-outcome.js';

const times = (entries: [string, Partial<VillageTimes>][]): Map<string, VillageTimes> =>
  new Map(
    entries.map(([code, t]) => [
      code,
      { firstSoundAt: null, playedAt: null, heldByQuiet: false, ...t },
    ]),
  );

describe('broadcast outcome', () => {
  it('says what came of a broadcast that ended', () => {
    assert.equal(outcomeOf('completed', 3, 3), 'completed');
    assert.equal(outcomeOf('completed', 3, 1), 'partially_completed');
    assert.equal(outcomeOf('completed', 3, 0), 'failed');
    assert.equal(outcomeOf('completed', 0, 0), 'failed', 'nothing to reach is no success');
    assert.equal(outcomeOf('cancelled', 3, 3), 'cancelled');
    assert.equal(outcomeOf('expired', 3, 0), 'expired');
  });

  it('leaves villages held by quiet hours out, and calls it expired when that is all of them', () => {
    assert.equal(outcomeOf('completed', 3, 2, 1), 'completed');
    assert.equal(outcomeOf('completed', 3, 1, 1), 'partially_completed');
    assert.equal(outcomeOf('completed', 2, 0, 2), 'expired');
  });

  it('times half, 90% and all of the targeted villages from each village’s first time', () => {
    assert.deepEqual(
      milestones([1300, 1100, 1200], 4, 1000).map((m) => [m.share, m.villages, m.afterMs]),
      [
        [0.5, 2, 200],
        [0.9, 4, null],
        [1, 4, null],
      ],
    );
    assert.deepEqual(
      milestones([], 0, 0).map((m) => m.reachedAt),
      [null, null, null],
    );
  });

  it('settles a broadcast: covered by devices or by hand, timed by the devices alone', () => {
    const s = settle(
      'completed',
      1000,
      times([
        ['a', { firstSoundAt: 1100, playedAt: 1500 }],
        ['b', { firstSoundAt: 1200 }],
        ['c', { heldByQuiet: true }],
      ]),
      ['a', 'b', 'c', 'd'],
      new Set(['d']),
    );
    // a played, d by hand, c held by quiet hours, b cut off: 2 of 3 that could play.
    assert.equal(s.outcome, 'partially_completed');
    assert.deepEqual([s.firstSoundP50Ms, s.firstSoundP90Ms, s.firstSoundP100Ms], [200, null, null]);
    assert.deepEqual([s.playedP50Ms, s.playedP90Ms, s.playedP100Ms], [null, null, null]);
  });
});
