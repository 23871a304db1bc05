import assert from 'node:assert/strict';
import { describe, it } from '@jest/globals';
import { decodeCsvBytes, DecodedText, DecodeFailure } from './csv-encoding.js';

/** GBK bytes as Excel on Chinese Windows writes them (code page 936), checked below. */
const GBK = {
  石坪: [0xca, 0xaf, 0xc6, 0xba], // also valid UTF-8: ʯ (U+02AF) ƺ (U+01BA)
  水泉: [0xcb, 0xae, 0xc8, 0xaa], // also valid UTF-8: ˮ (U+02EE) Ȫ (U+022A)
  东沟村: [0xb6, 0xab, 0xb9, 0xb5, 0xb4, 0xe5], // not valid UTF-8
  乾佑街道: [0xc7, 0xac, 0xd3, 0xd3, 0xbd, 0xd6, 0xb5, 0xc0],
};

const bytes = (...parts: (string | number[])[]) =>
  Buffer.concat(
    parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'utf8') : Buffer.from(p))),
  );

const ok = (r: DecodedText | DecodeFailure): DecodedText => {
  assert.ok('text' in r, `expected text, got: ${'message' in r ? r.message : ''}`);
  return r;
};
const refused = (r: DecodedText | DecodeFailure): string => {
  assert.ok('message' in r, `expected a refusal, got ${'text' in r ? r.encoding : ''}`);
  return r.message;
};

describe('decodeCsvBytes', () => {
  it('uses the GBK bytes the tests rely on', () => {
    for (const [text, b] of Object.entries(GBK))
      assert.equal(new TextDecoder('gbk').decode(Buffer.from(b)), text);
    assert.equal(Buffer.from(GBK.石坪).toString('utf8'), 'ʯƺ');
    assert.equal(Buffer.from(GBK.水泉).toString('utf8'), 'ˮȪ');
  });

  it('reads GBK that also happens to be valid UTF-8 as GBK, never as ʯƺ', () => {
    for (const name of ['石坪', '水泉'] as const) {
      const file = bytes('code,name,town_code\n610555100201,', GBK[name], ',610555100\n');
      assert.equal(file.toString('utf8').includes(name), false, 'the UTF-8 reading is mojibake');
      const r = ok(decodeCsvBytes(file));
      assert.equal(r.encoding, 'gb18030');
      assert.equal(r.source, 'detected');
      assert.match(r.text, new RegExp(name));
    }
    const both = bytes('name\n', GBK.石坪, '\n', GBK.水泉, '\n');
    assert.equal(ok(decodeCsvBytes(both)).text, 'name\n石坪\n水泉\n');
  });

  it('reads GBK that is not valid UTF-8 as GBK', () => {
    const r = ok(decodeCsvBytes(bytes('name,town\n', GBK.东沟村, ',', GBK.乾佑街道, '\n')));
    assert.deepEqual([r.encoding, r.text], ['gb18030', 'name,town\n东沟村,乾佑街道\n']);
  });

  it('reads UTF-8 with or without BOM, including pinyin, é and rare hanzi', () => {
    const text = 'name,notes\n石坪村,Shípíng Cūn ǚ café 33.68°\n𠀾岔村,“一组”\n';
    const plain = ok(decodeCsvBytes(Buffer.from(text)));
    assert.deepEqual([plain.encoding, plain.source, plain.text], ['utf-8', 'detected', text]);
    const bom = ok(decodeCsvBytes(bytes([0xef, 0xbb, 0xbf], text)));
    assert.deepEqual([bom.encoding, bom.source, bom.text], ['utf-8', 'bom', text]);
    assert.equal(ok(decodeCsvBytes(Buffer.from('code,name\n1,a\n'))).encoding, 'utf-8');
  });

  it('reads UTF-16 with its BOM (Excel "Unicode Text")', () => {
    const le = ok(decodeCsvBytes(bytes([0xff, 0xfe], [...Buffer.from('石坪\n', 'utf16le')])));
    assert.deepEqual([le.encoding, le.text], ['utf-16le', '石坪\n']);
  });

  it('follows charset= and ?encoding=, refusing bytes that are not valid in them', () => {
    const gbkFile = bytes('name\n', GBK.石坪, '\n');
    const viaCharset = ok(decodeCsvBytes(gbkFile, { charset: 'gbk' }));
    assert.deepEqual([viaCharset.text, viaCharset.source], ['name\n石坪\n', 'charset']);
    const viaParameter = ok(decodeCsvBytes(gbkFile, { parameter: 'GB2312', charset: 'utf-8' }));
    assert.deepEqual([viaParameter.text, viaParameter.source], ['name\n石坪\n', 'parameter']);
    // The uploader's explicit word wins even over the judgement of the characters.
    assert.equal(ok(decodeCsvBytes(gbkFile, { parameter: 'utf-8' })).text, 'name\nʯƺ\n');
    assert.match(refused(decodeCsvBytes(gbkFile, { parameter: 'klingon' })), /Unknown encoding/);
    assert.match(refused(decodeCsvBytes(gbkFile, { charset: 'klingon' })), /Unknown charset/);
    const utf8File = Buffer.from('name\n石坪\n');
    assert.match(
      refused(decodeCsvBytes(Buffer.from([0x6e, 0x0a, 0xe9, 0x0a]), { parameter: 'utf-8' })),
      /not valid utf-8 text.*line 2/,
    );
    assert.match(
      refused(decodeCsvBytes(bytes('name\n', [0x81, 0x0a]), { charset: 'gbk' })),
      /not valid gbk text/,
    );
    assert.equal(ok(decodeCsvBytes(utf8File, { charset: 'utf-8' })).source, 'charset');
  });

  it('refuses a GBK file labelled UTF-8, naming both readings', () => {
    const message = refused(
      decodeCsvBytes(bytes('code,name\n1,', GBK.水泉, '\n'), { charset: 'UTF-8' }),
    );
    assert.match(message, /line 2 reads "1,ˮȪ" in UTF-8 and "1,水泉" in GBK/);
    assert.match(message, /\?encoding=gb18030/);
  });

  it('refuses what is neither UTF-8 nor GB18030, and what reads plausibly either way', () => {
    // Latin-1 "café\n": 0xE9 then a newline is valid in neither.
    const latin1 = refused(decodeCsvBytes(Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x0a])));
    assert.match(latin1, /neither UTF-8 nor GBK\/GB18030.*line 1/);
    assert.match(latin1, /CSV UTF-8/);
    // "Café" in UTF-8 is "Caf茅" in GBK: both plausible, so nobody can tell.
    const unclear = refused(decodeCsvBytes(Buffer.from('name\nCafé\n')));
    assert.match(unclear, /unclear: line 2 reads "Café" as UTF-8 and "Caf茅" as GBK/);
  });
});
