import { DOMParser } from '@xmldom/xmldom';
import { CapRefusal } from './cap-model.js';

/**
 * The one way XML comes in (CAP alerts, feeds, superior packages): text checks BEFORE the parser
 * sees anything, because xmldom's own handling of DTDs is not something a receiver should rely
 * on — no DOCTYPE or ENTITY at all, no XInclude, no processing instruction but the declaration,
 * UTF-8 only, a size limit — then every parser error or warning is fatal.
 */

/** The rules `parseXmlSafely` refuses under. */
export const XML_RULES = [
  'xml.too-large',
  'xml.encoding',
  'xml.doctype',
  'xml.xinclude',
  'xml.malformed',
  'xml.processing-instruction',
] as const;
export type XmlRule = (typeof XML_RULES)[number];

export const XINCLUDE_NAMESPACES = [
  'http://www.w3.org/2001/XInclude',
  'http://www.w3.org/2003/XInclude',
] as const;

/** Deeper than any real alert or feed; keeps recursive readers off the stack limit. */
export const MAX_XML_DEPTH = 64;
/**
 * More elements than any alert, package or feed of a few hundred entries has (an Atom entry with
 * a linked message is about 5, with an inline message about 40). xmldom parses synchronously,
 * measured at 40–90 µs per feed element: this bounds what one document holds its thread for to
 * about a second. Alerts and feeds are parsed in worker threads (XmlPool, src/alerts/xml-pool.ts);
 * a superior platform's packages (src/superior/ebd-package.ts) are still read on the event loop.
 */
export const MAX_XML_ELEMENTS = 20_000;

const ELEMENT_NODE = 1;
const PROCESSING_INSTRUCTION_NODE = 7;
const UTF8_BOM = [0xef, 0xbb, 0xbf];

export function parseXmlSafely(input: Buffer | string, o: { maxBytes: number }): Document {
  return readXmlSafely(input, o).doc;
}

/** {@link parseXmlSafely}, also giving the decoded text (without BOM) that was parsed. */
export function readXmlSafely(
  input: Buffer | string,
  o: { maxBytes: number },
): { doc: Document; text: string } {
  const text = decodeXml(input, o.maxBytes);
  refuseDangerousText(text);
  refuseCostlyShape(text);
  const doc = parseStrictly(text);
  refuseDangerousNodes(doc);
  return { doc, text };
}

function decodeXml(input: Buffer | string, maxBytes: number): string {
  const bytes = typeof input === 'string' ? Buffer.byteLength(input, 'utf8') : input.length;
  if (bytes > maxBytes) {
    throw new CapRefusal('xml.too-large', `XML of ${bytes} bytes exceeds the limit of ${maxBytes}`);
  }
  let text: string;
  if (typeof input === 'string') {
    text = input.startsWith('\uFEFF') ? input.slice(1) : input;
  } else {
    if (
      (input[0] === 0xff && input[1] === 0xfe) ||
      (input[0] === 0xfe && input[1] === 0xff) ||
      (input[0] === 0x00 && input[1] === 0x3c) ||
      (input[0] === 0x3c && input[1] === 0x00)
    ) {
      throw new CapRefusal('xml.encoding', 'XML is UTF-16; only UTF-8 is accepted');
    }
    const hasBom = UTF8_BOM.every((b, i) => input[i] === b);
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(hasBom ? input.subarray(3) : input);
    } catch {
      throw new CapRefusal('xml.encoding', 'XML is not valid UTF-8');
    }
  }
  // The declaration may name an encoding; anything but UTF-8 means we would read other text.
  const declaration = /^<\?xml\s[^>]*?\?>/.exec(text);
  const encoding = declaration && /\sencoding\s*=\s*["']([^"']*)["']/.exec(declaration[0]);
  if (encoding && !/^utf-?8$/i.test(encoding[1])) {
    throw new CapRefusal('xml.encoding', `XML declares encoding ${encoding[1]}; only UTF-8`);
  }
  return text;
}

/** Characters XML 1.0 forbids (§2.2); xmldom lets them through, and they would reach TTS and logs. */
const NOT_XML_CHAR =
  // eslint-disable-next-line no-control-regex -- matching control characters is the point
  /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

function refuseDangerousText(text: string): void {
  const bad = NOT_XML_CHAR.exec(text);
  if (bad) {
    const code = bad[0].charCodeAt(0).toString(16).toUpperCase().padStart(4, '0');
    throw new CapRefusal('xml.malformed', `XML holds U+${code}, which XML 1.0 does not allow`);
  }
  // Anywhere, even in a comment or CDATA: a receiver has no reason to accept either.
  if (/<!DOCTYPE/i.test(text)) {
    throw new CapRefusal('xml.doctype', 'XML with a DOCTYPE is refused (no DTDs)');
  }
  if (/<!ENTITY/i.test(text)) {
    throw new CapRefusal('xml.doctype', 'XML declaring an ENTITY is refused (no DTDs)');
  }
  if (XINCLUDE_NAMESPACES.some((ns) => text.includes(ns))) {
    throw new CapRefusal('xml.xinclude', 'XML using XInclude is refused');
  }
}

/**
 * Counts elements and nesting in one pass over the text, before xmldom (whose time grows faster
 * than the document) is given it: a pathological document is refused in milliseconds rather than
 * after seconds of blocked event loop. It reads only tags; anything malformed is left for the
 * parser to name, and the DOM walk checks the depth again on what was actually parsed.
 */
