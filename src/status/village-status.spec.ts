import assert from 'node:assert/strict';
import { describe, it } from '@jest/globals';
import type { DeviceType } from '../contract/device.js';
import { VillageTally } from './village-status.js';

/** A village's devices summed through the board's tally. */
function summariseVillage(
  devices: { type: DeviceType; enabled: boolean; online: boolean; lastSeenAt: number | null }[],
) {
  const tally = new VillageTally();
  for (const d of devices) tally.add(d.type, d.enabled, d.online, d.lastSeenAt);
  return tally.summary();
}

const d = (
  type: 'flood_pa' | 'village_loudspeaker',
  enabled: boolean,
  online: boolean,
  lastSeenAt: number | null = null,
) => ({
  type,
  enabled,
  online,
  lastSeenAt,
});

describe('summariseVillage', () => {
  it('names the worst problem', () => {
    assert.equal(summariseVillage([]).problem, 'no_devices');
    assert.equal(summariseVillage([d('flood_pa', false, false)]).problem, 'all_disabled');
    assert.equal(
      summariseVillage([d('flood_pa', true, false), d('flood_pa', false, true)]).problem,
      'all_offline',
    );
    assert.equal(
      summariseVillage([d('flood_pa', true, true), d('village_loudspeaker', true, false)]).problem,
      'some_offline',
    );
    assert.equal(
      summariseVillage([d('flood_pa', true, true), d('village_loudspeaker', false, false)]).problem,
      null,
    );
  });

  it('lists the devices that report another type, by device id', () => {
    const tally = new VillageTally();
    tally.add('flood_pa', true, true, 1);
    tally.addTypeMismatch('b-2', 'flood_pa', 'speaker_cart');
    tally.addTypeMismatch('a-1', 'village_loudspeaker', 'flood_pa');
    const s = tally.summary();
    assert.deepEqual(
      s.typeMismatches.map((m) => m.deviceId),
      ['a-1', 'b-2'],
    );
    assert.equal(s.problem, null, 'a type mismatch is not a presence problem');
    assert.deepEqual(summariseVillage([d('flood_pa', true, true)]).typeMismatches, []);
  });

  it('counts by type and keeps the latest time heard', () => {
    const s = summariseVillage([
      d('flood_pa', true, true, 5),
      d('flood_pa', true, false, 9),
      d('village_loudspeaker', true, true, 7),
    ]);
    assert.deepEqual(s.byType, {
      village_loudspeaker: { total: 1, online: 1 },
      flood_pa: { total: 2, online: 1 },
    });
    assert.deepEqual(
      [s.devicesTotal, s.devicesEnabled, s.devicesOnline, s.lastHeardAt],
      [3, 3, 2, 9],
    );
  });
});
