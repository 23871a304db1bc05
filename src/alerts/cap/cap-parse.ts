import {
  CapAlert,
  CapArea,
  CapCertainty,
  CapGeocode,
  CapInfo,
  CapMsgType,
  CapResource,
  CapScope,
  CapSeverity,
  CapStatus,
  CapTime,
  CapUrgency,
} from './cap-model.js';
import {
  CAP_RULES,
  type CapRule,
  checkCapRules,
  checkResource,
  parseCircle,
  parsePolygon,
  parseReferences,
} from './cap-rules.js';
import { CAP_NS, validateCapSchema } from './cap-schema.js';
import {
  XML_RULES,
  type XmlRule,
  childElements,
  childText,
  readXmlSafely,
  textOf,
} from './safe-xml.js';

/** Every rule `parseCap` may refuse under, in the order the steps run (for docs and API enums). */
export const CAP_REFUSAL_RULES: readonly (XmlRule | 'cap.schema' | CapRule)[] = [
  ...XML_RULES,
  'cap.schema',
  ...(Object.keys(CAP_RULES) as CapRule[]),
];

/** CAP 1.2's default when an info names no language. */
export const CAP_DEFAULT_LANGUAGE = 'en-US';

/**
 * A CAP 1.2 message, read the only safe way: safe XML → schema → model → CAP rules. Throws a
 * `CapRefusal` naming the broken rule; `xml` is the decoded text (what a signature covers), `doc`
 * its DOM (for whoever needs more than the model, e.g. the signature check).
 */
export function parseCap(
  input: Buffer | string,
  o: { maxBytes: number; now: number },
): { alert: CapAlert; xml: string; doc: Document } {
  const { doc, text: xml } = readXmlSafely(input, { maxBytes: o.maxBytes });
  validateCapSchema(doc);
  const alert = readAlert(doc.documentElement!);
  checkCapRules(alert, o.now);
  return { alert, xml, doc };
}

// The schema has passed, so required elements exist and enumerations hold: the casts below are
// what the validator already proved.

function readAlert(el: Element): CapAlert {
  return {
    identifier: req(el, 'identifier'),
    sender: req(el, 'sender'),
    sent: time(req(el, 'sent')),
    status: req(el, 'status') as CapStatus,
    msgType: req(el, 'msgType') as CapMsgType,
    source: opt(el, 'source'),
    scope: req(el, 'scope') as CapScope,
    restriction: opt(el, 'restriction'),
    addresses: opt(el, 'addresses'),
    codes: all(el, 'code').map(textOf),
    note: opt(el, 'note'),
    references: parseReferences(opt(el, 'references')),
    incidents: opt(el, 'incidents'),
    infos: all(el, 'info').map((info, i) => readInfo(info, `alert/info[${i + 1}]`)),
  };
}

function readInfo(el: Element, path: string): CapInfo {
  return {
    language: opt(el, 'language') || CAP_DEFAULT_LANGUAGE,
    categories: all(el, 'category').map(textOf),
    event: req(el, 'event'),
    responseTypes: all(el, 'responseType').map(textOf),
    urgency: req(el, 'urgency') as CapUrgency,
    severity: req(el, 'severity') as CapSeverity,
    certainty: req(el, 'certainty') as CapCertainty,
    eventCodes: all(el, 'eventCode').map(valuePair),
    effective: optTime(el, 'effective'),
    onset: optTime(el, 'onset'),
    expires: optTime(el, 'expires'),
    senderName: opt(el, 'senderName'),
    headline: opt(el, 'headline'),
    description: opt(el, 'description'),
    instruction: opt(el, 'instruction'),
    web: opt(el, 'web'),
    contact: opt(el, 'contact'),
    parameters: all(el, 'parameter').map(valuePair),
    resources: all(el, 'resource').map((r, i) => readResource(r, `${path}/resource[${i + 1}]`)),
    areas: all(el, 'area').map((a, i) => readArea(a, `${path}/area[${i + 1}]`)),
  };
}

function readResource(el: Element, path: string): CapResource {
  const checked = checkResource(opt(el, 'size'), opt(el, 'digest'), path);
  return {
    resourceDesc: req(el, 'resourceDesc'),
    mimeType: req(el, 'mimeType'),
    size: checked.size,
    uri: opt(el, 'uri'),
    derefUri: opt(el, 'derefUri'),
    digest: checked.digest,
  };
}

function readArea(el: Element, path: string): CapArea {
  return {
    areaDesc: req(el, 'areaDesc'),
    polygons: all(el, 'polygon').map((p, i) =>
      parsePolygon(textOf(p), `${path}/polygon[${i + 1}]`),
    ),
    circles: all(el, 'circle').map((c, i) => parseCircle(textOf(c), `${path}/circle[${i + 1}]`)),
    geocodes: all(el, 'geocode').map(valuePair),
  };
}

function valuePair(el: Element): CapGeocode {
  return { valueName: req(el, 'valueName'), value: req(el, 'value') };
}

function time(text: string): CapTime {
  return { text, ms: Date.parse(text) };
}

function optTime(el: Element, name: string): CapTime | null {
  const text = opt(el, name);
  return text === null ? null : time(text);
}

function all(el: Element, name: string): Element[] {
  return childElements(el, name, CAP_NS);
}

function req(el: Element, name: string): string {
  return childText(el, name, CAP_NS) ?? '';
}

/** An optional element; present but empty counts as absent. */
function opt(el: Element, name: string): string | null {
  const text = childText(el, name, CAP_NS);
  return text ? text : null;
}
