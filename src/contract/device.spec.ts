import assert from 'node:assert/strict';
import { describe, it } from '@jest/globals';
import { isDeviceId, isDeviceType } from './device.js';

describe('device ids', () => {
  it('accepts ids safe as MQTT client ids', () => {
    for (const id of ['a', 'vl-611026001201', 'ET_01.backup', 'x'.repeat(64)])
      assert.equal(isDeviceId(id), true, id);
  });

  it('refuses topic wildcards, separators, spaces, control characters and overlong ids', () => {
    for (const id of [
      '',
      'a/b',
      'a+b',
      'a#',
      'a b',
      'a\u0000',
      '-leading',
      '.leading',
      'x'.repeat(65),
      '设备1',
    ]) {
      assert.equal(isDeviceId(id), false, JSON.stringify(id));
    }
    assert.equal(isDeviceId(42), false);
  });

  it('knows the four device types', () => {
    assert.equal(isDeviceType('flood_pa'), true);
    assert.equal(isDeviceType('siren'), false);
  });
});
