import assert from 'node:assert/strict';
import { describe, it } from '@jest/globals';
import { ValidationFailedError } from './domain-error.js';
import { parsePeriod } from './period.js';

const DAY = 86_400_000;
const now = Date.parse('2026-12-02T04:00:00Z');
const o = { now, timeZone: 'Asia/Shanghai', defaultSpanMs: DAY, what: 'A log' };

function refusal(query: { from?: string; to?: string }): {
  field: string;
  rule: string;
  message: string;
} {
  try {
    parsePeriod(query, o);
  } catch (err) {
    assert.ok(err instanceof ValidationFailedError);
    return err.problems[0] as { field: string; rule: string; message: string };
  }
  assert.fail('no refusal');
}

describe('a period query', () => {
  it('defaults to the span before now, and reads days in its zone with `to` included', () => {
    assert.deepEqual(parsePeriod({}, o), { from: now - DAY, to: now });
    assert.deepEqual(parsePeriod({ from: '2026-11-01', to: '2026-11-30' }, o), {
      from: Date.parse('2026-10-31T16:00:00Z'),
      to: Date.parse('2026-11-30T16:00:00Z'),
    });
  });

  it('names the field and the rule of a bound it cannot use', () => {
    assert.deepEqual(
      [refusal({ to: 'tomorrow' }), refusal({ from: '2026-11-01T00:00' })].map((p) => [
        p.field,
        p.rule,
      ]),
      [
        ['to', 'dayOrInstant'],
        ['from', 'dayOrInstant'],
      ],
    );
    assert.equal(refusal({ from: '2026-11-02', to: '2026-11-01' }).rule, 'beforeTo');
    const tooLong = refusal({ from: '2024-01-01', to: '2026-01-01' });
    assert.equal(tooLong.rule, 'maxSpan');
    assert.match(tooLong.message, /^A log spans at most 367 days/);
  });
});
