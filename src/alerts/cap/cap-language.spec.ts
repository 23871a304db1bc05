import assert from 'node:assert/strict';
import { describe, it } from '@jest/globals';
import { CapAlert, CapInfo } from './cap-model.js';
import { pickInfo, pickInfoFor } from './cap-language.js';

function info(language: string): CapInfo {
  return {
    language,
    categories: ['Met'],
    event: language,
    responseTypes: [],
    urgency: 'Immediate',
    severity: 'Severe',
    certainty: 'Likely',
    eventCodes: [],
    effective: null,
    onset: null,
    expires: null,
    senderName: null,
    headline: null,
    description: null,
    instruction: null,
    web: null,
    contact: null,
    parameters: [],
    resources: [],
    areas: [],
  };
}

function alertIn(...languages: string[]): CapAlert {
  return {
    identifier: 'x',
    sender: 's',
    sent: { text: '2026-12-02T08:00:00+08:00', ms: 0 },
    status: 'Actual',
    msgType: 'Alert',
    source: null,
    scope: 'Public',
    restriction: null,
    addresses: null,
    codes: [],
    note: null,
    references: [],
    incidents: null,
    infos: languages.map(info),
  };
}

const picked = (alert: CapAlert, station?: string) => pickInfo(alert, station)?.language ?? null;

describe('pickInfo', () => {
  it('takes the station language exactly, whatever the case, before any other Chinese', () => {
    assert.equal(picked(alertIn('en-US', 'zh-TW', 'zh-cn')), 'zh-cn');
    assert.equal(picked(alertIn('en-US', 'zh-TW', 'zh-CN'), 'zh-TW'), 'zh-TW');
  });

  it('falls back to any Chinese, then to the first block', () => {
    assert.equal(picked(alertIn('en-US', 'zh-Hant-HK', 'zh')), 'zh-Hant-HK');
    assert.equal(picked(alertIn('en-US', 'zh')), 'zh');
    assert.equal(picked(alertIn('en-US', 'fr-FR')), 'en-US');
    // `zha` (Zhuang) is not Chinese.
    assert.equal(picked(alertIn('fr-FR', 'zha')), 'fr-FR');
  });

  it('answers null for an alert without info', () => {
    assert.equal(pickInfo(alertIn()), null);
  });
});

describe('pickInfoFor', () => {
  const block = (language: string, over: Partial<CapInfo>): CapInfo => ({
    ...info(language),
    ...over,
  });
  const ours = (i: CapInfo) => i.event.startsWith('ours');

  it('takes the block of the station language that touches this county, the most severe of them', () => {
    const alert = alertIn();
    alert.infos = [
      block('zh-CN', { event: 'other county', severity: 'Extreme' }),
      block('zh-CN', { event: 'ours minor', severity: 'Minor' }),
      block('en-US', { event: 'ours in English', severity: 'Extreme' }),
      block('zh-CN', { event: 'ours severe', severity: 'Severe' }),
      block('zh-CN', { event: 'ours severe too', severity: 'Severe' }),
    ];
    assert.equal(pickInfoFor(alert, 'zh-CN', ours)?.event, 'ours severe');
  });

  it('keeps language the first filter, and falls back to the first block of it', () => {
    const alert = alertIn();
    alert.infos = [
      block('en-US', { event: 'ours in English' }),
      block('zh-CN', { event: 'elsewhere' }),
      block('zh-CN', { event: 'elsewhere too' }),
    ];
    assert.equal(pickInfoFor(alert, 'zh-CN', ours)?.event, 'elsewhere');
    assert.equal(pickInfoFor(alertIn(), 'zh-CN', ours), null);
  });
});
