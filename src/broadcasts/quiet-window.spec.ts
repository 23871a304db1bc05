import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { endOfQuiet, minuteOfDay } from './quiet-window.js';

const shanghai = (iso: string) => Date.parse(`${iso}+08:00`);

describe('quiet hours in a time zone', () => {
  it('reads local time', () => {
    assert.equal(minuteOfDay(shanghai('2026-11-28T22:30:00'), 'Asia/Shanghai'), 22 * 60 + 30);
  });

  it('holds until the window ends, across midnight', () => {
    assert.equal(
      endOfQuiet(shanghai('2026-11-28T23:10:00'), '22:00-06:00', 'Asia/Shanghai'),
      shanghai('2026-11-29T06:00:00'),
    );
    assert.equal(
      endOfQuiet(shanghai('2026-11-28T05:59:30'), '22:00-06:00', 'Asia/Shanghai'),
      shanghai('2026-11-28T06:00:00'),
    );
  });

  it('does not hold outside the window or without quiet hours', () => {
    const noon = shanghai('2026-11-28T12:00:00');
    assert.equal(endOfQuiet(noon, '22:00-06:00', 'Asia/Shanghai'), noon);
    assert.equal(endOfQuiet(noon, null, 'Asia/Shanghai'), noon);
  });
});
