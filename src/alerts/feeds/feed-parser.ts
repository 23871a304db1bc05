import { createHash } from 'node:crypto';
import { isIP } from 'node:net';
import { XMLSerializer, type Node as XmlNode } from '@xmldom/xmldom';
import { childElements, parseXmlSafely, textOf } from '../cap/safe-xml.js';

const ATOM = 'http://www.w3.org/2005/Atom';
/** CAP's namespaces all start so; the intake refuses any version but 1.2 and names the rule. */
const CAP_NS_PREFIX = 'urn:oasis:names:tc:emergency:cap:';
const CAP_TYPE = /^application\/cap\+xml\b/i;
/** Types under which feeds in the wild also link CAP (an RSS enclosure often says only xml). */
const XML_TYPE = /^(application|text)\/xml\b/i;

/** One entry (Atom) or item (RSS) of a feed, and where its CAP message is. */
export interface FeedEntry {
  /** Atom `id`, RSS `guid` (else its link): what the service remembers it by. */
  id: string;
  /** Atom `updated` (else `published`), RSS `pubDate`, as written; '' when absent. */
  updated: string;
  /** The CAP message carried in the entry itself, serialised on its own. */
  inlineCap: string | null;
  /** The CAP message's absolute URL, when the entry links it instead. */
  capUrl: string | null;
}

export interface ParsedFeed {
  format: 'atom' | 'rss';
  entries: FeedEntry[];
}

/** A feed that cannot be read at all: the poll fails and the feed backs off. */
export class FeedUnreadable extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FeedUnreadable';
  }
}

/**
 * Reads an Atom (RFC 4287) or RSS 2.0 feed of CAP entries. XML only ever goes through
 * parseXmlSafely (no DTD, no entities); relative links resolve against `baseUrl`, the feed's URL.
 * A refusal by parseXmlSafely is passed on as it is (CapRefusal, naming its rule).
 */
export function parseFeed(
  body: Buffer,
  o: { maxBytes: number; baseUrl: string; contentType?: string | null },
): ParsedFeed {
  const doc = parseXmlSafely(asUtf8(body, o.contentType ?? null), { maxBytes: o.maxBytes });
  const root = doc.documentElement;
  if (!root) throw new FeedUnreadable('the feed has no root element');
  if (root.localName === 'feed' && root.namespaceURI === ATOM)
    return {
      format: 'atom',
      entries: children(root, 'entry', ATOM).map((e) => atomEntry(e, o.baseUrl)),
    };
  if (root.localName === 'rss' && !root.namespaceURI) {
    const channel = children(root, 'channel', null)[0];
    if (!channel) throw new FeedUnreadable('an RSS feed without a <channel>');
    return {
      format: 'rss',
      entries: children(channel, 'item', null).map((i) => rssItem(i, o.baseUrl)),
    };
  }
  const ns = root.namespaceURI ? ` (namespace ${root.namespaceURI})` : '';
  throw new FeedUnreadable(
    `not an Atom or RSS 2.0 feed: the root element is <${root.localName}>${ns}`,
  );
}

function atomEntry(entry: Element, baseUrl: string): FeedEntry {
  const link = children(entry, 'link', ATOM)
    .filter((l) => CAP_TYPE.test(l.getAttribute('type') ?? ''))
    // rel defaults to alternate (RFC 4287 §4.2.7.2); the alternate is the message itself.
    .sort(
      (a, b) =>
        rank(a.getAttribute('rel') ?? 'alternate') - rank(b.getAttribute('rel') ?? 'alternate'),
    )[0];
  const inline = inlineCap(entry, children(entry, 'content', ATOM)[0]);
  const id = text(children(entry, 'id', ATOM)[0]) || link?.getAttribute('href') || digestOf(inline);
  return {
    id,
    updated:
      text(children(entry, 'updated', ATOM)[0]) || text(children(entry, 'published', ATOM)[0]),
    inlineCap: inline,
    capUrl: inline === null && link ? absolute(link.getAttribute('href'), baseUrl) : null,
  };
}

/** Of several CAP links, the alternate first, then related/enclosure; `self` names the feed. */
function rank(rel: string): number {
  return rel === 'alternate' ? 0 : rel === 'self' ? 9 : 1;
}

