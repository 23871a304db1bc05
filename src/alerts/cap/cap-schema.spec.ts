import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, it } from '@jest/globals';
import {
  CAP_CERTAINTIES,
  CAP_MSG_TYPES,
  CAP_SCOPES,
  CAP_SEVERITIES,
  CAP_STATUSES,
  CAP_URGENCIES,
  CapRefusal,
} from './cap-model.js';
import { CAP_SCHEMA, validateCapSchema } from './cap-schema.js';
import { parseXmlSafely } from './safe-xml.js';

const base = readFileSync(
  fileURLToPath(new URL('../../../../test/fixtures/cap/actual-alert.xml', import.meta.url)),
  'utf8',
);

/** `rule: message` of the refusal of `xml`, or `valid`. */
function check(xml: string): string {
  try {
    validateCapSchema(parseXmlSafely(xml, { maxBytes: 1 << 20 }));
    return 'valid';
  } catch (error) {
    assert.ok(error instanceof CapRefusal);
    return `${error.rule}: ${error.message}`;
  }
}

describe('CAP_SCHEMA', () => {
  it('keeps the enumerations of the model and of the XSD in one place', () => {
    const enumOf = (type: string, name: string) => {
      const particle = CAP_SCHEMA[type as keyof typeof CAP_SCHEMA].find((p) => p.name === name);
      assert.ok(particle && typeof particle.type === 'object', `${type}/${name} is an enumeration`);
      return particle.type.enumeration;
    };
    assert.equal(enumOf('alert', 'status'), CAP_STATUSES);
    assert.equal(enumOf('alert', 'msgType'), CAP_MSG_TYPES);
    assert.equal(enumOf('alert', 'scope'), CAP_SCOPES);
    assert.equal(enumOf('info', 'urgency'), CAP_URGENCIES);
    assert.equal(enumOf('info', 'severity'), CAP_SEVERITIES);
    assert.equal(enumOf('info', 'certainty'), CAP_CERTAINTIES);
    assert.deepEqual(
      CAP_SCHEMA.alert.filter((p) => p.min === 1).map((p) => p.name),
      ['identifier', 'sender', 'sent', 'status', 'msgType', 'scope'],
    );
  });
});

