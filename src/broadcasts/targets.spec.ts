import assert from 'node:assert/strict';
import { describe, it } from '@jest/globals';
import { narrowTarget, RegistryDevice, RegistryVillage, resolveTargets } from './targets.js';

const villages: RegistryVillage[] = [
  { code: 'A1', townCode: 'A' },
  { code: 'A2', townCode: 'A' },
  { code: 'B1', townCode: 'B' },
  { code: 'B2', townCode: 'B' },
];
const devices: RegistryDevice[] = [
  { id: 'a1-vl', villageCode: 'A1', type: 'village_loudspeaker', enabled: true },
  { id: 'a1-fp', villageCode: 'A1', type: 'flood_pa', enabled: true },
  { id: 'a2-vl', villageCode: 'A2', type: 'village_loudspeaker', enabled: false },
  { id: 'b1-fp', villageCode: 'B1', type: 'flood_pa', enabled: true },
];

describe('resolveTargets', () => {
  it('targets everything with all, without disabled devices but with their villages', () => {
    assert.deepEqual(resolveTargets({ all: true }, villages, devices), {
      villageCodes: ['A1', 'A2', 'B1', 'B2'],
      deviceIds: ['a1-fp', 'a1-vl', 'b1-fp'],
    });
  });

  it('unites towns and villages', () => {
    assert.deepEqual(resolveTargets({ towns: ['B'], villages: ['A2'] }, villages, devices), {
      villageCodes: ['A2', 'B1', 'B2'],
      deviceIds: ['b1-fp'],
    });
  });

  it('narrows to device types, county-wide when no place is given', () => {
    assert.deepEqual(resolveTargets({ deviceTypes: ['flood_pa'] }, villages, devices), {
      villageCodes: ['A1', 'B1'],
      deviceIds: ['a1-fp', 'b1-fp'],
    });
    assert.deepEqual(
      resolveTargets({ towns: ['A'], deviceTypes: ['village_loudspeaker'] }, villages, devices),
      {
        villageCodes: ['A1', 'A2'],
        deviceIds: ['a1-vl'],
      },
    );
  });

  it('adds named devices and their villages to anything else', () => {
    assert.deepEqual(resolveTargets({ villages: ['B2'], devices: ['a1-fp'] }, villages, devices), {
      villageCodes: ['A1', 'B2'],
      deviceIds: ['a1-fp'],
    });
  });

  it('reaches nothing with an empty target', () => {
    assert.deepEqual(resolveTargets({}, villages, devices), { villageCodes: [], deviceIds: [] });
  });
});

describe('narrowTarget (a resend to some of the villages)', () => {
  it('keeps places as the chosen villages, with the device types', () => {
    assert.deepEqual(
      narrowTarget({ towns: ['A'], deviceTypes: ['flood_pa'] }, ['A1'], villages, devices),
      { villages: ['A1'], deviceTypes: ['flood_pa'] },
    );
  });

  it('keeps only the named devices of a village reached through them, never its other devices', () => {
    const narrowed = narrowTarget({ devices: ['a1-vl', 'b1-fp'] }, ['A1'], villages, devices);
    assert.deepEqual(narrowed, { devices: ['a1-vl'] });
    assert.deepEqual(resolveTargets(narrowed, villages, devices).deviceIds, ['a1-vl']);
  });

  it('mixes both: a named device outside the places stays named, its village is not added', () => {
    assert.deepEqual(
      narrowTarget({ villages: ['B1'], devices: ['a1-fp'] }, ['A1', 'B1'], villages, devices),
      { villages: ['B1'], devices: ['a1-fp'] },
    );
  });
});
