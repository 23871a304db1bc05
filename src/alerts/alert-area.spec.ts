import assert from 'node:assert/strict';
import { describe, it } from '@jest/globals';
import type { CapArea } from './cap/cap-model.js';
import {
  adminPrefix,
  AreaVillage,
  countyBox,
  haversineKm,
  matchArea,
  pointInPolygon,
  targetOf,
} from './alert-area.js';
import { isAdminGeocodeName, mapAlert, mayAutoSend } from './alert-mapping.js';

/** Two towns of county 611026: three villages on a line of latitude 0.1° apart, one without a place. */
const VILLAGES: AreaVillage[] = [
  { code: '611026001201', townCode: '611026001', lat: 33.5, lon: 109.0 },
  { code: '611026001202', townCode: '611026001', lat: 33.5, lon: 109.1 },
  { code: '611026100201', townCode: '611026100', lat: 33.5, lon: 109.2 },
  { code: '611026100202', townCode: '611026100', lat: null, lon: null },
];

const area = (over: Partial<CapArea>): CapArea => ({
  areaDesc: '测试区域',
  polygons: [],
  circles: [],
  geocodes: [],
  ...over,
});

const square = (lat: number, lon: number, d: number): [number, number][] => [
  [lat - d, lon - d],
  [lat - d, lon + d],
  [lat + d, lon + d],
  [lat + d, lon - d],
  [lat - d, lon - d],
];

describe('matchArea', () => {
  it('takes 6-, 9- and 12-digit administrative codes, and zero-padded ones, as prefixes', () => {
    const geo = (value: string, valueName = 'GB/T 2260') =>
      matchArea([area({ geocodes: [{ valueName, value }] })], VILLAGES);
    assert.deepEqual(geo('611026'), { ok: true, villages: VILLAGES.map((v) => v.code) });
    assert.deepEqual(geo('611026000000', '行政区划代码'), geo('611026'));
    assert.deepEqual(geo('611026100', 'areaCode'), {
      ok: true,
      villages: ['611026100201', '611026100202'],
    });
    assert.deepEqual(geo('611026100000', 'ADCODE'), geo('611026100'));
    assert.deepEqual(geo('611026001202', 'AdminCode'), { ok: true, villages: ['611026001202'] });
  });

  it('refuses another county’s code as outside, and an unknown village of this one as no village', () => {
    const other = matchArea(
      [area({ geocodes: [{ valueName: 'GB/T 2260', value: '610102' }] })],
      VILLAGES,
    );
    assert.equal(other.ok || other.rule, 'area.outside-county');
    const none = matchArea(
      [area({ geocodes: [{ valueName: 'GB/T 2260', value: '611026999999' }] })],
      VILLAGES,
    );
    assert.equal(none.ok || none.rule, 'area.no-village');
  });

  it('ignores geocodes under names that are not administrative codes', () => {
    const r = matchArea([area({ geocodes: [{ valueName: 'SAME', value: '611026' }] })], VILLAGES);
    assert.equal(r.ok || r.rule, 'area.outside-county');
  });

  it('matches villages inside a polygon by their coordinates', () => {
    const r = matchArea([area({ polygons: [square(33.5, 109.05, 0.07)] })], VILLAGES);
    assert.deepEqual(r, { ok: true, villages: ['611026001201', '611026001202'] });
  });

  it('matches villages within a circle by great-circle distance', () => {
    // 0.1° of longitude at 33.5° N is about 9.27 km.
    const near = matchArea([area({ circles: [{ lat: 33.5, lon: 109.2, radiusKm: 9 }] })], VILLAGES);
    assert.deepEqual(near, { ok: true, villages: ['611026100201'] });
    const wider = matchArea(
      [area({ circles: [{ lat: 33.5, lon: 109.2, radiusKm: 9.5 }] })],
      VILLAGES,
    );
    assert.deepEqual(wider, { ok: true, villages: ['611026001202', '611026100201'] });
  });

  it('refuses a shape outside the county’s box, and one inside it that misses every village', () => {
    const far = matchArea([area({ polygons: [square(39.9, 116.4, 0.1)] })], VILLAGES);
    assert.equal(far.ok || far.rule, 'area.outside-county');
    const between = matchArea(
      [area({ circles: [{ lat: 33.53, lon: 109.15, radiusKm: 1 }] })],
      VILLAGES,
    );
    assert.equal(between.ok || between.rule, 'area.no-village');
  });

  it('refuses an area it cannot place at all', () => {
    const r = matchArea([area({})], VILLAGES);
    assert.equal(r.ok || r.rule, 'area.outside-county');
  });
});

