import assert from 'node:assert/strict';
import { describe, it } from '@jest/globals';
import { computePeriodReport, PeriodBroadcast } from './period-report.js';

const HOUR = 3_600_000;
const b = (
  id: string,
  level: PeriodBroadcast['level'],
  status: PeriodBroadcast['status'] = 'completed',
  outcome: PeriodBroadcast['outcome'] = status === 'completed' ? 'completed' : null,
): PeriodBroadcast => ({
  id,
  title: id,
  level,
  status,
  outcome,
  startAt: 0,
  expiresAt: HOUR,
  dispatchedAt: status === 'scheduled' ? null : 0,
  endReason: null,
  cancelledBy: null,
  createdBy: 'test',
  createdAt: 0,
  approvedBy: null,
  approvedAt: null,
  draftId: null,
  overrideReason: null,
  firstSoundP50Ms: 1000,
  firstSoundP90Ms: 2000,
  firstSoundP100Ms: null,
  playedP50Ms: 5000,
  playedP90Ms: null,
  playedP100Ms: null,
});
const villages = ['v1', 'v2', 'v3'].map((code) => ({
  code,
  name: code,
  townCode: 't',
  townName: 'T',
}));

describe('computePeriodReport', () => {
  const report = computePeriodReport({
    from: 0,
    to: 10 * HOUR,
    measuredTo: 10 * HOUR,
    threshold: 0.9,
    broadcasts: [
      b('x', 'I'),
      b('y', 'routine', 'completed', 'partially_completed'),
      b('z', 'routine', 'cancelled', 'cancelled'),
      b('q', 'routine', 'completed', 'failed'),
    ],
    targets: [
      { broadcastId: 'x', villageCode: 'v1' },
      { broadcastId: 'x', villageCode: 'v2' },
      { broadcastId: 'x', villageCode: 'v3' },
      { broadcastId: 'y', villageCode: 'v1' },
      { broadcastId: 'y', villageCode: 'v2' },
      { broadcastId: 'q', villageCode: 'v1' },
      { broadcastId: 'q', villageCode: 'v3' },
    ],
    played: [
      { broadcastId: 'x', villageCode: 'v1' },
      { broadcastId: 'x', villageCode: 'v2' },
      { broadcastId: 'y', villageCode: 'v1' },
    ],
    confirmed: [
      { broadcastId: 'x', villageCode: 'v3' },
      { broadcastId: 'x', villageCode: 'v1' },
      { broadcastId: 'q', villageCode: 'v3' },
    ],
    // q waited out the quiet hours of both its villages, and v3 was still confirmed by hand.
    quietHeld: [
      { broadcastId: 'q', villageCode: 'v1' },
      { broadcastId: 'q', villageCode: 'v3' },
    ],
    villages,
    villagesPlayed: new Set(['v1', 'v2', 'elsewhere']),
    devices: [
      { id: 'd1', villageCode: 'v1', enabled: true, createdAt: -HOUR },
      { id: 'd2', villageCode: 'v1', enabled: true, createdAt: 0 },
      { id: 'd3', villageCode: 'v2', enabled: false, createdAt: 0 },
      // Registered half way through, online ever since.
      { id: 'd4', villageCode: 'v3', enabled: true, createdAt: 5 * HOUR },
    ],
    onlineMs: new Map([
      ['d1', 10 * HOUR],
      ['d2', 5 * HOUR],
      ['d3', 10 * HOUR],
      ['d4', 5 * HOUR],
    ]),
  });

  it('rates each broadcast, counting staff confirmations once and cancelled ones not at all', () => {
    assert.deepEqual(
      report.broadcasts.items.map((i) => [
        i.id,
        i.counted,
        i.targeted,
        i.covered,
        i.coveredManually,
        i.heldByQuietHours,
        i.rate,
      ]),
      [
        ['x', true, 3, 3, 1, 0, 1],
        ['y', true, 2, 1, 0, 0, 0.5],
        ['z', false, 0, 0, 0, 0, null],
        ['q', true, 2, 1, 1, 1, 1],
      ],
    );
    assert.deepEqual(report.broadcasts.items[0].firstSound, {
      p50Ms: 1000,
      p90Ms: 2000,
      p100Ms: null,
    });
    assert.deepEqual(report.broadcasts.byOutcome, {
      completed: 1,
      partially_completed: 1,
      failed: 1,
      cancelled: 1,
      expired: 0,
    });
    assert.equal(report.coverage.mean, 2.5 / 3);
    assert.equal(report.coverage.worst?.id, 'y');
    assert.deepEqual(report.broadcasts.byLevel, {
      I: 1,
      II: 0,
      III: 0,
      IV: 0,
      routine: 3,
      test: 0,
    });
    assert.deepEqual(report.broadcasts.byStatus, { completed: 3, cancelled: 1 });
  });

  it('rates villages against the threshold, leaving out what quiet hours held, and measures availability from registration', () => {
    assert.deepEqual(
      report.villages.map((v) => [
        v.code,
        v.targeted,
        v.covered,
        v.heldByQuietHours,
        v.rate,
        v.belowThreshold,
        v.used,
        v.availability,
      ]),
      [
        ['v1', 3, 2, 1, 1, false, true, 0.75],
        ['v2', 2, 1, 0, 0.5, true, true, null],
        // d4 was online all the 5 hours it was registered: 100%, not 50%.
        ['v3', 2, 2, 0, 1, false, false, 1],
      ],
    );
    assert.deepEqual(
      report.belowThreshold.map((v) => v.code),
      ['v2'],
    );
    assert.deepEqual(report.usage, { villages: 3, used: 2, rate: 2 / 3 });
    assert.equal(report.availability.mean, 0.875);
  });
});
