import {
  CAP_CERTAINTIES,
  CAP_MSG_TYPES,
  CAP_SCOPES,
  CAP_SEVERITIES,
  CAP_STATUSES,
  CAP_URGENCIES,
  CapRefusal,
} from './cap-model.js';

/**
 * The CAP 1.2 schema (OASIS CAP-v1.2.xsd, "Common Alerting Protocol Version 1.2", 1 July 2010),
 * transcribed as one table: each complex type is its `<sequence>` of elements in order, with
 * minOccurs/maxOccurs and the simple type of each leaf. The validator below walks a DOM against it.
 *
 * Where Dalaba is stricter than the XSD, it says so here:
 * - the XSD ends `alert` with `<any namespace="##other" processContents="lax">`; we accept only
 *   one `ds:Signature` (XML-DSig) there, as the last child — anything else is unknown and refused;
 * - the XSD declares no attributes; we allow namespace declarations everywhere and an `Id` on
 *   `alert` (what an XML-DSig reference `URI="#…"` points at);
 * - the dateTime pattern `\d\d\d\d-\d\d-\d\dT\d\d:\d\d:\d\d[-,+]\d\d:\d\d` reads `[-,+]`; the comma
 *   is a well-known slip in the XSD and no valid xs:dateTime has one, so we accept only `+`/`-`.
 *   A value that is a valid xs:dateTime but lacks the offset (or uses `Z`) is refused under the
 *   more telling rule `cap.time-offset`.
 */

export const CAP_NS = 'urn:oasis:names:tc:emergency:cap:1.2';
export const DSIG_NS = 'http://www.w3.org/2000/09/xmldsig#';
const OLDER_CAP_NS = /^urn:oasis:names:tc:emergency:cap:1\.[01]$/;

export const CAP_CATEGORIES = [
  'Geo',
  'Met',
  'Safety',
  'Security',
  'Rescue',
  'Fire',
  'Health',
  'Env',
  'Transport',
  'Infra',
  'CBRNE',
  'Other',
] as const;
export const CAP_RESPONSE_TYPES = [
  'Shelter',
  'Evacuate',
  'Prepare',
  'Execute',
  'Avoid',
  'Monitor',
  'Assess',
  'AllClear',
  'None',
] as const;

export type CapSimpleType =
  | 'string'
  | 'language'
  | 'anyURI'
  | 'integer'
  | 'decimal'
  | 'dateTime'
  | { enumeration: readonly string[] };

export type CapComplexTypeName = 'alert' | 'info' | 'resource' | 'area' | 'valuePair';

export interface CapParticle {
  name: string;
  min: 0 | 1;
  max: 1 | typeof Infinity;
  type: CapSimpleType | CapComplexTypeName;
}

const one = (name: string, type: CapParticle['type']): CapParticle => ({
  name,
  min: 1,
  max: 1,
  type,
});
const opt = (name: string, type: CapParticle['type']): CapParticle => ({
  name,
  min: 0,
  max: 1,
  type,
});
const many = (name: string, type: CapParticle['type'], min: 0 | 1 = 0): CapParticle => ({
  name,
  min,
  max: Infinity,
  type,
});

