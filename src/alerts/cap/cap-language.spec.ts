import assert from 'node:assert/strict';
import { describe, it } from '@jest/globals';
import { CapAlert, CapInfo } from './cap-model.js';
import { pickInfo } from './cap-language.js';

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
