import assert from 'node:assert/strict';
import { describe, it } from '@jest/globals';
import { isDeviceId } from '../contract/device.js';
import { isTownCode, isVillageCode } from '../villages/admin-codes.js';
import { parseQuietHours } from '../common/quiet-hours.js';
import { SAMPLE_COUNTY_CODE, sampleCounty } from './sample-county.js';

describe('sample county', () => {
  const county = sampleCounty();
  const villagesWith = (type: string) =>
    new Set(county.devices.filter((d) => d.type === type).map((d) => d.villageCode));

  it('has 9 towns and 81 villages with valid, unique codes and names', () => {
    assert.equal(county.towns.length, 9);
    assert.equal(county.villages.length, 81);
    assert.ok(county.towns.every((t) => isTownCode(t.code)));
    assert.ok(county.villages.every((v) => isVillageCode(v.code) && v.code.startsWith(v.townCode)));
    assert.equal(new Set(county.villages.map((v) => v.code)).size, 81);
    assert.equal(new Set(county.villages.map((v) => v.name)).size, 81);
    assert.ok(county.villages.every((v) => v.quietHours === null || parseQuietHours(v.quietHours)));
  });

  it('matches the described device mix: 10 emergency terminals, 69 loudspeaker/PA villages, 2 carts', () => {
    const terminals = villagesWith('emergency_terminal');
    const carts = villagesWith('speaker_cart');
    const horns = new Set([...villagesWith('village_loudspeaker'), ...villagesWith('flood_pa')]);
    assert.equal(terminals.size, 10);
    assert.equal(carts.size, 2);
    assert.equal(horns.size, 69);
    const both = [...villagesWith('village_loudspeaker')].filter((v) =>
      villagesWith('flood_pa').has(v),
    );
    assert.ok(both.length > 0, 'some villages have both a loudspeaker and a flood PA');
    // Every village is in exactly one group, so all 81 have at least one device.
    assert.equal(new Set([...terminals, ...carts, ...horns]).size, 81);
    assert.equal(terminals.size + carts.size + horns.size, 81);
  });

  it('builds the same ids every time, all valid MQTT client ids', () => {
    assert.deepEqual(sampleCounty(), county);
    assert.ok(county.devices.every((d) => isDeviceId(d.id)));
    assert.equal(new Set(county.devices.map((d) => d.id)).size, county.devices.length);
  });
});

describe('sample county codes', () => {
  it('is Zhashui County, 611026, with its nine real towns and sub-districts', () => {
    const county = sampleCounty();
    assert.equal(SAMPLE_COUNTY_CODE, '611026');
    assert.deepEqual(
      county.towns.map((t) => t.name),
      [
        '乾佑街道',
        '营盘镇',
        '下梁镇',
        '小岭镇',
        '凤凰镇',
        '红岩寺镇',
        '曹坪镇',
        '杏坪镇',
        '瓦房口镇',
      ],
    );
    assert.ok(county.towns.every((t) => t.code.startsWith('611026')));
    assert.ok(county.villages.every((v) => v.code.startsWith('611026')));
    assert.ok(county.devices.every((d) => d.id.includes('-611026')));
  });
});
