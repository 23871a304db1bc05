import assert from 'node:assert/strict';
import { describe, it } from '@jest/globals';
import { ConfigError, loadConfig } from '../config/app-config.js';
import { parseVoiceList, wordsPerMinute } from './espeak-engine.js';
import { chooseEngine } from './tts.service.js';

const config = (env: Record<string, string>) =>
  loadConfig({ PATH: '/usr/local/bin:/usr/bin:/bin', ...env }, '/srv/dalaba');

describe('TTS settings', () => {
  it('default to auto, JSON, 60 s and two at once', () => {
    const { tts } = config({});
    assert.equal(tts.engine, 'auto');
    assert.equal(tts.http.format, 'json');
    assert.deepEqual(tts.http.voices, []);
    assert.equal(tts.timeoutMs, 60_000);
    assert.equal(tts.concurrency, 2);
  });

  it('refuse the HTTP engine without its URL, and never echo the token', () => {
    assert.throws(() => config({ TTS_ENGINE: 'http' }), ConfigError);
    try {
      config({ TTS_HTTP_TOKEN: 'has a space secret', TTS_VOICE: '-x' });
      assert.fail('accepted');
    } catch (err) {
      assert.ok(err instanceof ConfigError);
      assert.equal(err.problems.length, 2);
      assert.ok(err.problems.some((p) => p.startsWith('TTS_HTTP_TOKEN:')));
      assert.ok(!err.message.includes('secret'), err.message);
    }
  });

  it('read the speech server voices as a list', () => {
    assert.deepEqual(config({ TTS_HTTP_VOICES: ' xiaoyan, xiaofeng ' }).tts.http.voices, [
      'xiaoyan',
      'xiaofeng',
    ]);
  });
});

describe('chooseEngine', () => {
  it('is none when turned off, saying how to turn it on', async () => {
    const chosen = await chooseEngine(config({ TTS_ENGINE: 'none' }));
    assert.equal(chosen.engine, null);
    assert.match(chosen.reason!, /TTS_ENGINE=none.*TTS_ENGINE=auto/);
  });

  it('takes the speech server in auto when TTS_HTTP_URL is set', async () => {
    const chosen = await chooseEngine(config({ TTS_HTTP_URL: 'http://127.0.0.1:9/tts' }));
    assert.equal(chosen.engine?.name, 'http');
    assert.equal(chosen.engine?.describe(), 'speech server at 127.0.0.1:9 (json)');
  });

  it('takes espeak-ng from PATH in auto, and none when there is none', async () => {
    const found = await chooseEngine(config({}));
    assert.equal(found.engine?.name, 'espeak-ng');
    assert.equal(await found.engine?.available(), null);
    const none = await chooseEngine(config({ PATH: '/nonexistent' }));
    assert.equal(none.engine, null);
    assert.match(none.reason!, /TTS_HTTP_URL is unset and no espeak-ng on PATH.*apt-get install/);
  });

  it('keeps espeak-ng when it is asked for by name but missing: unavailable, with the reason', async () => {
    const chosen = await chooseEngine(
      config({ TTS_ENGINE: 'espeak-ng', TTS_ESPEAK_PATH: '/bin/true' }),
    );
    assert.equal(chosen.engine?.name, 'espeak-ng');
    assert.match(
      (await chosen.engine?.available())!,
      /TTS_ESPEAK_PATH=\/bin\/true is not an espeak-ng/,
    );
  });

  it('refuses a default voice espeak-ng does not have', async () => {
    const chosen = await chooseEngine(config({ TTS_VOICE: 'klingon' }));
    assert.equal(chosen.engine, null);
    assert.match(chosen.reason!, /no voice "klingon" \(TTS_VOICE\)/);
  });
});

describe('espeak-ng arguments', () => {
  it('turns a relative speed into words a minute within what espeak-ng takes', () => {
    assert.equal(wordsPerMinute(1, 'en'), 175);
    assert.equal(wordsPerMinute(0.5, 'en'), 88);
    assert.equal(wordsPerMinute(2, 'en'), 350);
    assert.equal(wordsPerMinute(0.1, 'en'), 80);
  });

  it('speaks the Chinese voices faster than espeak-ng does (3.6 characters a second) at speed 1', () => {
    for (const voice of ['cmn', 'cmn-latn-pinyin', 'yue', 'hak']) {
      assert.equal(wordsPerMinute(1, voice), 225, voice);
    }
    assert.equal(wordsPerMinute(0.5, 'cmn'), 113);
    assert.equal(wordsPerMinute(2, 'cmn'), 450);
    assert.equal(wordsPerMinute(1, 'cmnx'), 175);
  });

  it('reads the language column of `espeak-ng --voices`', () => {
    const out = [
      'Pty Language       Age/Gender VoiceName          File                 Other Languages',
      ' 5  cmn             --/M      Chinese_(Mandarin,_latin_as_English) sit/cmn              (zh-cmn 5)(zh 5)',
      ' 5  yue             --/M      Chinese_(Cantonese) sit/yue              (zh-yue 5)(zh 8)',
      '',
    ].join('\n');
    assert.deepEqual(parseVoiceList(out), ['cmn', 'yue']);
  });
});
