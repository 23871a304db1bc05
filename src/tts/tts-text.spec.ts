import assert from 'node:assert/strict';
import { describe, it } from '@jest/globals';
import { DomainError } from '../common/domain-error.js';
import {
  audioExtension,
  speakableText,
  SynthesisSlots,
  titleFromText,
  TTS_MAX_CHARS,
} from './tts-text.js';

function refusal(raw: unknown): string {
  try {
    speakableText(raw);
  } catch (err) {
    assert.ok(err instanceof DomainError);
    assert.equal(err.code, 'TTS_TEXT_INVALID');
    assert.equal(err.status, 400);
    return err.message;
  }
  assert.fail(`${JSON.stringify(raw)} was accepted`);
}

describe('speakableText', () => {
  it('trims each line, makes runs of spaces one, and drops blank lines', () => {
    assert.equal(
      speakableText('  暴雨红色预警 \r\n\r\n\t请 \t 立即转移。  \n'),
      '暴雨红色预警\n请 立即转移。',
    );
  });

  it('counts characters, not UTF-16 units, after trimming: 2000 go, 2001 do not', () => {
    assert.equal([...speakableText(` ${'雨'.repeat(TTS_MAX_CHARS)} `)].length, TTS_MAX_CHARS);
    // Outside the Basic Multilingual Plane a character is two UTF-16 units.
    assert.equal(speakableText('𠮷'.repeat(TTS_MAX_CHARS)).length, 2 * TTS_MAX_CHARS);
    assert.match(refusal('雨'.repeat(TTS_MAX_CHARS + 1)), /2001 characters; at most 2000/);
  });

  it('refuses control characters other than tabs and line breaks', () => {
    for (const c of ['\u0000', '\u0007', '\u001b', '\u007f', '\u0085'])
      assert.match(refusal(`请注意${c}`), /control characters/);
  });

  it('refuses what is empty, has nothing to speak, or is not a string', () => {
    assert.match(refusal(' \n\t '), /empty/);
    assert.match(refusal('。。。！？'), /no letter or digit/);
    assert.match(refusal(42), /must be a string/);
    assert.equal(speakableText('110'), '110', 'digits are spoken');
  });
});

describe('titleFromText', () => {
  it('is the text on one line, cut at 60 characters', () => {
    assert.equal(titleFromText('停电通知\n明天停电'), '停电通知 明天停电');
    const title = titleFromText('雨'.repeat(100));
    assert.equal([...title].length, 61);
    assert.ok(title.endsWith('…'));
  });
});

describe('audioExtension', () => {
  it('tells WAV, OGG and MP3 (with or without ID3) from their first bytes', () => {
    assert.equal(audioExtension(Buffer.from('RIFF\x24\x00\x00\x00WAVE', 'latin1')), 'wav');
    assert.equal(audioExtension(Buffer.from('OggS\x00\x02', 'latin1')), 'ogg');
    assert.equal(audioExtension(Buffer.from('ID3\x04\x00', 'latin1')), 'mp3');
    assert.equal(audioExtension(Buffer.from([0xff, 0xfb, 0x90, 0x64])), 'mp3');
    assert.equal(audioExtension(Buffer.from('{"error":1}')), null);
  });
});

describe('SynthesisSlots', () => {
  it('runs at most its size at once, then urgent waiters first, each in arrival order', async () => {
    const slots = new SynthesisSlots(1);
    const order: string[] = [];
    const first = await slots.take(false);
    const waiting = [
      ['routine 1', false],
      ['urgent 1', true],
      ['routine 2', false],
      ['urgent 2', true],
    ].map(([name, urgent]) =>
      slots.take(urgent as boolean).then((release) => {
        order.push(name as string);
        release();
      }),
    );
    assert.deepEqual(slots.load, { running: 1, waiting: 4 });
    first();
    first(); // giving a slot back twice frees it once
    await Promise.all(waiting);
    assert.deepEqual(order, ['urgent 1', 'urgent 2', 'routine 1', 'routine 2']);
    assert.deepEqual(slots.load, { running: 0, waiting: 0 });
  });
});
