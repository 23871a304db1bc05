import { CapAlert, CapCircle, CapReference, CapRefusal } from './cap-model.js';
import { checkCapDateTime } from './cap-schema.js';

/**
 * CAP 1.2's own rules that its XSD cannot express (section 3 of the standard: the "REQUIRED
 * when…" and "MUST NOT include…" sentences), plus two receiver's checks against `now`. Each
 * refusal names its rule, so a sender (or an operator reading the inbox) knows what to fix.
 */
export const CAP_RULES = {
  'cap.references-required': 'An Update, Cancel, Ack or Error must reference earlier messages',
  'cap.references-format': 'references are "sender,identifier,sent" triples separated by spaces',
  'cap.restriction-required': 'scope Restricted needs a <restriction>',
  'cap.addresses-required': 'scope Private needs <addresses>',
  'cap.info-required': 'an Alert or Update needs at least one <info> (status System excepted)',
  'cap.identifier': 'identifier must not contain spaces, commas, < or &',
  'cap.sender': 'sender must not contain spaces, commas, < or &',
  'cap.time-offset': 'times carry a numeric offset (+08:00); Z is not CAP',
  'cap.expired': 'every <info> has already expired',
  'cap.polygon': 'a polygon is ≥ 4 "lat,lon" pairs, closed (first = last), within range',
  'cap.circle': 'a circle is "lat,lon radius" with the radius in km, ≥ 0',
  'cap.resource': 'a resource digest is a 40-hex SHA-1, its size a non-negative integer',
  'cap.sent-in-future': 'sent is more than 5 minutes ahead of this server’s clock',
} as const;
export type CapRule = keyof typeof CAP_RULES;

/** A message "sent" further ahead than this is from a wrong clock (or crafted to outlive dedup). */
export const MAX_SENT_AHEAD_MS = 5 * 60_000;

const FORBIDDEN_IN_ID = /[\s,<&]/;

function refuse(rule: CapRule, message: string): never {
  throw new CapRefusal(rule, message);
}

/** The rules that look at the whole alert; run after the model is read. */
export function checkCapRules(alert: CapAlert, now: number): void {
  if (!alert.identifier || FORBIDDEN_IN_ID.test(alert.identifier)) {
    refuse('cap.identifier', `identifier "${alert.identifier}": ${CAP_RULES['cap.identifier']}`);
  }
  if (!alert.sender || FORBIDDEN_IN_ID.test(alert.sender)) {
    refuse('cap.sender', `sender "${alert.sender}": ${CAP_RULES['cap.sender']}`);
  }
  if (
    ['Update', 'Cancel', 'Ack', 'Error'].includes(alert.msgType) &&
    alert.references.length === 0
  ) {
    refuse(
      'cap.references-required',
      `a ${alert.msgType} must name the messages it refers to in <references>`,
    );
  }
  if (alert.scope === 'Restricted' && !alert.restriction) {
    refuse('cap.restriction-required', CAP_RULES['cap.restriction-required']);
  }
  if (alert.scope === 'Private' && !alert.addresses) {
    refuse('cap.addresses-required', CAP_RULES['cap.addresses-required']);
  }
  // System messages (heartbeats, as NAAD and IPAWS send them) are Alerts with nothing to say.
  const needsInfo = alert.msgType === 'Alert' || alert.msgType === 'Update';
  if (needsInfo && alert.status !== 'System' && alert.infos.length === 0) {
    refuse('cap.info-required', `an ${alert.msgType} needs at least one <info>`);
  }
  if (alert.sent.ms > now + MAX_SENT_AHEAD_MS) {
    refuse('cap.sent-in-future', `sent ${alert.sent.text} is more than 5 minutes ahead of now`);
  }
  if (
    alert.infos.length > 0 &&
    alert.infos.every((i) => i.expires !== null && i.expires.ms <= now)
  ) {
    const last = Math.max(...alert.infos.map((i) => i.expires!.ms));
    refuse('cap.expired', `every <info> has expired (latest ${new Date(last).toISOString()})`);
  }
}

/** `references`: whitespace-separated "sender,identifier,sent" triples. */
export function parseReferences(text: string | null): CapReference[] {
  if (text === null || !text.trim()) return [];
  return text
    .trim()
    .split(/\s+/)
    .map((triple) => {
      const parts = triple.split(',');
      if (parts.length !== 3 || !parts[0] || !parts[1]) {
        refuse(
          'cap.references-format',
          `"${triple.slice(0, 80)}": ${CAP_RULES['cap.references-format']}`,
        );
      }
      try {
        checkCapDateTime(parts[2], 'references');
      } catch (error) {
        refuse(
          'cap.references-format',
          `"${triple.slice(0, 80)}": the sent time is not a CAP date-time (${(error as Error).message})`,
        );
      }
      return { sender: parts[0], identifier: parts[1], sent: parts[2] };
    });
}

/** `polygon`: "lat,lon lat,lon …", WGS 84, at least four pairs, the first equal to the last. */
export function parsePolygon(text: string, path: string): [number, number][] {
  const pairs = text.trim().split(/\s+/);
  const points = pairs.map((pair) => {
    const point = parseLatLon(pair);
    if (!point)
      refuse('cap.polygon', `${path}: "${pair.slice(0, 40)}" is not a "lat,lon" pair within range`);
    return point;
  });
  if (points.length < 4)
    refuse('cap.polygon', `${path}: ${points.length} pairs; a polygon needs at least 4`);
  const [first, last] = [points[0], points[points.length - 1]];
  if (first[0] !== last[0] || first[1] !== last[1]) {
    refuse('cap.polygon', `${path}: not closed (the first pair must equal the last)`);
  }
  return points;
}

/** `circle`: "lat,lon radius", the radius in kilometres. */
export function parseCircle(text: string, path: string): CapCircle {
  const parts = text.trim().split(/\s+/);
  const point = parts.length === 2 ? parseLatLon(parts[0]) : null;
  const radius = parts.length === 2 && /^\d+(\.\d+)?$/.test(parts[1]) ? Number(parts[1]) : NaN;
  if (!point || !Number.isFinite(radius)) {
    refuse('cap.circle', `${path}: "${text.trim().slice(0, 60)}": ${CAP_RULES['cap.circle']}`);
  }
  return { lat: point[0], lon: point[1], radiusKm: radius };
}

/** `size` (bytes) and `digest` (SHA-1, hex) of a resource; the digest comes back lower case. */
export function checkResource(
  size: string | null,
  digest: string | null,
  path: string,
): { size: number | null; digest: string | null } {
  let bytes: number | null = null;
  if (size !== null) {
    bytes = /^\+?\d+$/.test(size) ? Number(size) : NaN;
    if (!Number.isSafeInteger(bytes))
      refuse('cap.resource', `${path}/size: "${size}" is not a byte count`);
  }
  if (digest !== null && !/^[0-9a-fA-F]{40}$/.test(digest)) {
    refuse(
      'cap.resource',
      `${path}/digest: "${digest.slice(0, 80)}" is not a SHA-1 in hex (40 characters)`,
    );
  }
  return { size: bytes, digest: digest === null ? null : digest.toLowerCase() };
}

function parseLatLon(pair: string): [number, number] | null {
  const m = /^([+-]?\d+(?:\.\d+)?),([+-]?\d+(?:\.\d+)?)$/.exec(pair);
  if (!m) return null;
  const lat = Number(m[1]);
  const lon = Number(m[2]);
  if (lat < -90 || lat > 90 || lon < -180 || lon > 180) return null;
  return [lat, lon];
}
