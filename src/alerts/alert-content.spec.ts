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

  it('says a drill is a drill and a test is a test, before and after the text', () => {
    const i = info({ headline: '暴雨橙色预警', description: '雨量大' });
    assert.equal(spokenText(i, 'broadcast'), '暴雨橙色预警。雨量大');
    assert.equal(spokenText(i, 'drill'), '演练，演练。暴雨橙色预警。雨量大（本次为演练）');
    assert.equal(spokenText(i, 'test'), '测试，测试。暴雨橙色预警。雨量大（本次为测试）');
    // A long text is cut, never the words that say it is not real.
    const long = [...spokenText(info({ description: '很'.repeat(5000) }), 'drill')];
    assert.equal(long.length, 2000);
    assert.equal(long.slice(-7).join(''), '（本次为演练）');
  });
});
