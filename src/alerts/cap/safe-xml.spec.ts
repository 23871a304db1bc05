import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, it } from '@jest/globals';
import { CapRefusal } from './cap-model.js';
import {
  childElement,
  childElements,
  childText,
  descendants,
  MAX_XML_ELEMENTS,
  parseXmlSafely,
  readXmlSafely,
} from './safe-xml.js';

const fixture = (name: string): Buffer =>
  readFileSync(fileURLToPath(new URL(`../../../../test/fixtures/cap/${name}`, import.meta.url)));

const limits = { maxBytes: 65536 };

/** The rule a parse is refused under, or `accepted`. */
function ruleOf(input: Buffer | string, o = limits): string {
  try {
    parseXmlSafely(input, o);
    return 'accepted';
  } catch (error) {
    assert.ok(error instanceof CapRefusal, `a CapRefusal, not ${String(error)}`);
    return error.rule;
  }
}

describe('parseXmlSafely', () => {
  it('reads UTF-8 with and without BOM and keeps Chinese text', () => {
    const xml = '<?xml version="1.0" encoding="UTF-8"?><a><b>东沟村</b></a>';
    for (const input of [
      xml,
      Buffer.from(xml),
      Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(xml)]),
    ]) {
      const doc = parseXmlSafely(input, limits);
      assert.equal(childText(doc.documentElement!, 'b'), '东沟村');
    }
    assert.equal(readXmlSafely(`\uFEFF${xml}`, limits).text, xml);
  });

  it('refuses an XXE attempt and a billion-laughs attempt before parsing', () => {
    assert.equal(ruleOf(fixture('xxe.xml')), 'xml.doctype');
    assert.equal(ruleOf(fixture('billion-laughs.xml')), 'xml.doctype');
    // Anywhere, in any case, even hidden in a comment.
    assert.equal(ruleOf('<a><!-- <!doctype x> --></a>'), 'xml.doctype');
    assert.equal(ruleOf('<a><![CDATA[<!ENTITY x "y">]]></a>'), 'xml.doctype');
  });

  it('refuses XInclude, by namespace in the text or on an element', () => {
    const xi =
      '<a xmlns:xi="http://www.w3.org/2001/XInclude"><xi:include href="file:///etc/passwd"/></a>';
    assert.equal(ruleOf(xi), 'xml.xinclude');
    assert.equal(
      ruleOf('<a><include xmlns="http://www.w3.org/2003/XInclude" href="x"/></a>'),
      'xml.xinclude',
    );
  });

  it('allows the XML declaration only, refusing every other processing instruction', () => {
    assert.equal(ruleOf('<?xml version="1.0"?><a/>'), 'accepted');
    assert.equal(
      ruleOf('<?xml version="1.0"?><?xml-stylesheet href="x.xsl"?><a/>'),
      'xml.processing-instruction',
    );
    assert.equal(ruleOf('<a><?php echo 1; ?></a>'), 'xml.processing-instruction');
    assert.equal(ruleOf('<a/><?after x?>'), 'xml.processing-instruction');
  });

  it('refuses what is too large, by bytes not characters', () => {
    const xml = `<a>${'东'.repeat(100)}</a>`; // 307 bytes, 107 characters
    assert.equal(ruleOf(xml, { maxBytes: 306 }), 'xml.too-large');
    assert.equal(ruleOf(Buffer.from(xml), { maxBytes: 306 }), 'xml.too-large');
    assert.equal(ruleOf(xml, { maxBytes: 307 }), 'accepted');
  });

  it('refuses nesting deeper than any alert needs', () => {
    assert.equal(ruleOf(`${'<a>'.repeat(65)}${'</a>'.repeat(65)}`), 'xml.too-large');
    assert.equal(ruleOf(`${'<a>'.repeat(64)}${'</a>'.repeat(64)}`), 'accepted');
  });

  it('refuses deep nesting and too many elements before parsing, in milliseconds', () => {
    // Parsed by xmldom first, the deep one took 1.5–2.4 s and the flat one 6 s.
    const deep = `${'<a>'.repeat(34_000)}${'</a>'.repeat(34_000)}`; // 232 KiB
    const many = `<r>${'<e x="a>b"/>'.repeat(80_000)}</r>`; // 1 MiB
    for (const xml of [deep, many]) {
      const started = performance.now();
      assert.equal(ruleOf(xml, { maxBytes: 2 * 1024 * 1024 }), 'xml.too-large');
      const ms = performance.now() - started;
      assert.ok(ms < 500, `refused after ${ms.toFixed(0)} ms`);
    }
    const elements = (n: number) => `<r>${'<e/>'.repeat(n - 1)}</r>`;
    assert.equal(
      ruleOf(elements(MAX_XML_ELEMENTS + 1), { maxBytes: 1024 * 1024 }),
      'xml.too-large',
    );
    assert.equal(ruleOf(elements(MAX_XML_ELEMENTS), { maxBytes: 1024 * 1024 }), 'accepted');
    // What is not a tag is not counted: comments, CDATA, '>' in an attribute value.
    const hidden = `<!-- ${'<a>'.repeat(100)} --><r a="x>y"><![CDATA[${'<a>'.repeat(100)}]]></r>`;
    assert.equal(ruleOf(hidden), 'accepted');
  });

  it('refuses other encodings: UTF-16, bytes that are not UTF-8, another declared encoding', () => {
    assert.equal(ruleOf(Buffer.from('\uFEFF<a/>', 'utf16le')), 'xml.encoding');
    assert.equal(
      ruleOf(Buffer.from([0x3c, 0x61, 0x3e, 0xb6, 0xab, 0x3c, 0x2f, 0x61, 0x3e])),
      'xml.encoding',
    ); // GBK 东
    assert.equal(ruleOf('<?xml version="1.0" encoding="GB2312"?><a/>'), 'xml.encoding');
    assert.equal(ruleOf("<?xml version='1.0' encoding='utf8'?><a/>"), 'accepted');
  });

  it('makes every parser error or warning fatal', () => {
    assert.equal(ruleOf('<a><b></a>'), 'xml.malformed');
    assert.equal(ruleOf('<a>&undefined;</a>'), 'xml.malformed');
    assert.equal(ruleOf('<a x="1" x="2"/>'), 'xml.malformed');
    assert.equal(ruleOf(''), 'xml.malformed');
    assert.equal(ruleOf('just text'), 'xml.malformed');
    assert.equal(ruleOf('<a/><b/>'), 'xml.malformed');
    // Characters XML 1.0 forbids, which xmldom alone would let through.
    for (const bad of ['\u0001', '\u001B', '\uFFFF', '\uD800', 'x\uDC00']) {
      assert.equal(ruleOf(`<a>${bad}</a>`), 'xml.malformed', JSON.stringify(bad));
    }
    assert.equal(ruleOf('<a>\t\r\n😀</a>'), 'accepted');
  });
});

describe('DOM helpers', () => {
  it('select child elements by local name and namespace, and read trimmed text', () => {
    const doc = parseXmlSafely(
      '<r xmlns="urn:x" xmlns:o="urn:o"><k> 1 </k><o:k>2</o:k><k>3<k>4</k></k><!-- c --></r>',
      limits,
    );
    const root = doc.documentElement!;
    assert.deepEqual(
      childElements(root, 'k', 'urn:x').map((e) => e.firstChild?.nodeValue),
      [' 1 ', '3'],
    );
    assert.equal(childElements(root).length, 3);
    assert.equal(childText(root, 'k', 'urn:o'), '2');
    assert.equal(childText(root, 'k', 'urn:x'), '1');
    assert.equal(childElement(root, 'missing'), null);
    assert.equal(childText(root, 'missing'), null);
    assert.equal(descendants(root, 'k', 'urn:x').length, 3);
  });
});
