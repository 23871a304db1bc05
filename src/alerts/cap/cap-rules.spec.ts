import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, it } from '@jest/globals';
import { CapRefusal } from './cap-model.js';
import { CAP_REFUSAL_RULES, parseCap } from './cap-parse.js';
import { CAP_RULES } from './cap-rules.js';

const read = (name: string): string =>
  readFileSync(
    fileURLToPath(new URL(`../../../../test/fixtures/cap/${name}`, import.meta.url)),
    'utf8',
  );
const base = read('actual-alert.xml');
const now = Date.parse('2026-12-02T10:00:00+08:00');

/** `rule: message` of the refusal, or `accepted`. */
function outcome(xml: string, at = now): string {
  try {
    parseCap(xml, { maxBytes: 1 << 20, now: at });
    return 'accepted';
  } catch (error) {
    assert.ok(error instanceof CapRefusal, String(error));
    assert.ok(CAP_REFUSAL_RULES.includes(error.rule as never), `${error.rule} is listed`);
    return `${error.rule}: ${error.message}`;
  }
}
const ruleOf = (xml: string, at = now): string => outcome(xml, at).split(':')[0];
const withTop = (element: string) => base.replace('</scope>\n', `</scope>\n  ${element}\n`);

describe('CAP rules the schema does not catch', () => {
  it('lists every rule once: 6 of safe XML, the schema, 13 of CAP (each tested below)', () => {
    assert.equal(Object.keys(CAP_RULES).length, 13);
    assert.equal(new Set(CAP_REFUSAL_RULES).size, CAP_REFUSAL_RULES.length);
    assert.equal(CAP_REFUSAL_RULES.length, 20);
    assert.ok(
      CAP_REFUSAL_RULES.includes('xml.doctype') && CAP_REFUSAL_RULES.includes('cap.schema'),
    );
  });

  it('cap.references-required: Update, Cancel, Ack and Error must reference', () => {
    for (const msgType of ['Update', 'Cancel', 'Ack', 'Error']) {
      assert.equal(
        outcome(base.replace('<msgType>Alert</msgType>', `<msgType>${msgType}</msgType>`)),
        `cap.references-required: a ${msgType} must name the messages it refers to in <references>`,
      );
    }
    assert.equal(ruleOf(read('update.xml')), 'accepted');
  });

  it('cap.references-format: sender,identifier,sent triples with a CAP time', () => {
    assert.equal(
      ruleOf(withTop('<references>qxj@611026.cn,ZS-1</references>')),
      'cap.references-format',
    );
    assert.equal(ruleOf(withTop('<references>a,b,c,d</references>')), 'cap.references-format');
    assert.equal(
      ruleOf(withTop('<references>,ZS-1,2026-12-02T08:00:00+08:00</references>')),
      'cap.references-format',
    );
    assert.match(
      outcome(withTop('<references>a,ZS-1,2026-12-02T00:00:00Z</references>')),
      /^cap\.references-format: "a,ZS-1,2026-12-02T00:00:00Z": the sent time is not a CAP date-time/,
    );
    assert.equal(
      ruleOf(
        withTop(
          '<references>\n   a,ZS-1,2026-12-02T08:00:00+08:00\n   a,ZS-2,2026-12-02T09:00:00+08:00\n</references>',
        ),
      ),
      'accepted',
    );
  });

  it('cap.restriction-required and cap.addresses-required follow the scope', () => {
    assert.equal(
      ruleOf(base.replace('<scope>Public</scope>', '<scope>Restricted</scope>')),
      'cap.restriction-required',
    );
    assert.equal(
      ruleOf(
        base.replace(
          '<scope>Public</scope>',
          '<scope>Restricted</scope>\n  <restriction>县应急局</restriction>',
        ),
      ),
      'accepted',
    );
    assert.equal(
      ruleOf(base.replace('<scope>Public</scope>', '<scope>Private</scope>')),
      'cap.addresses-required',
    );
    assert.equal(
      ruleOf(
        base.replace(
          '<scope>Public</scope>',
          '<scope>Private</scope>\n  <addresses>yjj@611026.cn</addresses>',
        ),
      ),
      'accepted',
    );
  });

  it('cap.info-required: an Alert or Update without info, except a System message', () => {
    const bare = base.replace(/<info>[\s\S]*<\/info>\n/, '');
    assert.equal(outcome(bare), 'cap.info-required: an Alert needs at least one <info>');
    assert.equal(
      ruleOf(bare.replace('<status>Actual</status>', '<status>System</status>')),
      'accepted',
    );
    assert.equal(ruleOf(read('cancel.xml'), Date.parse('2026-12-02T12:00:00+08:00')), 'accepted');
  });

  it('cap.identifier and cap.sender: no spaces, commas, < or &', () => {
    for (const bad of ['ZS 001', 'ZS,001', 'ZS&lt;001', 'ZS&amp;001']) {
      assert.equal(
        ruleOf(base.replace('<identifier>ZS-QX-20261202-001', `<identifier>${bad}`)),
        'cap.identifier',
        bad,
      );
      assert.equal(
        ruleOf(base.replace('<sender>qxj@611026.cn', `<sender>${bad}`)),
        'cap.sender',
        bad,
      );
    }
    assert.equal(ruleOf(base.replace(/<identifier>[^<]*</, '<identifier><')), 'cap.identifier');
  });

  it('cap.expired: only when every info has expired', () => {
    const bilingual = read('bilingual.xml');
    assert.equal(ruleOf(bilingual, Date.parse('2026-12-02T19:59:59+08:00')), 'accepted');
    assert.match(
      outcome(bilingual, Date.parse('2026-12-02T20:00:00+08:00')),
      /^cap\.expired: every <info> has expired \(latest 2026-12-02T12:00:00\.000Z\)$/,
    );
    const oneOpen = bilingual.replace('<expires>2026-12-02T20:00:00+08:00</expires>\n', '');
    assert.equal(ruleOf(oneOpen, Date.parse('2026-12-03T00:00:00+08:00')), 'accepted');
  });

  it('cap.sent-in-future: more than 5 minutes ahead of now', () => {
    const sent = Date.parse('2026-12-02T08:00:00+08:00');
    assert.equal(ruleOf(base, sent - 5 * 60_000), 'accepted');
    assert.equal(ruleOf(base, sent - 5 * 60_000 - 1), 'cap.sent-in-future');
  });

  it('cap.polygon: at least 4 pairs, closed, within range', () => {
    const poly = (value: string) =>
      base.replace(/<polygon>[^<]*<\/polygon>/, `<polygon>${value}</polygon>`);
    assert.equal(
      outcome(poly('33.7,109.1 33.7,109.2 33.7,109.1')),
      'cap.polygon: alert/info[1]/area[1]/polygon[1]: 3 pairs; a polygon needs at least 4',
    );
    assert.equal(
      outcome(poly('33.7,109.1 33.7,109.2 33.6,109.2 33.6,109.1')),
      'cap.polygon: alert/info[1]/area[1]/polygon[1]: not closed (the first pair must equal the last)',
    );
    assert.equal(ruleOf(poly('93.7,109.1 33.7,109.2 33.6,109.2 93.7,109.1')), 'cap.polygon');
    assert.equal(ruleOf(poly('33.7,189.1 33.7,109.2 33.6,109.2 33.7,189.1')), 'cap.polygon');
    assert.equal(ruleOf(poly('33.7;109.1 33.7,109.2 33.6,109.2 33.7;109.1')), 'cap.polygon');
    assert.equal(ruleOf(poly('-33.7,-109.1 -33.7,109.2 33.6,109.2 -33.7,-109.1')), 'accepted');
  });

  it('cap.circle: "lat,lon radius" with a radius in km', () => {
    const circle = (value: string) =>
      base.replace(/<circle>[^<]*<\/circle>/, `<circle>${value}</circle>`);
    assert.equal(
      outcome(circle('33.65,109.15')),
      'cap.circle: alert/info[1]/area[1]/circle[1]: "33.65,109.15": a circle is "lat,lon radius" with the radius in km, ≥ 0',
    );
    assert.equal(ruleOf(circle('33.65,109.15 -1')), 'cap.circle');
    assert.equal(ruleOf(circle('133.65,109.15 1')), 'cap.circle');
    assert.equal(ruleOf(circle('33.65,109.15 0')), 'accepted');
  });

  it('cap.resource: a 40-hex SHA-1 digest and a byte-count size', () => {
    assert.equal(
      outcome(base.replace(/<digest>[^<]*</, '<digest>abc<')),
      'cap.resource: alert/info[1]/resource[1]/digest: "abc" is not a SHA-1 in hex (40 characters)',
    );
    const sha256 = 'a'.repeat(64);
    assert.equal(ruleOf(base.replace(/<digest>[^<]*</, `<digest>${sha256}<`)), 'cap.resource');
    assert.equal(ruleOf(base.replace('<size>48213</size>', '<size>-1</size>')), 'cap.resource');
    assert.equal(
      ruleOf(base.replace('<size>48213</size>', '<size>99999999999999999999</size>')),
      'cap.resource',
    );
  });
});