describe('validateCapSchema', () => {
  it('accepts the fixture alert', () => {
    assert.equal(check(base), 'valid');
  });

  it('refuses a missing required element, naming its path', () => {
    assert.equal(
      check(base.replace(/<scope>.*<\/scope>/, '')),
      'cap.schema: alert/scope: required element <scope> is missing',
    );
    assert.equal(
      check(base.replace(/<event>.*<\/event>/, '')),
      'cap.schema: alert/info[1]/event: required element <event> is missing',
    );
    assert.equal(
      check(base.replace(/<areaDesc>.*<\/areaDesc>/, '')),
      'cap.schema: alert/info[1]/area[1]/areaDesc: required element <areaDesc> is missing',
    );
  });

  it('refuses elements out of the XSD order, repeated, or unknown', () => {
    assert.match(
      check(
        base.replace(
          '<status>Actual</status>\n  <msgType>Alert</msgType>',
          '<msgType>Alert</msgType><status>Actual</status>',
        ),
      ),
      /^cap\.schema: alert\/status: <status> is out of order/,
    );
    assert.equal(
      check(base.replace('<scope>Public</scope>', '<scope>Public</scope><scope>Public</scope>')),
      'cap.schema: alert/scope: <scope> may appear only once',
    );
    assert.equal(
      check(base.replace('<scope>Public</scope>', '<scope>Public</scope><colour>red</colour>')),
      'cap.schema: alert/colour: unknown element <colour> in urn:oasis:names:tc:emergency:cap:1.2',
    );
    assert.match(
      check(
        base.replace(
          '<scope>Public</scope>',
          '<scope>Public</scope><x:y xmlns:x="urn:other">1</x:y>',
        ),
      ),
      /^cap\.schema: alert\/x:y: unknown element <x:y> in urn:other$/,
    );
  });

  it('refuses values outside an enumeration, non-integers and non-decimals', () => {
    assert.equal(
      check(base.replace('<status>Actual</status>', '<status>actual</status>')),
      'cap.schema: alert/status: "actual" is not one of Actual, Exercise, System, Test, Draft',
    );
    assert.equal(
      check(base.replace('<category>Met</category>', '<category>Weather</category>')),
      'cap.schema: alert/info[1]/category[1]: "Weather" is not one of Geo, Met, Safety, Security, Rescue, Fire, Health, Env, Transport, Infra, CBRNE, Other',
    );
    assert.equal(
      check(base.replace('<size>48213</size>', '<size>48 kB</size>')),
      'cap.schema: alert/info[1]/resource[1]/size: "48 kB" is not an integer',
    );
    assert.equal(
      check(
        base.replace(
          '</geocode>\n    </area>',
          '</geocode>\n      <altitude>high</altitude>\n    </area>',
        ),
      ),
      'cap.schema: alert/info[1]/area[1]/altitude: "high" is not a decimal',
    );
    assert.equal(
      check(
        base.replace(
          '</geocode>\n    </area>',
          '</geocode>\n      <altitude>-12.5</altitude>\n    </area>',
        ),
      ),
      'valid',
    );
  });

  it('refuses times without an offset under cap.time-offset, and non-times under cap.schema', () => {
    const sent = (value: string) =>
      check(base.replace('<sent>2026-12-02T08:00:00+08:00</sent>', `<sent>${value}</sent>`));
    assert.match(
      sent('2026-12-02T00:00:00Z'),
      /^cap\.time-offset: alert\/sent: "2026-12-02T00:00:00Z" has no offset/,
    );
    assert.match(sent('2026-12-02T08:00:00'), /^cap\.time-offset: alert\/sent:/);
    assert.match(
      sent('2026-12-02T08:00:00.5+08:00'),
      /^cap\.schema: alert\/sent: .* is not a CAP date-time/,
    );
    assert.match(sent('2026-12-02 08:00:00+08:00'), /^cap\.schema: alert\/sent:/);
    assert.match(
      sent('2026-02-30T08:00:00+08:00'),
      /^cap\.schema: alert\/sent: .* is not a real date and time/,
    );
    assert.match(
      sent('2026-12-02T24:00:00+08:00'),
      /^cap\.schema: alert\/sent: .* is not a real date and time/,
    );
    assert.equal(sent('2026-12-02T00:00:00-00:00'), 'valid');
    assert.match(
      check(
        base.replace(
          '<effective>2026-12-02T08:00:00+08:00</effective>',
          '<effective>2026-12-02T08:00:00Z</effective>',
        ),
      ),
      /^cap\.time-offset: alert\/info\[1\]\/effective:/,
    );
  });

  it('reads language as an xs:language tag', () => {
    assert.equal(
      check(base.replace('<language>zh-CN</language>', '<language>中文</language>')),
      'cap.schema: alert/info[1]/language: "中文" is not a language tag',
    );
    assert.equal(
      check(base.replace('<language>zh-CN</language>', '<language>zh-Hans-CN</language>')),
      'valid',
    );
  });

  it('refuses a root that is not a CAP 1.2 alert, and attributes the XSD does not declare', () => {
    assert.match(
      check(base.replace('cap:1.2', 'cap:1.1')),
      /^cap\.schema: alert: namespace urn:oasis:names:tc:emergency:cap:1\.1 is an older CAP/,
    );
    assert.match(
      check('<alert><identifier>x</identifier></alert>'),
      /^cap\.schema: alert: the root must be/,
    );
    assert.match(
      check('<feed xmlns="http://www.w3.org/2005/Atom"/>'),
      /^cap\.schema: feed: the root must be/,
    );
    assert.equal(
      check(base.replace('<headline>', '<headline lang="en">')),
      'cap.schema: alert/info[1]/headline: attribute lang is not allowed',
    );
    assert.equal(check(base.replace('<alert xmlns', '<alert Id="a1" xmlns')), 'valid');
  });

  it('refuses text where elements belong and elements inside text', () => {
    assert.equal(
      check(base.replace('<scope>Public</scope>', '<scope>Public</scope>stray')),
      'cap.schema: alert: text is not allowed here, only elements',
    );
    assert.equal(
      check(base.replace('<headline>', '<headline><b>!</b>')),
      'cap.schema: alert/info[1]/headline: <b> is not allowed inside a text element',
    );
  });

  it('allows one ds:Signature, and only as the last child of alert', () => {
    const sig = '<Signature xmlns="http://www.w3.org/2000/09/xmldsig#"/>';
    assert.equal(check(base.replace('</alert>', `${sig}</alert>`)), 'valid');
    assert.equal(
      check(base.replace('</alert>', `${sig}${sig}</alert>`)),
      'cap.schema: alert/Signature: an XML signature may only be the last child of <alert>',
    );
    assert.equal(
      check(base.replace('<info>', `${sig}<info>`)),
      'cap.schema: alert/Signature: an XML signature may only be the last child of <alert>',
    );
    assert.match(
      check(base.replace('</headline>', `</headline>${sig}`)),
      /^cap\.schema: alert\/info\[1\]\/Signature/,
    );
  });
});
