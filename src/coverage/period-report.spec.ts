import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { computePeriodReport, PeriodBroadcast } from './period-report.js';

const HOUR = 3_600_000;
const b = (id: string, level: PeriodBroadcast['level'], status = 'completed'): PeriodBroadcast => ({
  id,
  title: id,
  level,
  status,
  startAt: 0,
  dispatchedAt: status === 'scheduled' ? null : 0,
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
    broadcasts: [b('x', 'I'), b('y', 'routine'), b('z', 'routine', 'cancelled')],
    targets: [
      { broadcastId: 'x', villageCode: 'v1' },
      { broadcastId: 'x', villageCode: 'v2' },
      { broadcastId: 'x', villageCode: 'v3' },
      { broadcastId: 'y', villageCode: 'v1' },
      { broadcastId: 'y', villageCode: 'v2' },
    ],
    played: [
      { broadcastId: 'x', villageCode: 'v1' },
      { broadcastId: 'x', villageCode: 'v2' },
      { broadcastId: 'y', villageCode: 'v1' },
    ],
    confirmed: [
      { broadcastId: 'x', villageCode: 'v3' },
      { broadcastId: 'x', villageCode: 'v1' },
    ],
    villages,
    villagesPlayed: new Set(['v1', 'v2', 'elsewhere']),
    devices: [
      { id: 'd1', villageCode: 'v1', enabled: true },
      { id: 'd2', villageCode: 'v1', enabled: true },
      { id: 'd3', villageCode: 'v2', enabled: false },
    ],
    onlineMs: new Map([
      ['d1', 10 * HOUR],
      ['d2', 5 * HOUR],
      ['d3', 10 * HOUR],
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
        i.rate,
      ]),
      [
        ['x', true, 3, 3, 1, 1],
        ['y', true, 2, 1, 0, 0.5],
        ['z', false, 0, 0, 0, null],
      ],
    );
    assert.equal(report.coverage.mean, 0.75);
    assert.equal(report.coverage.worst?.id, 'y');
    assert.deepEqual(report.broadcasts.byLevel, {
      I: 1,
      II: 0,
      III: 0,
      IV: 0,
      routine: 2,
      test: 0,
    });
    assert.deepEqual(report.broadcasts.byStatus, { completed: 2, cancelled: 1 });
  });

  it('rates villages against the threshold and measures availability and usage', () => {
    assert.deepEqual(
      report.villages.map((v) => [
        v.code,
        v.targeted,
        v.covered,
        v.rate,
        v.belowThreshold,
        v.used,
        v.availability,
      ]),
      [
        ['v1', 2, 2, 1, false, true, 0.75],
        ['v2', 2, 1, 0.5, true, true, null],
        ['v3', 1, 1, 1, false, false, null],
      ],
    );
    assert.deepEqual(
      report.belowThreshold.map((v) => v.code),
      ['v2'],
    );
    assert.deepEqual(report.usage, { villages: 3, used: 2, rate: 2 / 3 });
    assert.equal(report.availability.mean, 0.75);
  });
});
