import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from '@jest/globals';
import { decode } from '../src/contract/decode.js';
import { renderProtocolDoc, schemaFiles } from '../src/contract/docs.js';
import { MESSAGES, MessageType } from '../src/contract/messages.js';
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
