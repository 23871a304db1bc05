/**
 * Which text encoding a CSV upload is in. Excel on Chinese Windows saves "CSV" in GBK (code page
 * 936) without a BOM and "CSV UTF-8" with one; some GBK text is also valid UTF-8 (石坪 is CA AF C6
 * BA, which UTF-8 reads as ʯƺ), so validity alone cannot decide: each reading is also judged by
 * what characters it makes. TextDecoder does the decoding (Node's full ICU has GB18030, a superset
 * of GBK and GB2312), so no conversion library is needed.
 */

/** How the encoding was chosen, in the order they are tried. */
export type EncodingSource = 'bom' | 'parameter' | 'charset' | 'detected';

export interface DecodedText {
  text: string;
  /** The WHATWG name of the encoding, e.g. `utf-8`, `gb18030`, `utf-16le`. */
  encoding: string;
  source: EncodingSource;
}

export interface DecodeFailure {
  /** Names the problem and what to do about it; shown to the person who uploaded the file. */
  message: string;
}

export interface DecodeOptions {
  /** `?encoding=` of the request: the uploader's final word. */
  parameter?: string;
  /** `charset=` of the Content-Type. */
  charset?: string;
}

const BOMS: [number[], string][] = [
  [[0xef, 0xbb, 0xbf], 'utf-8'],
  [[0xff, 0xfe], 'utf-16le'],
  [[0xfe, 0xff], 'utf-16be'],
  [[0x84, 0x31, 0x95, 0x33], 'gb18030'],
];

/** The WHATWG encoding a label names (`gbk` → `gbk`, `GB2312` → `gbk`, `latin1` → `windows-1252`), or null. */
export function encodingOf(label: string): string | null {
  try {
    return new TextDecoder(label.trim()).encoding;
  } catch {
    return null;
  }
}