function refuseCostlyShape(text: string): void {
  let elements = 0;
  let depth = 0;
  let i = text.indexOf('<');
  while (i >= 0) {
    let end: number;
    if (text.startsWith('<!--', i)) end = endOf(text, '-->', i + 4);
    else if (text.startsWith('<![CDATA[', i)) end = endOf(text, ']]>', i + 9);
    else if (text.startsWith('<?', i)) end = endOf(text, '?>', i + 2);
    else if (text[i + 1] === '!') end = endOf(text, '>', i + 2);
    else if (text[i + 1] === '/') {
      depth--;
      end = endOf(text, '>', i + 2);
    } else {
      end = tagEnd(text, i + 1);
      if (end < 0) return;
      if (++elements > MAX_XML_ELEMENTS)
        throw new CapRefusal('xml.too-large', `XML has more than ${MAX_XML_ELEMENTS} elements`);
      if (text[end - 2] !== '/' && ++depth > MAX_XML_DEPTH)
        throw new CapRefusal('xml.too-large', `XML nests deeper than ${MAX_XML_DEPTH} elements`);
    }
    if (end < 0) return;
    i = text.indexOf('<', end);
  }
}

/** Just past the next `marker` from `from`, or -1. */
function endOf(text: string, marker: string, from: number): number {
  const at = text.indexOf(marker, from);
  return at < 0 ? -1 : at + marker.length;
}

/** Just past the `>` closing a start tag, skipping quoted attribute values, or -1. */
function tagEnd(text: string, from: number): number {
  for (let i = from; i < text.length; i++) {
    const c = text[i];
    if (c === '>') return i + 1;
    if (c === '"' || c === "'") {
      i = text.indexOf(c, i + 1);
      if (i < 0) return -1;
    }
  }
  return -1;
}

function parseStrictly(text: string): Document {
  let doc: Document;
  try {
    doc = new DOMParser({
      onError: (level: string, message: string) => {
        throw new CapRefusal('xml.malformed', `XML ${level}: ${firstLine(message)}`);
      },
    }).parseFromString(text, 'text/xml') as unknown as Document;
  } catch (error) {
    if (error instanceof CapRefusal) throw error;
    throw new CapRefusal('xml.malformed', `XML is malformed: ${firstLine(String(error))}`);
  }
  if (!doc.documentElement) throw new CapRefusal('xml.malformed', 'XML has no root element');
  return doc;
}

function refuseDangerousNodes(doc: Document): void {
  const children = Array.from(doc.childNodes);
  children.forEach((node, index) => {
    // xmldom reports the declaration as a PI named `xml`; it may only come first.
    if (
      node.nodeType === PROCESSING_INSTRUCTION_NODE &&
      !(index === 0 && node.nodeName === 'xml')
    ) {
      throw new CapRefusal(
        'xml.processing-instruction',
        `Processing instruction <?${node.nodeName}?> refused`,
      );
    }
  });
  walk(doc.documentElement, 1);
}

function walk(node: Element, depth: number): void {
  if (depth > MAX_XML_DEPTH) {
    throw new CapRefusal('xml.too-large', `XML nests deeper than ${MAX_XML_DEPTH} elements`);
  }
  if (node.namespaceURI && (XINCLUDE_NAMESPACES as readonly string[]).includes(node.namespaceURI)) {
    throw new CapRefusal('xml.xinclude', 'XML using XInclude is refused');
  }
  for (const child of Array.from(node.childNodes)) {
    if (child.nodeType === PROCESSING_INSTRUCTION_NODE) {
      throw new CapRefusal(
        'xml.processing-instruction',
        `Processing instruction <?${child.nodeName}?> refused`,
      );
    }
    if (child.nodeType === ELEMENT_NODE) walk(child as Element, depth + 1);
  }
}

function firstLine(message: string): string {
  return message.split('\n')[0].slice(0, 200);
}

// ——— small DOM helpers for everybody reading XML ———

/** Child elements of `parent`, optionally only those of a local name and namespace (`null`: none). */
export function childElements(
  parent: Element | Document,
  localName?: string,
  namespace?: string | null,
): Element[] {
  const out: Element[] = [];
  for (const node of Array.from(parent.childNodes)) {
    if (node.nodeType !== ELEMENT_NODE) continue;
    const el = node as Element;
    if (localName !== undefined && el.localName !== localName) continue;
    if (namespace !== undefined && (el.namespaceURI ?? null) !== namespace) continue;
    out.push(el);
  }
  return out;
}

/** The first child element of that local name (and namespace), or null. */
export function childElement(
  parent: Element | Document,
  localName: string,
  namespace?: string | null,
): Element | null {
  return childElements(parent, localName, namespace)[0] ?? null;
}

/** The text content of an element, trimmed. */
export function textOf(el: Element): string {
  return (el.textContent ?? '').trim();
}

/** The trimmed text of the first child of that name, or null when there is none. */
export function childText(
  parent: Element,
  localName: string,
  namespace?: string | null,
): string | null {
  const el = childElement(parent, localName, namespace);
  return el ? textOf(el) : null;
}

/** Every element below `root` (itself included) of that local name and namespace, document order. */
export function descendants(
  root: Element,
  localName: string,
  namespace?: string | null,
): Element[] {
  const out: Element[] = [];
  const visit = (el: Element): void => {
    if (
      el.localName === localName &&
      (namespace === undefined || (el.namespaceURI ?? null) === namespace)
    ) {
      out.push(el);
    }
    for (const child of childElements(el)) visit(child);
  };
  visit(root);
  return out;
}
