import assert from 'node:assert/strict';
import { describe, it } from '@jest/globals';
import { DOMParser } from '@xmldom/xmldom';
import type { AlertEntity } from '../alerts/alert.entity.js';
import { parseCap } from '../alerts/cap/cap-parse.js';
import type { BroadcastDto } from '../broadcasts/dto/broadcast.dto.js';
import type { ClipDto } from '../clips/dto/clip.dto.js';
import { capMessage, identifierCandidates } from './cap-out.js';
import { parseBeijingDigits } from './report-time.js';
import {
  brdStateOfBroadcast,
  brdStateOfDelivery,
  capOfEbmMsgType,
  capSeverityOfEbm,
  ebmSeverityOfCap,
  placeholderEbrId,
  severityOf,
} from './gyt-mapping.js';
import { ebmElement, ebmIdOf } from './gyt-reports.js';
import { BroadcastFacts, kindOf } from './report-sources.js';
import { beijingTime, capTime } from './report-time.js';

const CREATED = Date.parse('2026-12-02T01:02:03.456Z');

function facts(
  broadcast: Partial<BroadcastDto>,
  alert: Partial<AlertEntity> | null = null,
): BroadcastFacts {
  const b = {
    id: '0b6f3c1e-9d9e-4a53-8f52-0c7a7d1d2a11',
    title: '暴雨红色预警',
    clipId: 'c0b6f3c1-9d9e-4a53-8f52-0c7a7d1d2a11',
    level: 'I',
    target: { villages: ['611026100201'] },
    status: 'active',
    outcome: null,
    endReason: null,
    createdAt: new Date(CREATED).toISOString(),
    startAt: new Date(CREATED).toISOString(),
    expiresAt: new Date(CREATED + 3_600_000).toISOString(),
    endedAt: null,
    ...broadcast,
  } as BroadcastDto;
  const a = alert && ({ identifier: 'alert-1', status: 'Actual', ...alert } as AlertEntity);
  return {
    broadcast: b,
    clip: { id: b.clipId, sha256: 'ab'.repeat(32), bytes: 1234 } as ClipDto,
    alert: a,
    kind: kindOf(b, a),
    areaCodes: ['611026100201', '611026100202'],
    villages: new Map([
      [
        '611026100201',
        { code: '611026100201', name: '甲村', townCode: '611026100', townName: '镇' },
      ],
    ]),
  };
}

const ctx = {
  sender: 'dalaba@611026',
  county: '611026',
  digest: 'a'.repeat(40),
  audioUrl: 'http://x/a',
  identifiers: {
    alert: '61102600000000_20261202090203_4',
    cancel: '61102600000000_20261202090204_0',
  },
};

function read(xml: string): Element {
  return new DOMParser().parseFromString(xml, 'text/xml').documentElement as unknown as Element;
}
const textOf = (el: Element, name: string) => el.getElementsByTagName(name)[0]?.textContent ?? null;

describe('report times', () => {
  it('are Beijing time whatever the zone, CAP ones with +08:00', () => {
    assert.equal(beijingTime(Date.parse('2026-12-31T16:30:00.999Z')), '2027-01-01 00:30:00');
    assert.equal(capTime(Date.parse('2026-12-31T16:30:00Z')), '2027-01-01T00:30:00+08:00');
  });
});

describe('the GY/T mapping table', () => {
  it('gives the broadcast state code by status and outcome', () => {
    assert.equal(brdStateOfBroadcast('scheduled', null), '1');
    assert.equal(brdStateOfBroadcast('dispatching', null), '2');
    assert.equal(brdStateOfBroadcast('active', null), '2');
    assert.equal(brdStateOfBroadcast('completed', 'completed'), '3');
    assert.equal(brdStateOfBroadcast('completed', 'partially_completed'), '4');
    assert.equal(brdStateOfBroadcast('completed', 'failed'), '4');
    assert.equal(brdStateOfBroadcast('expired', 'expired'), '4');
    assert.equal(brdStateOfBroadcast('cancelled', 'cancelled'), '5');
  });

  it('gives each delivery state a code', () => {
    assert.deepEqual(
      (
        [
          'pending',
          'sent',
          'ready',
          'playing',
          'played',
          'failed',
          'rejected',
          'expired',
          'cancelled',
        ] as const
      ).map(brdStateOfDelivery),
      ['0', '1', '1', '2', '3', '4', '4', '4', '5'],
    );
  });

  it('reads an EBM from above as CAP, and CAP severities as EBM ones', () => {
    assert.deepEqual(capOfEbmMsgType('1'), { status: 'Actual', msgType: 'Alert' });
    assert.deepEqual(capOfEbmMsgType('2'), { status: 'Actual', msgType: 'Cancel' });
    assert.deepEqual(capOfEbmMsgType('5'), { status: 'Exercise', msgType: 'Alert' });
    assert.equal(capOfEbmMsgType('9'), null);
    assert.deepEqual(['1', '2', '3', '4', '0', '7'].map(capSeverityOfEbm), [
      'Extreme',
      'Severe',
      'Moderate',
      'Minor',
      'Unknown',
      'Unknown',
    ]);
    assert.deepEqual(['Extreme', 'Minor', 'Unknown', null].map(ebmSeverityOfCap), [
      '1',
      '4',
      '0',
      '0',
    ]);
  });

  it('keeps an emergency level’s severity, and a drill’s alert’s', () => {
    assert.deepEqual(severityOf('II', 'Unknown'), { cap: 'Severe', ebm: '2' });
    assert.deepEqual(severityOf('drill', 'Severe'), { cap: 'Severe', ebm: '2' });
    assert.deepEqual(severityOf('routine', null), { cap: 'Unknown', ebm: '0' });
    assert.equal(placeholderEbrId('611026'), '611026000000010101');
  });
});