function strictDecode(bytes: Uint8Array, encoding: string): string | null {
  try {
    // ignoreBOM: the BOM, when there is one, was already cut off and decided the encoding.
    return new TextDecoder(encoding, { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    return null;
  }
}

let commonHan: Set<number> | null = null;

/**
 * The characters of GB2312 from U+2000 on: the 6,763 everyday hanzi and the CJK punctuation that
 * village and device names are written in. Taken from the decoder itself rather than a table.
 */
function commonCharacters(): Set<number> {
  if (commonHan) return commonHan;
  const bytes: number[] = [];
  for (let lead = 0xa1; lead <= 0xf7; lead++)
    for (let trail = 0xa1; trail <= 0xfe; trail++) bytes.push(lead, trail);
  const set = new Set<number>();
  for (const ch of new TextDecoder('gb18030').decode(new Uint8Array(bytes))) {
    const cp = ch.codePointAt(0)!;
    if (cp >= 0x2000 && !(cp >= 0xe000 && cp <= 0xf8ff) && cp !== 0xfffd) set.add(cp);
  }
  commonHan = set;
  return set;
}

/**
 * Characters that a wrong reading makes and real text in a Chinese county's files does not: C1
 * controls, Latin Extended-B, IPA, spacing modifiers and combining marks (what GBK hanzi become
 * when read as UTF-8: 石坪 → ʯƺ, 水泉 → ˮȪ), a few scripts never used there, private use (what
 * GBK's user-defined areas decode to). Pinyin's letters (ǎ ǐ ǒ ǔ ǖ…, ɑ, ɡ) are not among them.
 */
function isImplausible(cp: number): boolean {
  if (cp >= 0x80 && cp <= 0x9f) return true;
  if (cp >= 0x0180 && cp <= 0x036f)
    return !(cp >= 0x01cd && cp <= 0x01dc) && cp !== 0x0251 && cp !== 0x0261;
  if (cp >= 0x0530 && cp <= 0x05ff) return true; // Armenian, Hebrew
  if (cp >= 0x0700 && cp <= 0x08ff) return true; // Syriac, Thaana, NKo, Samaritan…
  if (cp >= 0xe000 && cp <= 0xf8ff) return true;
  return cp === 0xfffd || (cp >= 0xfff0 && cp <= 0xffff);
}

interface Reading {
  text: string;
  /** Characters of GB2312's hanzi and CJK punctuation. */
  common: number;
  /** Characters no correct reading would make. */
  implausible: number;
  /** Other non-ASCII characters: possible (é, °, a rare hanzi), but no evidence either way. */
  other: number;
}

function judge(text: string | null): Reading | null {
  if (text === null) return null;
  const common = commonCharacters();
  const r: Reading = { text, common: 0, implausible: 0, other: 0 };
  for (let i = 0; i < text.length; i++) {
    if (text.charCodeAt(i) < 0x80) continue;
    const cp = text.codePointAt(i)!;
    if (cp > 0xffff) i++;
    if (common.has(cp)) r.common++;
    else if (isImplausible(cp)) r.implausible++;
    else r.other++;
  }
  return r;
}

const clean = (r: Reading | null) => r !== null && r.implausible === 0 && r.other === 0;
const broken = (r: Reading | null) => r === null || r.implausible > 0;

/** Decides between the UTF-8 and the GB18030 reading, or neither (null). */
function choose(utf8: Reading | null, gb: Reading | null): 'utf-8' | 'gb18030' | null {
  if (clean(utf8)) return 'utf-8';
  if (clean(gb) && gb!.common > 0 && broken(utf8)) return 'gb18030';
  if (utf8 && utf8.implausible === 0 && broken(gb)) return 'utf-8';
  if (gb && gb.implausible === 0 && broken(utf8)) return 'gb18030';
  return null;
}

/** 1-based line of the first character `bad` finds, and that line (shortened). */
function firstLine(text: string, bad: (line: string) => boolean): [number, string] | null {
  const lines = text.split('\n');
  const i = lines.findIndex(bad);
  return i < 0 ? null : [i + 1, shorten(lines[i])];
}

function shorten(line: string): string {
  const t = line.replace(/\r$/, '');
  return t.length > 60 ? `${t.slice(0, 60)}…` : t;
}

const SAVE_AS = 'In Excel, save it as "CSV UTF-8 (逗号分隔)" and upload it again';

/**
 * Decodes an uploaded CSV: a BOM decides first, then `?encoding=`, then the Content-Type's
 * `charset=`, then detection (UTF-8 or GB18030, judged by the characters each reading makes).
 * What cannot be decoded with confidence is refused with a message naming the problem: text is
 * never guessed into mojibake.
 */
export function decodeCsvBytes(
  bytes: Uint8Array,
  options: DecodeOptions = {},
): DecodedText | DecodeFailure {
  for (const [bom, encoding] of BOMS) {
    if (bom.every((b, i) => bytes[i] === b)) {
      const text = strictDecode(bytes.subarray(bom.length), encoding);
      if (text !== null) return { text, encoding, source: 'bom' };
      return invalidIn(
        bytes.subarray(bom.length),
        encoding,
        `its byte-order mark says ${encoding}`,
      );
    }
  }

  if (options.parameter !== undefined) {
    const encoding = encodingOf(options.parameter);
    if (!encoding) return { message: `Unknown encoding "${options.parameter}"` };
    const text = strictDecode(bytes, encoding);
    if (text !== null) return { text, encoding, source: 'parameter' };
    return invalidIn(bytes, encoding, `?encoding=${options.parameter} says so`);
  }

  const declared = options.charset !== undefined ? encodingOf(options.charset) : null;
  if (options.charset !== undefined && !declared)
    return { message: `Unknown charset "${options.charset}" in the Content-Type` };
  const utf8 = !declared || declared === 'utf-8' ? judge(strictDecode(bytes, 'utf-8')) : null;
  // A clean UTF-8 reading decides alone: no need to read the file a second time.
  if (clean(utf8))
    return { text: utf8!.text, encoding: 'utf-8', source: declared ? 'charset' : 'detected' };
  const gb = judge(strictDecode(bytes, 'gb18030'));

  if (declared && declared !== 'utf-8') {
    const reading =
      declared === 'gb18030' || declared === 'gbk' ? gb : judge(strictDecode(bytes, declared));
    if (!reading) return invalidIn(bytes, declared, `its charset says ${options.charset}`);
    if (reading.implausible === 0)
      return { text: reading.text, encoding: declared, source: 'charset' };
    return unlikely(reading, declared, `its charset says ${options.charset}`);
  }

  const chosen = choose(utf8, gb);
  if (chosen === 'utf-8')
    return { text: utf8!.text, encoding: 'utf-8', source: declared ? 'charset' : 'detected' };
  if (chosen === 'gb18030' && !declared)
    return { text: gb!.text, encoding: 'gb18030', source: 'detected' };
  if (chosen === 'gb18030') {
    const line = differingLine(utf8, gb);
    return {
      message:
        `The Content-Type says UTF-8, but line ${line.number} reads "${line.utf8}" in UTF-8 and ` +
        `"${line.gb}" in GBK: the file looks like GBK. Send it with ?encoding=gb18030 or without ` +
        `the charset. ${SAVE_AS}`,
    };
  }
  if (!utf8 && !gb) {
    const lossy = new TextDecoder('utf-8').decode(bytes);
    const [line, text] = firstLine(lossy, (l) => l.includes('\uFFFD')) ?? [1, ''];
    return {
      message:
        `The file is neither UTF-8 nor GBK/GB18030 text (line ${line}: "${text}"). ` +
        `${SAVE_AS}, or name its encoding with ?encoding=`,
    };
  }
  const line = differingLine(utf8, gb);
  return {
    message:
      `The file's encoding is unclear: line ${line.number} reads "${line.utf8}" as UTF-8 and ` +
      `"${line.gb}" as GBK. ${SAVE_AS}, or say which with ?encoding=utf-8 or ?encoding=gb18030`,
  };
}

/** The first line where the two readings differ (lines match up: `\n` is one byte in both). */
function differingLine(
  utf8: Reading | null,
  gb: Reading | null,
): { number: number; utf8: string; gb: string } {
  const a = (utf8?.text ?? '').split('\n');
  const b = (gb?.text ?? '').split('\n');
  let i = 0;
  while (i < Math.min(a.length, b.length) - 1 && a[i] === b[i]) i++;
  return {
    number: i + 1,
    utf8: utf8 ? shorten(a[i] ?? '') : '(not valid UTF-8)',
    gb: gb ? shorten(b[i] ?? '') : '(not valid GBK)',
  };
}

function invalidIn(bytes: Uint8Array, encoding: string, why: string): DecodeFailure {
  const lossy = new TextDecoder(encoding, { ignoreBOM: true }).decode(bytes);
  const [line, text] = firstLine(lossy, (l) => l.includes('\uFFFD')) ?? [1, ''];
  return {
    message: `The file is not valid ${encoding} text although ${why} (line ${line}: "${text}"). ${SAVE_AS}`,
  };
}

function unlikely(reading: Reading, encoding: string, why: string): DecodeFailure {
  const [line, text] = firstLine(reading.text, (l) => judge(l)!.implausible > 0) ?? [1, ''];
  return {
    message:
      `Read as ${encoding} (${why}), line ${line} becomes "${text}": that is not the file's encoding. ` +
      `${SAVE_AS}, or name its encoding with ?encoding=`,
  };
}
