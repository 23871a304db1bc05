import assert from 'node:assert/strict';
import { describe, it } from '@jest/globals';
import { parseEbur128 } from './audio-analysis.js';

/** What ffmpeg 5.1 prints at the end of `ebur128=peak=true` (per-frame lines at -v verbose only). */
const summary = (i: string, peak: string) =>
  [
    'size=N/A time=00:00:49.50 bitrate=N/A speed= 150x',
    '[Parsed_ebur128_1 @ 0x55c05fd7dc00] Summary:',
    '',
    '  Integrated loudness:',
    `    I:         ${i} LUFS`,
    '    Threshold: -27.1 LUFS',
    '',
    '  Loudness range:',
    '    LRA:         1.9 LU',
    '    Threshold: -37.1 LUFS',
    '    LRA low:   -18.2 LUFS',
    '    LRA high:  -16.3 LUFS',
    '',
    '  True peak:',
    `    Peak:       ${peak} dBFS`,
  ].join('\n');

describe('parseEbur128', () => {
  it('reads the integrated loudness and the true peak, not the range threshold', () => {
    assert.deepEqual(parseEbur128(summary('-17.1', '-1.3')), { integrated: -17.1, truePeak: -1.3 });
  });

  it('reads silence as the filter prints it', () => {
    assert.deepEqual(parseEbur128(summary('-70.0', '-inf')), {
      integrated: -70,
      truePeak: -Infinity,
    });
  });

  it('gives null without a summary or without a true peak', () => {
    assert.equal(parseEbur128('Conversion failed!'), null);
    assert.equal(
      parseEbur128(summary('-17.1', '-1.3').replace(/\n {2}True peak:[\s\S]*/, '')),
      null,
    );
  });
});
