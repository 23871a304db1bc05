import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { beforeAll, describe, it } from '@jest/globals';
import { DASHBOARD_CONTRACT_FILE, renderDashboardContract } from '../src/contract/dashboard.js';
import { decode } from '../src/contract/decode.js';
import { DEVICE_TYPES } from '../src/contract/device.js';
import { renderProtocolDoc, schemaFiles } from '../src/contract/docs.js';
import { FAILURE_REASONS } from '../src/contract/failure-reasons.js';
import { SECURITY_REASONS } from '../src/contract/security-reasons.js';
import { COMMAND_REJECTIONS } from '../src/contract/signing.js';
import {
  DELIVERY_ENDINGS,
  DELIVERY_PROGRESS,
  LEVELS,
  MESSAGES,
  MessageType,
} from '../src/contract/messages.js';
import { MQTT_REJECTIONS } from '../src/metrics/metrics.service.js';
import { ROOT } from './support/cli.js';

const FIX = 'run "npm run docs:contract" and commit the result';

describe('the published contract matches the code', () => {
  it('docs/schemas holds exactly the JSON Schema of every message', async () => {
    const dir = join(ROOT, 'docs/schemas');
    const expected = schemaFiles();
    assert.deepEqual((await readdir(dir)).sort(), Object.keys(expected).sort(), FIX);
    for (const [name, text] of Object.entries(expected)) {
      assert.equal(await readFile(join(dir, name), 'utf8'), text, `${name} is out of date: ${FIX}`);
    }
  });

  it('the generated tables of docs/protocol.md are current', async () => {
    const doc = await readFile(join(ROOT, 'docs/protocol.md'), 'utf8');
    assert.equal(renderProtocolDoc(doc), doc, FIX);
  });

  it('every JSON example in docs/protocol.md is a valid message, and every type has one', async () => {
    const doc = await readFile(join(ROOT, 'docs/protocol.md'), 'utf8');
    const examples = [...doc.matchAll(/```json\n([\s\S]*?)```/g)].map((m) => m[1]);
    const seen = new Set<string>();
    for (const text of examples) {
      const type = (JSON.parse(text) as { type: MessageType }).type;
      const result = decode(MESSAGES[type].kind, text);
      assert.ok(result.ok, `example of ${type} is invalid: ${!result.ok && result.detail}`);
      seen.add(type);
    }
    assert.deepEqual([...seen].sort(), Object.keys(MESSAGES).sort());
  });

  it('docs/protocol.md explains every reason the server counts a rejection for', async () => {
    const doc = await readFile(join(ROOT, 'docs/protocol.md'), 'utf8');
    for (const reason of MQTT_REJECTIONS)
      assert.ok(doc.includes(`\`${reason}\``), `${reason} is documented`);
  });
});

describe('the dashboard uses the contract, not copies of it', () => {
  const file = join(ROOT, DASHBOARD_CONTRACT_FILE);

  it('web/lib/contract.js is current', async () => {
    assert.equal(await readFile(file, 'utf8'), renderDashboardContract(), FIX);
  });

  it('web/lib/contract.js evaluates to the contract’s values', async () => {
    const web = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
    assert.deepEqual(web.LEVELS, [...LEVELS]);
    assert.deepEqual(web.DEVICE_TYPES, [...DEVICE_TYPES]);
    assert.deepEqual(web.DELIVERY_PROGRESS, [...DELIVERY_PROGRESS]);
    assert.deepEqual(web.DELIVERY_ENDINGS, [...DELIVERY_ENDINGS]);
    assert.deepEqual(
      web.FAILURE_REASONS,
      FAILURE_REASONS.map(({ code, zh, en }) => ({ code, zh, en })),
    );
    assert.deepEqual(web.SECURITY_REASONS, SECURITY_REASONS);
  });

  describe('its texts (web/i18n.js)', () => {
    type I18n = {
      setLang(lang: string): void;
      hasText(key: string): boolean;
      t(key: string): string;
    };
    let i18n: I18n;
    beforeAll(async () => {
      // i18n.js runs in a browser: it keeps the language in localStorage and sets <html lang>.
      const stored = new Map<string, string>();
      Object.assign(globalThis, {
        localStorage: {
          getItem: (k: string) => stored.get(k) ?? null,
          setItem: (k: string, v: string) => stored.set(k, v),
        },
        document: { documentElement: {} },
      });
      i18n = (await import(pathToFileURL(join(ROOT, 'web/i18n.js')).href)) as I18n;
    });

    it('name every failure code in the contract’s words, in both languages', () => {
      for (const lang of ['zh', 'en'] as const) {
        i18n.setLang(lang);
        for (const r of FAILURE_REASONS) assert.equal(i18n.t(`failure.${r.code}`), r[lang]);
      }
    });

    it('name every security event code in the contract’s words, in both languages', () => {
      const codes = SECURITY_REASONS.map((r) => r.code as string);
      for (const reason of COMMAND_REJECTIONS) assert.ok(codes.includes(reason), reason);
      for (const lang of ['zh', 'en'] as const) {
        i18n.setLang(lang);
        for (const r of SECURITY_REASONS) assert.equal(i18n.t(`security.${r.code}`), r[lang]);
      }
    });

    it('name every level and device type in both languages', () => {
      for (const lang of ['zh', 'en']) {
        i18n.setLang(lang);
        for (const key of [
          ...LEVELS.map((l) => `level.${l}`),
          ...DEVICE_TYPES.map((d) => `type.${d}`),
        ])
          assert.ok(i18n.hasText(key), `${lang} ${key}`);
      }
    });
  });
});
