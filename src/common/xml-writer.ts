/**
 * A tiny XML element builder for everything Dalaba writes as XML (CAP out, GY/T reports, EBD
 * packages, Atom). Strings given as children are always text and always escaped, so no caller can
 * inject markup by accident; markup only comes from {@link el} (or, deliberately, {@link raw}).
 *
 * ```ts
 * const doc = xmlDocument(
 *   el('alert', { xmlns: 'urn:oasis:names:tc:emergency:cap:1.2' },
 *     el('identifier', {}, id),
 *     info && el('info', {}, el('event', {}, info.event)),
 *   ),
 * );
 * ```
 *
 * Namespaces go by prefix: name the element `ebm:EBM` and declare `xmlns:ebm` as an attribute
 * (see {@link xmlns}); the writer checks names are well-formed but does not resolve prefixes.
 */

/** A built element (or trusted fragment); `toString()` gives its markup. */
export class XmlNode {
  /** @internal use {@link el} or {@link raw}. */
  constructor(readonly markup: string) {}

  toString(): string {
    return this.markup;
  }
}

/** Attribute values: `null`/`undefined` leave the attribute out; numbers and booleans are written as text. */
export type XmlAttrs = Readonly<Record<string, string | number | boolean | null | undefined>>;

/** Children: text (escaped), elements, nested arrays; `null`, `undefined` and `false` are skipped. */
export type XmlChild =
  XmlNode | string | number | bigint | boolean | null | undefined | readonly XmlChild[];

// XML 1.0 Name (ASCII letters plus any non-ASCII, which is what our element names need), with
// one optional prefix.
const NAME =
  /^(?:[A-Za-z_\u00C0-\uFFFF][\w.\-\u00B7-\uFFFF]*:)?[A-Za-z_\u00C0-\uFFFF][\w.\-\u00B7-\uFFFF]*$/u;

// Characters XML 1.0 cannot carry at all, even escaped (C0 controls but tab/LF/CR, lone
// surrogates, U+FFFE/U+FFFF): dropped, because a report must stay well-formed whatever a device
// name or a title contains. Not replaced by U+FFFD: xmldom warns on it, and parseXmlSafely makes
// warnings fatal, so our own output would be refused by our own reader.
const FORBIDDEN =
  // eslint-disable-next-line no-control-regex -- the control characters are what it finds
  /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/gu;

/** `text` as element content: `&`, `<`, `>` escaped (`>` for `]]>`), characters XML forbids dropped. */
export function escapeText(text: string): string {
  return text
    .replace(FORBIDDEN, '')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;');
}

/**
 * `value` as an attribute value in double quotes: also `"` escaped, and tab/CR/LF as character
 * references so attribute-value normalisation on the reading side gives them back unchanged.
 */
export function escapeAttr(value: string): string {
  return escapeText(value)
    .replace(/"/g, '&quot;')
    .replace(/\t/g, '&#9;')
    .replace(/\n/g, '&#10;')
    .replace(/\r/g, '&#13;');
}

function checkName(name: string, what: string): void {
  if (!NAME.test(name)) throw new Error(`xml-writer: invalid ${what} name ${JSON.stringify(name)}`);
}

function appendChildren(out: string[], children: readonly XmlChild[]): void {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (child instanceof XmlNode) out.push(child.markup);
    else if (Array.isArray(child)) appendChildren(out, child as readonly XmlChild[]);
    else out.push(escapeText(String(child as string | number | bigint | boolean)));
  }
}

/**
 * An element `<name attrs>children</name>`; with no (non-skipped) children it is written
 * `<name attrs/>`. Names may carry a prefix (`ebm:EBM`); an invalid name throws (a programming
 * error, never data).
 */
export function el(name: string, attrs: XmlAttrs = {}, ...children: XmlChild[]): XmlNode {
  checkName(name, 'element');
  let open = `<${name}`;
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined) continue;
    checkName(key, 'attribute');
    open += ` ${key}="${escapeAttr(String(value))}"`;
  }
  const inner: string[] = [];
  appendChildren(inner, children);
  return new XmlNode(inner.length === 0 ? `${open}/>` : `${open}>${inner.join('')}</${name}>`);
}

/**
 * Markup used as is, without any check: only for XML this process produced itself or already
 * parsed safely (e.g. an embedded signed CAP document, which must not change by one byte).
 */
export function raw(markup: string): XmlNode {
  return new XmlNode(markup);
}

/** The namespace declaration attribute: `xmlns(uri)` → `{xmlns: uri}`, `xmlns(uri, 'ebm')` → `{'xmlns:ebm': uri}`. */
export function xmlns(uri: string, prefix?: string): Record<string, string> {
  return prefix === undefined ? { xmlns: uri } : { [`xmlns:${prefix}`]: uri };
}

/** A whole document: the UTF-8 XML declaration, a line feed, the root element. */
export function xmlDocument(root: XmlNode): string {
  return `<?xml version="1.0" encoding="UTF-8"?>\n${root.markup}`;
}