function rssItem(item: Element, baseUrl: string): FeedEntry {
  const enclosures = children(item, 'enclosure', null);
  const enclosure =
    enclosures.find((e) => CAP_TYPE.test(e.getAttribute('type') ?? '')) ??
    enclosures.find((e) => XML_TYPE.test(e.getAttribute('type') ?? ''));
  const link = text(children(item, 'link', null)[0]);
  const inline = inlineCap(item, null);
  const url = enclosure?.getAttribute('url') || link;
  return {
    id: text(children(item, 'guid', null)[0]) || link || url || digestOf(inline),
    updated: text(children(item, 'pubDate', null)[0]),
    inlineCap: inline,
    capUrl: inline === null && url ? absolute(url, baseUrl) : null,
  };
}

/**
 * The CAP `<alert>` an entry carries: as the child of its `<content type="application/cap+xml">`
 * (Atom: XML content is inline, RFC 4287 §4.1.3.3), or directly inside the entry or item (feeds
 * that embed `cap:alert`), or, seen in the wild, escaped as the content's text.
 */
function inlineCap(entry: Element, content: Element | undefined | null): string | null {
  for (const holder of content ? [content, entry] : [entry]) {
    const alert = childElements(holder).find(
      (c) => c.localName === 'alert' && (c.namespaceURI ?? '').startsWith(CAP_NS_PREFIX),
    );
    if (alert) return new XMLSerializer().serializeToString(alert as unknown as XmlNode);
  }
  if (content && CAP_TYPE.test(content.getAttribute('type') ?? '')) {
    const escaped = text(content);
    if (escaped.startsWith('<')) return escaped;
  }
  return null;
}

/**
 * The feed as UTF-8. Chinese feeds are still often GBK/GB2312: those are decoded (GB18030 is
 * their superset) and their declaration rewritten, so the safe parser, which reads UTF-8 only,
 * can read them; any other declared encoding is left for it to refuse.
 */
function asUtf8(body: Buffer, contentType: string | null): Buffer {
  const head = body.subarray(0, 200).toString('latin1');
  const declared = /^<\?xml[^>]*encoding\s*=\s*["']([A-Za-z0-9_-]+)["']/.exec(head)?.[1];
  const charset = declared ?? /charset\s*=\s*"?([A-Za-z0-9_-]+)/i.exec(contentType ?? '')?.[1];
  if (!charset || !/^(gbk|gb2312|gb18030|cp936)$/i.test(charset)) return body;
  const decoded = new TextDecoder('gb18030').decode(body);
  return Buffer.from(
    declared ? decoded.replace(/^(<\?xml[^>]*encoding\s*=\s*["'])[^"']+/, '$1UTF-8') : decoded,
    'utf8',
  );
}

function absolute(href: string | null, baseUrl: string): string | null {
  if (!href) return null;
  try {
    return new URL(href.trim(), baseUrl).toString();
  } catch {
    return null;
  }
}

/** An entry with neither id nor link is still remembered: by its inline message. */
function digestOf(inline: string | null): string {
  return inline === null ? '' : `sha256:${createHash('sha256').update(inline).digest('hex')}`;
}

function children(parent: Element, localName: string, ns: string | null): Element[] {
  return childElements(parent, localName, ns);
}

function text(el: Element | undefined): string {
  return el ? textOf(el) : '';
}

/**
 * Whether `link` names this machine or a private network while the feed itself does not: a
 * third-party feed must not point the server at what only it can reach (its own API, the LAN).
 * Literal addresses and `localhost` only: a public name that resolves inward is not caught.
 */
export function pointsInward(link: string, feedUrl: string): boolean {
  const host = (u: string) => {
    try {
      return new URL(u).hostname.replace(/^\[|\]$/g, '').toLowerCase();
    } catch {
      return '';
    }
  };
  const target = host(link);
  return isInward(target) && !isInward(host(feedUrl));
}

function isInward(host: string): boolean {
  if (host === 'localhost' || host.endsWith('.localhost')) return true;
  if (isIP(host) === 4) {
    const [a, b] = host.split('.').map(Number);
    return (
      a === 0 ||
      a === 10 ||
      a === 127 ||
      (a === 169 && b === 254) ||
      (a === 172 && b >= 16 && b <= 31) ||
      (a === 192 && b === 168) ||
      (a === 100 && b >= 64 && b <= 127)
    );
  }
  if (isIP(host) === 6) {
    // An IPv4-mapped address, which URL writes in hex (::ffff:7f00:1 for 127.0.0.1).
    const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(host);
    if (mapped) {
      const [hi, lo] = [parseInt(mapped[1], 16), parseInt(mapped[2], 16)];
      return isInward([hi >> 8, hi & 255, lo >> 8, lo & 255].join('.'));
    }
    return host === '::1' || host === '::' || /^f[cd]/.test(host) || /^fe[89ab]/.test(host);
  }
  return false;
}
