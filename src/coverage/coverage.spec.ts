import assert from 'node:assert/strict';
import { describe, it } from '@jest/globals';
import type { DeviceType } from '../contract/device.js';
import type { DeliveryState } from '../contract/messages.js';
import type { DeliveryGroup } from '../broadcasts/delivery-groups.js';
import { classifyVillage, computeCoverage } from './coverage.js';

const g = (
  villageCode: string,
  state: DeliveryState,
  count = 1,
  extra: Partial<DeliveryGroup> = {},
): DeliveryGroup => ({
  villageCode,
  deviceType: 'village_loudspeaker',
  state,
  count,
  neverSent: 0,
  started: 0,
  heldByQuiet: 0,
  firstSoundAt: null,
  playedAt: null,
  ...extra,
});
const online = (n: number): Partial<Record<DeviceType, number>> => ({ village_loudspeaker: n });

describe('classifyVillage', () => {
  it('covers a village when one device played, or staff confirmed it', () => {
    assert.deepEqual(classifyVillage([g('v', 'played'), g('v', 'failed')], [], null, online(0)), {
      outcome: 'covered',
      coveredBy: 'devices',
      reason: null,
    });
    assert.equal(classifyVillage([g('v', 'expired')], [], 5, online(0)).coveredBy, 'manual');
    assert.equal(classifyVillage([], [], 5, online(0)).coveredBy, 'manual');
  });

  it('calls a village partial only while a started delivery is still open', () => {
    assert.equal(
      classifyVillage([g('v', 'playing', 1, { started: 1 })], [], null, {}).outcome,
      'partial',
    );
    // Interrupted by a more urgent broadcast and waiting to be resumed.
    assert.equal(
      classifyVillage([g('v', 'pending', 1, { started: 1 })], [], null, online(1)).outcome,
      'partial',
    );
    // A delivery that ended is never partial: it failed, or the broadcast was cancelled.
    assert.deepEqual(classifyVillage([g('v', 'failed', 1, { started: 1 })], [], null, {}), {
      outcome: 'uncovered',
      coveredBy: null,
      reason: 'failed',
    });
    assert.deepEqual(classifyVillage([g('v', 'cancelled', 1, { started: 1 })], [], null, {}), {
      outcome: 'uncovered',
      coveredBy: null,
      reason: 'cancelled',
    });
  });

  it('says quiet_hours, not all_offline, for a village its quiet hours held', () => {
    const reason = (...args: Parameters<typeof classifyVillage>) => classifyVillage(...args).reason;
    // Held until after the broadcast expired: never sent, yet the device was online.
    assert.equal(
      reason([g('v', 'expired', 1, { neverSent: 1, heldByQuiet: 1 })], [], null, online(1)),
      'quiet_hours',
    );
    // Still waiting for the quiet hours to end, downloaded and ready.
    assert.equal(
      reason([g('v', 'ready', 1, { heldByQuiet: 1 })], [], null, online(1)),
      'quiet_hours',
    );
    // One device held, another not yet told: being delivered.
    assert.equal(
      reason([g('v', 'ready', 1, { heldByQuiet: 1 }), g('v', 'sent')], [], null, online(2)),
      'pending',
    );
  });

  it('gives each uncovered village its reason', () => {
    const reason = (...args: Parameters<typeof classifyVillage>) => classifyVillage(...args).reason;
    assert.equal(reason([], [], null, {}), 'no_device');
    assert.equal(reason([g('v', 'pending')], [], null, online(0)), 'all_offline');
    assert.equal(reason([g('v', 'pending')], [], null, online(1)), 'pending');
    // Online devices of another type do not help a delivery to a flood PA.
    assert.equal(
      reason([g('v', 'sent', 1, { deviceType: 'flood_pa' })], [], null, online(2)),
      'all_offline',
    );
    assert.equal(
      reason(
        [g('v', 'failed')],
        [{ villageCode: 'v', deviceType: null, reason: 'x', count: 1 }],
        null,
        {},
      ),
      'failed',
    );
    assert.equal(reason([g('v', 'rejected'), g('v', 'expired')], [], null, {}), 'failed');
    assert.equal(reason([g('v', 'expired', 2, { neverSent: 2 })], [], null, {}), 'all_offline');
    assert.equal(reason([g('v', 'expired', 2, { neverSent: 1 })], [], null, {}), 'expired');
    assert.equal(reason([g('v', 'cancelled')], [], null, {}), 'cancelled');
  });
});