describe('a broadcast made from an alert', () => {
  it('is a drill when its alert was an Exercise, and says so in both formats', () => {
    const f = facts(
      { level: 'routine', title: '【演练】山洪演练' },
      {
        status: 'Exercise',
        severity: 'Severe',
        urgency: 'Expected',
        certainty: 'Likely',
        event: '山洪',
        headline: '山洪灾害演练',
      },
    );
    assert.equal(f.kind, 'drill');
    const cap = read(capMessage(f, ctx).xml);
    assert.equal(textOf(cap, 'status'), 'Exercise');
    assert.equal(textOf(cap, 'severity'), 'Severe');
    assert.equal(textOf(cap, 'urgency'), 'Expected');
    assert.equal(textOf(cap, 'event'), '山洪');
    assert.equal(textOf(cap, 'incidents'), 'alert-1');
    const ebm = read(
      ebmElement(f, { ebrId: '611026000000010101', sender: 'dalaba@611026' }, true).toString(),
    );
    assert.equal(textOf(ebm, 'MsgType'), '3');
    assert.equal(textOf(ebm, 'Severity'), '2');
    assert.equal(textOf(ebm, 'MsgDesc'), '山洪灾害演练');
  });

  it('without an alert, a drill is known by its title', () => {
    assert.equal(facts({ level: 'routine', title: '【演练】消防' }).kind, 'drill');
    assert.equal(facts({ level: 'routine', title: '村民大会' }).kind, 'routine');
  });

  it('keeps its level’s severity when the operator chose it for an Unknown alert', () => {
    const f = facts(
      { level: 'II' },
      { severity: 'Unknown', urgency: 'Immediate', certainty: 'Observed', event: '地震' },
    );
    assert.equal(textOf(read(capMessage(f, ctx).xml), 'severity'), 'Severe');
    const ebm = read(ebmElement(f, { ebrId: 'e', sender: 's' }, false).toString());
    assert.equal(textOf(ebm, 'Severity'), '2');
    assert.equal(ebm.getElementsByTagName('Auxiliary').length, 0);
  });

  it('passes CAP-CORE’s own reader, alert or none', () => {
    for (const f of [
      facts({}),
      facts(
        { level: 'III' },
        { severity: 'Moderate', urgency: 'Expected', certainty: 'Likely', event: '暴雨' },
      ),
      facts({
        status: 'cancelled',
        endReason: '预警解除',
        endedAt: new Date(CREATED + 60_000).toISOString(),
      }),
    ]) {
      const msg = capMessage(f, ctx);
      const { alert } = parseCap(msg.xml, { maxBytes: 65_536, now: CREATED + 1000 });
      assert.equal(alert.identifier, msg.identifier);
      assert.equal(alert.sender, 'dalaba@611026');
    }
  });

  it('tries the tenth of the second first, then the other digits, then one naming the broadcast', () => {
    const ids = identifierCandidates('611026', CREATED, 'b-1');
    assert.equal(ids.length, 11);
    assert.equal(ids[0], '61102600000000_20261202090203_4');
    assert.deepEqual(
      ids.slice(1, 10).map((id) => id.at(-1)),
      ['0', '1', '2', '3', '5', '6', '7', '8', '9'],
    );
    assert.equal(ids[10], 'dalaba-b-1');
    assert.equal(new Set(ids).size, 11);
  });

  it('publishes a Cancel under its own identifier, referencing the Alert’s', () => {
    const cancelled = facts({
      status: 'cancelled',
      endReason: '误发',
      endedAt: new Date(CREATED + 20).toISOString(),
    });
    const cancel = read(
      capMessage(cancelled, {
        ...ctx,
        identifiers: {
          alert: '61102600000000_20261202090203_4',
          cancel: '61102600000000_20261202090203_0',
        },
      }).xml,
    );
    assert.equal(textOf(cancel, 'identifier'), '61102600000000_20261202090203_0');
    assert.equal(textOf(cancel, 'msgType'), 'Cancel');
    assert.equal(
      textOf(cancel, 'references'),
      'dalaba@611026,61102600000000_20261202090203_4,2026-12-02T09:02:03+08:00',
    );
  });

  it('reads an EBMID’s Beijing digits back, and never a date that does not exist', () => {
    assert.equal(parseBeijingDigits('20261202090203'), Date.parse('2026-12-02T01:02:03Z'));
    assert.equal(parseBeijingDigits('20260230120000'), null);
    assert.equal(parseBeijingDigits('2026120209020'), null);
  });

  it('has an EBMID of its EBRID and creation time to the millisecond', () => {
    assert.equal(
      ebmIdOf(facts({}), '611026000000010101'),
      '611026000000010101' + '20261202090203' + '456',
    );
  });
});
