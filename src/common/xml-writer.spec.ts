import assert from 'node:assert/strict';
import { describe, it } from '@jest/globals';
import { DOMParser } from '@xmldom/xmldom';
import { el, escapeAttr, escapeText, raw, xmlDocument, xmlns } from './xml-writer.js';

function parse(xml: string): Document {
  const errors: string[] = [];
  const doc = new DOMParser({
    onError: (level, message) => void errors.push(`${level}: ${message}`),
  }).parseFromString(xml, 'text/xml');
  assert.deepEqual(errors, []);
  return doc as unknown as Document;
}

describe('xml-writer', () => {
  it('escapes text so that markup in data stays text', () => {
    const xml = xmlDocument(el('title', {}, '<b>Fish & chips</b> ]]> "q"'));
    assert.equal(
      xml,
      '<?xml version="1.0" encoding="UTF-8"?>\n<title>&lt;b&gt;Fish &amp; chips&lt;/b&gt; ]]&gt; "q"</title>',
    );
    assert.equal(parse(xml).documentElement!.textContent, '<b>Fish & chips</b> ]]> "q"');
  });

  it('escapes attributes, keeps tabs and line breaks, leaves out null and undefined', () => {
    const value = 'a"b<c>&d\te\nf\rg';
    const xml = el('x', { v: value, n: 3, b: true, gone: null, also: undefined }).toString();
    assert.equal(xml, `<x v="${escapeAttr(value)}" n="3" b="true"/>`);
    const root = parse(xml).documentElement!;
    assert.equal(root.getAttribute('v'), value);
    assert.equal(root.hasAttribute('gone'), false);
  });

  it('nests elements, flattens arrays and skips null, undefined and false children', () => {
    const items = ['一', '二'];
    const xml = el(
      'list',
      {},
      items.map((t) => el('item', {}, t)),
      null,
      undefined,
      false,
      el('n', {}, 0),
    ).toString();
    assert.equal(xml, '<list><item>一</item><item>二</item><n>0</n></list>');
  });

  it('writes an element with nothing in it as self-closing', () => {
    assert.equal(el('empty', { a: 'b' }, null, []).toString(), '<empty a="b"/>');
  });

  it('declares namespaces by prefix and keeps prefixed names', () => {
    const xml = xmlDocument(el('e:EBM', xmlns('urn:test', 'e'), el('e:Id', {}, '1')));
    const root = parse(xml).documentElement!;
    assert.equal(root.namespaceURI, 'urn:test');
    assert.equal(root.localName, 'EBM');
    assert.deepEqual(el('a', xmlns('urn:x')).toString(), '<a xmlns="urn:x"/>');
  });

  it('drops characters XML cannot carry so the document stays well-formed', () => {
    assert.equal(escapeText('a\u0001b\uD800c\u{1F600}\uFFFF'), 'abc\u{1F600}');
    parse(el('x', { a: '\u0000' }, '\u001F').toString());
  });

  it('refuses invalid element and attribute names', () => {
    assert.throws(() => el('a b'), /invalid element name/);
    assert.throws(() => el('<x'), /invalid element name/);
    assert.throws(() => el('ok', { 'x"y': '1' }), /invalid attribute name/);
  });

  it('keeps raw fragments unchanged', () => {
    assert.equal(el('w', {}, raw('<a>&amp;</a>')).toString(), '<w><a>&amp;</a></w>');
  });
});