/** THE table: CAP-v1.2.xsd, one sequence per complex type, in document order. */
export const CAP_SCHEMA: Record<CapComplexTypeName, readonly CapParticle[]> = {
  alert: [
    one('identifier', 'string'),
    one('sender', 'string'),
    one('sent', 'dateTime'),
    one('status', { enumeration: CAP_STATUSES }),
    one('msgType', { enumeration: CAP_MSG_TYPES }),
    opt('source', 'string'),
    one('scope', { enumeration: CAP_SCOPES }),
    opt('restriction', 'string'),
    opt('addresses', 'string'),
    many('code', 'string'),
    opt('note', 'string'),
    opt('references', 'string'),
    opt('incidents', 'string'),
    many('info', 'info'),
  ],
  info: [
    opt('language', 'language'),
    many('category', { enumeration: CAP_CATEGORIES }, 1),
    one('event', 'string'),
    many('responseType', { enumeration: CAP_RESPONSE_TYPES }),
    one('urgency', { enumeration: CAP_URGENCIES }),
    one('severity', { enumeration: CAP_SEVERITIES }),
    one('certainty', { enumeration: CAP_CERTAINTIES }),
    opt('audience', 'string'),
    many('eventCode', 'valuePair'),
    opt('effective', 'dateTime'),
    opt('onset', 'dateTime'),
    opt('expires', 'dateTime'),
    opt('senderName', 'string'),
    opt('headline', 'string'),
    opt('description', 'string'),
    opt('instruction', 'string'),
    opt('web', 'anyURI'),
    opt('contact', 'string'),
    many('parameter', 'valuePair'),
    many('resource', 'resource'),
    many('area', 'area'),
  ],
  resource: [
    one('resourceDesc', 'string'),
    one('mimeType', 'string'),
    opt('size', 'integer'),
    opt('uri', 'anyURI'),
    opt('derefUri', 'string'),
    opt('digest', 'string'),
  ],
  area: [
    one('areaDesc', 'string'),
    many('polygon', 'string'),
    many('circle', 'string'),
    many('geocode', 'valuePair'),
    opt('altitude', 'decimal'),
    opt('ceiling', 'decimal'),
  ],
  // eventCode, parameter and geocode share this shape in the XSD.
  valuePair: [one('valueName', 'string'), one('value', 'string')],
};

const ELEMENT_NODE = 1;
const TEXT_NODE = 3;
const CDATA_SECTION_NODE = 4;

/** Checks a parsed document against {@link CAP_SCHEMA}; throws `CapRefusal('cap.schema', …)`. */
export function validateCapSchema(doc: Document): void {
  const root = doc.documentElement;
  if (!root) fail('/', 'no root element');
  if (root.localName !== 'alert' || root.namespaceURI !== CAP_NS) {
    if (root.localName === 'alert' && root.namespaceURI && OLDER_CAP_NS.test(root.namespaceURI)) {
      fail(
        'alert',
        `namespace ${root.namespaceURI} is an older CAP; only CAP 1.2 (${CAP_NS}) is read`,
      );
    }
    fail(root.nodeName, `the root must be <alert xmlns="${CAP_NS}">`);
  }
  checkAttributes(root, 'alert', true);
  validateComplex(root, 'alert', 'alert');
}

function validateComplex(el: Element, typeName: CapComplexTypeName, path: string): void {
  const children: Element[] = [];
  for (const node of Array.from(el.childNodes)) {
    if (node.nodeType === ELEMENT_NODE) children.push(node as Element);
    else if (
      (node.nodeType === TEXT_NODE || node.nodeType === CDATA_SECTION_NODE) &&
      (node.nodeValue ?? '').trim()
    ) {
      fail(path, 'text is not allowed here, only elements');
    }
  }
  const particles = CAP_SCHEMA[typeName];
  let at = 0;
  for (const particle of particles) {
    let count = 0;
    while (at < children.length && isCap(children[at], particle.name)) {
      count++;
      const child = children[at];
      const childPath =
        particle.max === 1 ? `${path}/${particle.name}` : `${path}/${particle.name}[${count}]`;
      if (count > particle.max) fail(childPath, `<${particle.name}> may appear only once`);
      checkAttributes(child, childPath, false);
      if (typeof particle.type === 'string' && particle.type in CAP_SCHEMA) {
        validateComplex(child, particle.type as CapComplexTypeName, childPath);
      } else {
        validateSimple(child, particle.type as CapSimpleType, childPath);
      }
      at++;
    }
    if (count < particle.min) {
      const later = children.slice(at).some((c) => isCap(c, particle.name));
      fail(
        `${path}/${particle.name}`,
        later
          ? outOfOrder(particle.name, particles)
          : `required element <${particle.name}> is missing`,
      );
    }
  }
  if (at === children.length) return;
  const extra = children[at];
  if (
    typeName === 'alert' &&
    at === children.length - 1 &&
    extra.localName === 'Signature' &&
    extra.namespaceURI === DSIG_NS
  ) {
    return;
  }
  const name = extra.localName ?? extra.nodeName;
  if (extra.namespaceURI === CAP_NS && particles.some((p) => p.name === name)) {
    fail(`${path}/${name}`, outOfOrder(name, particles));
  }
  if (extra.namespaceURI === DSIG_NS && extra.localName === 'Signature') {
    fail(`${path}/Signature`, 'an XML signature may only be the last child of <alert>');
  }
  fail(
    `${path}/${extra.nodeName}`,
    `unknown element <${extra.nodeName}>${extra.namespaceURI ? ` in ${extra.namespaceURI}` : ''}`,
  );
}

