import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, it } from '@jest/globals';
import { CapRefusal } from './cap-model.js';
import { parseCap } from './cap-parse.js';
import { pickInfo } from './cap-language.js';

const fixture = (name: string): Buffer =>
  readFileSync(fileURLToPath(new URL(`../../../../test/fixtures/cap/${name}`, import.meta.url)));

const now = Date.parse('2026-12-02T10:00:00+08:00');
const o = { maxBytes: 262144, now };

describe('parseCap', () => {
  it('reads an Actual Alert into the model, field by field', () => {
    const { alert, xml, doc } = parseCap(fixture('actual-alert.xml'), o);
    assert.equal(alert.identifier, 'ZS-QX-20261202-001');
    assert.equal(alert.sender, 'qxj@611026.cn');
    assert.deepEqual(alert.sent, {
      text: '2026-12-02T08:00:00+08:00',
      ms: Date.UTC(2026, 11, 2, 0, 0, 0),
    });
    assert.deepEqual(
      [alert.status, alert.msgType, alert.scope, alert.references, alert.codes],
      ['Actual', 'Alert', 'Public', [], []],
    );
    assert.equal(alert.infos.length, 1);
    const info = alert.infos[0];
    assert.deepEqual(
      [info.language, info.categories, info.event, info.responseTypes],
      ['zh-CN', ['Met'], '暴雨', ['Prepare']],
    );
    assert.deepEqual(
      [info.urgency, info.severity, info.certainty],
      ['Immediate', 'Severe', 'Likely'],
    );
    assert.equal(info.headline, '柞水县气象台发布暴雨橙色预警');
    assert.equal(info.instruction, '请沿河村民转移到安全地带。');
    assert.equal(info.expires, null);
    assert.equal(info.effective?.ms, Date.UTC(2026, 11, 2, 0, 0, 0));
    assert.deepEqual(info.resources, [
      {
        resourceDesc: '预警音频',
        mimeType: 'audio/mpeg',
        size: 48213,
        uri: 'http://example.invalid/alerts/ZS-QX-20261202-001.mp3',
        derefUri: null,
        digest: '3f786850e387550fdab836ed7e6dc881de23001b',
      },
    ]);
    assert.deepEqual(info.areas, [
      {
        areaDesc: '营盘镇沿河村组',
        polygons: [
          [
            [33.7, 109.1],
            [33.7, 109.2],
            [33.6, 109.2],
            [33.6, 109.1],
            [33.7, 109.1],
          ],
        ],
        circles: [{ lat: 33.65, lon: 109.15, radiusKm: 5 }],
        geocodes: [{ valueName: 'GB/T 2260', value: '611026' }],
      },
    ]);
    assert.ok(xml.startsWith('<?xml'));
    assert.equal(doc.documentElement?.localName, 'alert');
  });

  it('reads every status and msgType of the fixtures', () => {
    const seen = ['update', 'cancel', 'test', 'exercise', 'system', 'draft'].map((name) => {
      const { alert } = parseCap(fixture(`${name}.xml`), {
        ...o,
        now: Date.parse('2026-12-02T12:01:00+08:00'),
      });
      return `${alert.status}/${alert.msgType}/${alert.infos.length}`;
    });
    assert.deepEqual(seen, [
      'Actual/Update/1',
      'Actual/Cancel/0',
      'Test/Alert/1',
      'Exercise/Alert/1',
      'System/Alert/0',
      'Draft/Alert/1',
    ]);
  });

  it('reads references of an Update and a Cancel as sender, identifier, sent', () => {
    const cancel = parseCap(fixture('cancel.xml'), {
      ...o,
      now: Date.parse('2026-12-02T12:01:00+08:00'),
    }).alert;
    assert.deepEqual(cancel.references, [
      {
        sender: 'qxj@611026.cn',
        identifier: 'ZS-QX-20261202-001',
        sent: '2026-12-02T08:00:00+08:00',
      },
      {
        sender: 'qxj@611026.cn',
        identifier: 'ZS-QX-20261202-002',
        sent: '2026-12-02T09:00:00+08:00',
      },
    ]);
    assert.equal(cancel.note, '雨势减弱，解除预警');
    assert.equal(
      parseCap(fixture('update.xml'), o).alert.references[0].identifier,
      'ZS-QX-20261202-001',
    );
  });

  it('reads a bilingual alert and picks its zh-CN block', () => {
    const { alert } = parseCap(fixture('bilingual.xml'), o);
    assert.deepEqual(
      alert.infos.map((i) => i.language),
      ['en-US', 'zh-CN'],
    );
    assert.equal(pickInfo(alert)?.headline, '柞水县气象台发布暴雨橙色预警');
    assert.equal(pickInfo(alert, 'en-us')?.headline, 'Zhashui: orange rainstorm warning');
    assert.equal(alert.infos[1].expires?.text, '2026-12-02T20:00:00+08:00');
  });

  it('reads a GB/T 35965.1 alert with a 12-digit village geocode', () => {
    const { alert } = parseCap(fixture('gbt-identifier.xml'), o);
    assert.equal(alert.identifier, '61102641600000_20261202080000_0');
    assert.deepEqual(alert.infos[0].areas[0].geocodes, [
      { valueName: '行政区划代码', value: '611026101201' },
    ]);
  });

  it('refuses the XXE, billion-laughs and schema-violation fixtures, naming the rule', () => {
    const rules = ['xxe', 'billion-laughs', 'schema-violation'].map((name) => {
      try {
        parseCap(fixture(`${name}.xml`), o);
        return 'accepted';
      } catch (error) {
        assert.ok(error instanceof CapRefusal);
        return `${error.rule}: ${error.message}`;
      }
    });
    assert.deepEqual(rules, [
      'xml.doctype: XML with a DOCTYPE is refused (no DTDs)',
      'xml.doctype: XML with a DOCTYPE is refused (no DTDs)',
      'cap.schema: alert/info[1]/urgency: "Soon" is not one of Immediate, Expected, Future, Past, Unknown',
    ]);
  });

  it('gives an info without language CAP’s default, en-US', () => {
    const xml = fixture('test.xml')
      .toString('utf8')
      .replace(/<language>[^<]*<\/language>/, '');
    assert.equal(parseCap(xml, o).alert.infos[0].language, 'en-US');
  });

  it('counts the size limit against the whole message', () => {
    const input = fixture('actual-alert.xml');
    assert.throws(
      () => parseCap(input, { ...o, maxBytes: input.length - 1 }),
      (e: unknown) => e instanceof CapRefusal && e.rule === 'xml.too-large',
    );
  });
});
