import assert from 'node:assert/strict';
import { describe, it } from '@jest/globals';
import { normalisePhone } from './staff.service.js';

describe('normalisePhone', () => {
  it('writes one Chinese mobile number one way, however it was typed', () => {
    for (const typed of [
      '13800138000',
      '138-0013-8000',
      '+86 138 0013 8000',
      '0086 13800138000',
      '8613800138000',
      ' (138) 0013 8000 ',
    ])
      assert.equal(normalisePhone(typed), '13800138000', typed);
  });

  it('keeps other countries apart and treats nothing as no phone', () => {
    assert.equal(normalisePhone('+852 6123 4567'), '+85261234567');
    assert.equal(normalisePhone('00852 6123 4567'), '+85261234567');
    assert.equal(normalisePhone('0915-1234567'), '09151234567');
    assert.equal(normalisePhone(''), null);
    assert.equal(normalisePhone('--'), null);
    assert.equal(normalisePhone(null), null);
  });
});
