import assert from 'node:assert/strict';
import { describe, it } from '@jest/globals';
import { FAILURE_REASONS, failureCode, failureMessage } from './failure-reasons.js';

describe('failure reason codes', () => {
  it('reads the code from the reference agent’s and the server’s own reasons', () => {
    const cases: [string | null, string][] = [
      ['download failed: HTTP 404', 'download_failed'],
      ['Download failed: simulated network fault', 'download_failed'],
      ['sha256 mismatch', 'checksum_mismatch'],
      ['codec opus not supported', 'codec_unsupported'],
      ['expired before it arrived', 'expired_before_arrival'],
      ['expired before it could play', 'expired_before_play'],
      ['expired while waiting for the speaker', 'expired_before_play'],
      ['stopped', 'stopped'],
      ['power lost', 'power_lost'],
      ['no answer after 3 sends', 'no_answer'],
      ['interrupted 4 times by more urgent broadcasts; not resumed again', 'interrupted'],
      ['amplifier on fire', 'other'],
      ['', 'other'],
      [null, 'other'],
    ];
    for (const [reason, code] of cases) assert.equal(failureCode(reason), code, String(reason));
  });

  it('takes the code itself at the start of a reason, but not a longer word', () => {
    assert.equal(failureCode('checksum_mismatch: got 3f2a…'), 'checksum_mismatch');
    assert.equal(failureCode('power_lost'), 'power_lost');
    assert.equal(failureCode('stoppedness'), 'stopped', 'the phrase `stopped` still begins it');
    assert.equal(failureCode('no_answerx'), 'other');
  });

  it('has a Chinese and an English message for every code, codes unique', () => {
    const codes = FAILURE_REASONS.map((r) => r.code);
    assert.equal(new Set(codes).size, codes.length);
    for (const r of FAILURE_REASONS) {
      assert.match(failureMessage(r.code, 'zh'), /[\u4e00-\u9fff]/, r.code);
      assert.ok(failureMessage(r.code, 'en').length > 0);
    }
  });
});
