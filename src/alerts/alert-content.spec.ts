import assert from 'node:assert/strict';
import { describe, it } from '@jest/globals';
import type { CapInfo } from './cap/cap-model.js';
import { spokenText } from './alert-content.js';

const info = (over: Partial<CapInfo>): CapInfo =>
  ({
    event: '暴雨',
    headline: null,
    description: null,
    instruction: null,
    ...over,
  }) as CapInfo;

describe('spokenText', () => {
  it('speaks headline, description and instruction once each', () => {
    assert.equal(
      spokenText(info({ headline: '暴雨橙色预警', description: '雨量大', instruction: '请转移' })),
      '暴雨橙色预警。雨量大。请转移',
    );
    assert.equal(spokenText(info({ headline: '同一句', description: '同一句' })), '同一句');
  });

  it('falls back to the event, drops control characters, and keeps within the engine’s limit', () => {
    assert.equal(spokenText(info({ description: 'a\u0007b' })), '暴雨。a b');
    assert.equal([...spokenText(info({ description: '很'.repeat(5000) }))].length, 2000);
  });
});