function validateSimple(el: Element, type: CapSimpleType, path: string): void {
  for (const node of Array.from(el.childNodes)) {
    if (node.nodeType === ELEMENT_NODE)
      fail(path, `<${node.nodeName}> is not allowed inside a text element`);
  }
  const raw = el.textContent ?? '';
  const value = raw.trim();
  if (type === 'string' || type === 'anyURI') return;
  if (type === 'language') {
    // xs:language, an RFC 3066 tag such as zh-CN.
    if (!/^[a-zA-Z]{1,8}(-[a-zA-Z0-9]{1,8})*$/.test(value))
      fail(path, `"${clip(value)}" is not a language tag`);
    return;
  }
  if (type === 'integer') {
    if (!/^[+-]?\d+$/.test(value)) fail(path, `"${clip(value)}" is not an integer`);
    return;
  }
  if (type === 'decimal') {
    if (!/^[+-]?(\d+(\.\d*)?|\.\d+)$/.test(value)) fail(path, `"${clip(value)}" is not a decimal`);
    return;
  }
  if (type === 'dateTime') {
    checkCapDateTime(value, path);
    return;
  }
  if (!type.enumeration.includes(value)) {
    fail(path, `"${clip(value)}" is not one of ${type.enumeration.join(', ')}`);
  }
}

const XS_DATE_TIME = /^-?\d{4,}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)?$/;
const CAP_DATE_TIME = /^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)[+-](\d\d):(\d\d)$/;

/**
 * The CAP 1.2 time form: `2026-12-02T08:00:00+08:00`, seconds, no fraction, an explicit numeric
 * offset (`-00:00` is CAP's way to say UTC; `Z` is not CAP).
 */
export function checkCapDateTime(value: string, path: string): void {
  const m = CAP_DATE_TIME.exec(value);
  if (!m) {
    const lexical = XS_DATE_TIME.exec(value);
    if (lexical && !lexical[1] && (!lexical[2] || lexical[2] === 'Z')) {
      throw new CapRefusal(
        'cap.time-offset',
        `${path}: "${clip(value)}" has no offset; CAP times carry one, e.g. +08:00 (Z is not CAP)`,
      );
    }
    fail(path, `"${clip(value)}" is not a CAP date-time (YYYY-MM-DDThh:mm:ss+hh:mm)`);
  }
  const [year, month, day, hour, minute, second, offH, offM] = m.slice(1).map(Number);
  const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate();
  if (
    month < 1 ||
    month > 12 ||
    day < 1 ||
    day > daysInMonth ||
    hour > 23 ||
    minute > 59 ||
    second > 59
  ) {
    fail(path, `"${value}" is not a real date and time`);
  }
  if (offH > 14 || offM > 59) fail(path, `"${value}" has an offset out of range`);
}

function checkAttributes(el: Element, path: string, isRoot: boolean): void {
  for (const attr of Array.from(el.attributes)) {
    if (attr.name === 'xmlns' || attr.name.startsWith('xmlns:')) continue;
    if (isRoot && attr.name === 'Id') continue;
    fail(path, `attribute ${attr.name} is not allowed`);
  }
}

function outOfOrder(name: string, particles: readonly CapParticle[]): string {
  return `<${name}> is out of order (CAP 1.2 order: ${particles.map((p) => p.name).join(', ')})`;
}

function isCap(el: Element, name: string): boolean {
  return el.localName === name && el.namespaceURI === CAP_NS;
}

function clip(value: string): string {
  return value.length > 60 ? `${value.slice(0, 60)}…` : value;
}

function fail(path: string, what: string): never {
  throw new CapRefusal('cap.schema', `${path}: ${what}`);
}