describe('area helpers', () => {
  it('builds the county box from the villages plus a margin', () => {
    assert.deepEqual(countyBox(VILLAGES), {
      minLat: 33.45,
      maxLat: 33.55,
      minLon: 108.95,
      maxLon: 109.25,
    });
    assert.equal(countyBox([VILLAGES[3]]), null);
  });

  it('reads administrative codes', () => {
    assert.equal(adminPrefix('611026'), '611026');
    assert.equal(adminPrefix('611026000000'), '611026');
    assert.equal(adminPrefix('611026001000'), '611026001');
    assert.equal(adminPrefix('61102600'), null);
    assert.equal(adminPrefix('abc'), null);
    assert.equal(adminPrefix('611000'), '6110');
    assert.equal(adminPrefix('611000000000'), '6110');
    assert.equal(adminPrefix('610000'), '61');
    assert.equal(adminPrefix('610000000000'), '61');
    assert.equal(adminPrefix('611026000'), '611026');
    assert.equal(adminPrefix('000000'), null);
  });

  it('takes the city or province the county lies in as the whole county, and refuses others', () => {
    const all = { ok: true, villages: VILLAGES.map((v) => v.code) };
    const geo = (value: string) =>
      matchArea([area({ geocodes: [{ valueName: 'GB/T 2260', value }] })], VILLAGES);
    for (const ours of ['611000', '611000000000', '610000', '610000000000'])
      assert.deepEqual(geo(ours), all, ours);
    for (const other of ['610100', '610100000000', '620000', '620000000000', '611100']) {
      const r = geo(other);
      assert.equal(r.ok || r.rule, 'area.outside-county', other);
    }
  });

  it('tells inside from outside and measures distances', () => {
    assert.equal(pointInPolygon(33.5, 109, square(33.5, 109, 0.01)), true);
    assert.equal(pointInPolygon(33.52, 109, square(33.5, 109, 0.01)), false);
    assert.ok(Math.abs(haversineKm(0, 0, 0, 1) - 111.195) < 0.01);
  });

  it('names whole towns by their code, the rest by village, everything as all', () => {
    assert.deepEqual(
      targetOf(
        VILLAGES.map((v) => v.code),
        VILLAGES,
      ),
      { all: true },
    );
    assert.deepEqual(targetOf(['611026100201', '611026100202', '611026001201'], VILLAGES), {
      towns: ['611026100'],
      villages: ['611026001201'],
    });
  });
});

describe('alert mapping', () => {
  it('maps severity to level only for Actual alerts; drills and tests never take an emergency level', () => {
    assert.equal(mapAlert('Actual', 'Alert', 'Extreme').level, 'I');
    assert.equal(mapAlert('Actual', 'Alert', 'Severe').level, 'II');
    assert.equal(mapAlert('Actual', 'Alert', 'Moderate').level, 'III');
    assert.equal(mapAlert('Actual', 'Alert', 'Minor').level, 'IV');
    assert.equal(mapAlert('Actual', 'Alert', 'Unknown').level, null);
    const drill = mapAlert('Exercise', 'Alert', 'Extreme');
    assert.deepEqual(
      [drill.level, drill.titlePrefix, drill.attentionTone],
      ['routine', '【演练】', false],
    );
    const test = mapAlert('Test', 'Update', 'Extreme');
    assert.deepEqual(
      [test.level, test.titlePrefix, test.msgAction],
      ['test', '【测试】', 'replace'],
    );
    assert.equal(mapAlert('System', 'Alert', 'Extreme').action, 'record');
    assert.equal(mapAlert('Draft', 'Alert', 'Extreme').action, 'record');
    assert.equal(mapAlert('Actual', 'Ack', 'Extreme').msgAction, 'record');
    assert.equal(mapAlert('Actual', 'Cancel', 'Extreme').msgAction, 'cancel');
  });

  it('lets urgency and certainty, not the level, decide whether a trusted sender goes out alone', () => {
    const ok = {
      severity: 'Severe' as const,
      urgency: 'Immediate' as const,
      certainty: 'Observed' as const,
    };
    assert.equal(mayAutoSend(['Severe'], ok), true);
    assert.equal(mayAutoSend(['Extreme'], ok), false);
    assert.equal(mayAutoSend(['Severe'], { ...ok, urgency: 'Future' }), false);
    assert.equal(mayAutoSend(['Severe'], { ...ok, certainty: 'Possible' }), false);
  });

  it('accepts the administrative geocode names feeds use, in any spelling', () => {
    for (const name of [
      'GB/T 2260',
      'gbt2260',
      'GB/T 2260-2020',
      '行政区划代码',
      'adcode',
      'AreaCode',
    ])
      assert.equal(isAdminGeocodeName(name), true, name);
    assert.equal(isAdminGeocodeName('SAME'), false);
  });
});
