import assert from 'node:assert/strict';
import { describe, it } from '@jest/globals';
import { targetReachesTowns, targetTownsWithin, TargetScopeSnapshot } from './target-scope.js';

const snapshot: TargetScopeSnapshot = {
  villages: [
    { code: 'A1', townCode: 'A' },
    { code: 'A2', townCode: 'A' },
    { code: 'B1', townCode: 'B' },
  ],
  devices: [
    { id: 'a1-vl', villageCode: 'A1', type: 'village_loudspeaker', enabled: true },
    { id: 'a2-fp', villageCode: 'A2', type: 'flood_pa', enabled: true },
    { id: 'b1-vl', villageCode: 'B1', type: 'village_loudspeaker', enabled: true },
  ],
};

describe('targetTownsWithin', () => {
  it('lets the county send anything', () => {
    assert.equal(targetTownsWithin({ all: true }, null, snapshot), true);
  });

  it('accepts towns, villages and devices that all lie in the towns', () => {
    assert.equal(targetTownsWithin({ towns: ['A'] }, ['A'], snapshot), true);
    assert.equal(
      targetTownsWithin(
        { villages: ['A1'], devices: ['a2-fp'], deviceTypes: ['flood_pa'] },
        ['A'],
        snapshot,
      ),
      true,
    );
  });

  it('refuses all, county-wide device types, and anything outside or unknown', () => {
    assert.equal(targetTownsWithin({ all: true }, ['A', 'B'], snapshot), false);
    assert.equal(targetTownsWithin({ deviceTypes: ['flood_pa'] }, ['A'], snapshot), false);
    assert.equal(targetTownsWithin({ towns: ['A', 'B'] }, ['A'], snapshot), false);
    assert.equal(targetTownsWithin({ villages: ['A1', 'B1'] }, ['A'], snapshot), false);
    assert.equal(targetTownsWithin({ devices: ['b1-vl'] }, ['A'], snapshot), false);
    assert.equal(targetTownsWithin({ villages: ['X9'] }, ['A'], snapshot), false);
  });
});

describe('targetReachesTowns', () => {
  it('sees all and named towns as reaching', () => {
    assert.equal(targetReachesTowns({ all: true }, ['B'], snapshot), true);
    assert.equal(targetReachesTowns({ towns: ['A', 'B'] }, ['B'], snapshot), true);
    assert.equal(targetReachesTowns({ towns: ['A'] }, ['B'], snapshot), false);
  });

  it('follows villages and devices to their towns', () => {
    assert.equal(targetReachesTowns({ villages: ['A1'] }, ['B'], snapshot), false);
    assert.equal(targetReachesTowns({ villages: ['A1', 'B1'] }, ['B'], snapshot), true);
    assert.equal(
      targetReachesTowns({ villages: ['A1'], devices: ['b1-vl'] }, ['B'], snapshot),
      true,
    );
  });

  it('narrows by device type as resolution does', () => {
    assert.equal(targetReachesTowns({ deviceTypes: ['flood_pa'] }, ['B'], snapshot), false);
    assert.equal(targetReachesTowns({ deviceTypes: ['flood_pa'] }, ['A'], snapshot), true);
    assert.equal(
      targetReachesTowns({ all: true, deviceTypes: ['flood_pa'] }, ['B'], snapshot),
      false,
    );
    assert.equal(
      targetReachesTowns({ towns: ['B'], deviceTypes: ['village_loudspeaker'] }, ['B'], snapshot),
      true,
    );
  });
});
