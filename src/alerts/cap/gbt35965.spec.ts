import assert from 'node:assert/strict';
import { describe, it } from '@jest/globals';
import { makeGbtIdentifier, parseGbtIdentifier } from './gbt35965.js';

describe('GB/T 35965.1 identifiers', () => {
  it('reads the issuing unit, the entry time as Beijing time and the sequence', () => {
    assert.deepEqual(parseGbtIdentifier('61102641600000_20261202080000_0'), {
      areaCode: '611026',
      unitCode: '41600000',
      senderCode: '61102641600000',
      institutionCode: '416',
      time: new Date('2026-12-02T00:00:00.000Z'),
      sequence: 0,
    });
    assert.equal(
      parseGbtIdentifier('11000041601002_20261231235959_9')?.time.toISOString(),
      '2026-12-31T15:59:59.000Z',
    );
  });

  it('answers null for anything else, including impossible dates', () => {
    for (const id of [
      'ZS-QX-20261202-001',
      '61102641600000_20261202080000_10', // 32 characters: N is one digit
      '6110264160000_20261202080000_0', // 13-digit unit
      '61102641600000-20261202080000-0',
      '61102641600000_20260230080000_0', // 30 February
      '61102641600000_20261202240000_0',
      ' 61102641600000_20261202080000_0',
      '61102641600000_20261202080000_0\n',
    ]) {
      assert.equal(parseGbtIdentifier(id), null, id);
    }
  });

  it('makes a 31-character identifier in Beijing time that reads back the same', () => {
    const at = new Date('2026-12-02T17:30:05.900Z'); // 01:30:05 on 3 December in Beijing
    const id = makeGbtIdentifier({ areaCode6: '611026', unitCode8: '41600000', at, sequence: 3 });
    assert.equal(id, '61102641600000_20261203013005_3');
    assert.equal(id.length, 31);
    const back = parseGbtIdentifier(id);
    assert.equal(back?.time.toISOString(), '2026-12-02T17:30:05.000Z');
    assert.equal(back?.sequence, 3);
  });

  it('writes zeros for a station without a unit code', () => {
    assert.equal(
      makeGbtIdentifier({ areaCode6: '611026', at: new Date('2026-12-02T00:00:00Z'), sequence: 0 }),
      '61102600000000_20261202080000_0',
    );
  });

  it('refuses parts that would not make an identifier', () => {
    const at = new Date('2026-12-02T00:00:00Z');
    assert.throws(
      () => makeGbtIdentifier({ areaCode6: '61102', at, sequence: 0 }),
      /areaCode6 must be 6 digits/,
    );
    assert.throws(
      () => makeGbtIdentifier({ areaCode6: '611026', unitCode8: '416', at, sequence: 0 }),
      /unitCode8/,
    );
    assert.throws(
      () => makeGbtIdentifier({ areaCode6: '611026', at, sequence: 10 }),
      /sequence must be 0–9/,
    );
    assert.throws(() => makeGbtIdentifier({ areaCode6: '611026', at, sequence: 1.5 }), /sequence/);
    assert.throws(
      () => makeGbtIdentifier({ areaCode6: '611026', at: new Date('x'), sequence: 0 }),
      /not a valid date/,
    );
  });
});