describe('computeCoverage', () => {
  const villages = [
    { code: 'a1', name: 'A1', townCode: 'A', townName: 'Town A' },
    { code: 'a2', name: 'A2', townCode: 'A', townName: 'Town A' },
    { code: 'b1', name: 'B1', townCode: 'B', townName: 'Town B' },
    { code: 'b2', name: 'B2', townCode: 'B', townName: 'Town B' },
  ];

  it('tallies villages, towns, types and delivery states', () => {
    const r = computeCoverage({
      startAt: 1000,
      villages,
      groups: [
        g('a1', 'played', 2, { firstSoundAt: 3500, playedAt: 4000 }),
        g('a1', 'played', 1, { deviceType: 'flood_pa', firstSoundAt: 2000, playedAt: 3000 }),
        g('a2', 'failed', 1),
        g('b1', 'expired', 1, { neverSent: 1, deviceType: 'flood_pa' }),
      ],
      failures: [
        { villageCode: 'a2', deviceType: 'village_loudspeaker', reason: 'amp fault', count: 1 },
      ],
      manual: new Map([['b1', 9000]]),
      online: new Map(),
    });
    assert.deepEqual(
      r.villages.map((v) => [v.code, v.outcome, v.coveredBy, v.reason]),
      [
        ['a1', 'covered', 'devices', null],
        ['a2', 'uncovered', null, 'failed'],
        ['b1', 'covered', 'manual', null],
        ['b2', 'uncovered', null, 'no_device'],
      ],
    );
    assert.equal(r.villages[0].firstSoundAt, 2000);
    assert.equal(r.villages[0].playedAt, 3000);
    assert.deepEqual(r.villages[1].failures, [{ code: 'other', reason: 'amp fault', devices: 1 }]);
    assert.deepEqual(
      { ...r.summary, uncoveredByReason: undefined },
      {
        targeted: 4,
        covered: 2,
        coveredByDevices: 1,
        coveredManually: 1,
        partial: 0,
        uncovered: 2,
        rate: 0.5,
        uncoveredByReason: undefined,
      },
    );
    assert.equal(r.summary.uncoveredByReason.failed, 1);
    assert.equal(r.summary.uncoveredByReason.no_device, 1);
    assert.deepEqual(
      r.byTown.map((t) => [t.townCode, t.targeted, t.covered, t.rate]),
      [
        ['A', 2, 1, 0.5],
        ['B', 2, 1, 0.5],
      ],
    );
    assert.deepEqual(
      r.byType.map((t) => [t.type, t.devices, t.played, t.failed, t.villages, t.villagesPlayed]),
      [
        ['village_loudspeaker', 3, 2, 1, 2, 1],
        ['flood_pa', 2, 1, 0, 2, 1],
      ],
    );
    assert.deepEqual(r.deliveries, { total: 5, played: 3, failed: 1, expired: 1 });
  });

  it('times 50%, 90% and 100% of villages to first sound and to played, from the devices alone', () => {
    const r = computeCoverage({
      startAt: 1000,
      villages,
      groups: [
        g('a1', 'played', 1, { firstSoundAt: 1200, playedAt: 1500 }),
        g('a2', 'played', 1, { firstSoundAt: 1300, playedAt: 2000 }),
        g('b1', 'played', 1, { firstSoundAt: 1400, playedAt: 5000 }),
        g('b2', 'playing', 1, { started: 1, firstSoundAt: 1600 }),
      ],
      failures: [],
      manual: new Map([['b2', 6000]]),
      online: new Map([['b2', online(1)]]),
    });
    const row = (m: { share: number; villages: number; afterMs: number | null }) => [
      m.share,
      m.villages,
      m.afterMs,
    ];
    assert.deepEqual(r.milestones.firstSound.map(row), [
      [0.5, 2, 300],
      [0.9, 4, 600],
      [1, 4, 600],
    ]);
    // b2 is covered by hand, but a manual confirmation does not time the devices.
    assert.deepEqual(r.milestones.played.map(row), [
      [0.5, 2, 1000],
      [0.9, 4, null],
      [1, 4, null],
    ]);
  });
});
