import assert from 'node:assert/strict';
import type { Readable } from 'node:stream';
import { describe, it } from '@jest/globals';
import { Aedes } from 'aedes';
import { indexRetained, RetainedStore } from './retained-index.js';

async function topics(stream: Readable): Promise<string[]> {
  const out: string[] = [];
  for await (const p of stream) out.push((p as { topic: string }).topic);
  return out.sort();
}

describe('retained messages: exact-topic index over Aedes persistence', () => {
  it('answers exact filters from the index, wildcards from the persistence scan', async () => {
    const broker = await Aedes.createBroker();
    try {
      // The shape the embedded broker relies on (it logs a warning if this ever changes).
      const store = (broker as unknown as { persistence: { asyncPersistence: RetainedStore } })
        .persistence.asyncPersistence;
      assert.equal(typeof store.createRetainedStreamCombi, 'function');
      let scans = 0;
      const scan = store.createRetainedStreamCombi.bind(store);
      store.createRetainedStreamCombi = (patterns) => {
        scans++;
        return scan(patterns);
      };
      indexRetained(store);
      const retain = (topic: string, payload: string) =>
        store.storeRetained({ topic, payload: Buffer.from(payload) });
      for (let i = 0; i < 1000; i++) await retain(`d/dev-${i}/state`, 'on');

      assert.deepEqual(await topics(store.createRetainedStreamCombi(['d/dev-7/state'])), [
        'd/dev-7/state',
      ]);
      assert.deepEqual(await topics(store.createRetainedStreamCombi(['d/dev-7/cmd'])), []);
      assert.equal(scans, 0, 'an exact filter does not scan every retained message');

      assert.equal((await topics(store.createRetainedStreamCombi(['d/+/state']))).length, 1000);
      assert.equal(scans, 1, 'a wildcard filter goes to the persistence');

      await retain('d/dev-7/state', ''); // an empty retained payload clears the topic
      assert.deepEqual(await topics(store.createRetainedStreamCombi(['d/dev-7/state'])), []);
      assert.equal((await topics(store.createRetainedStream('d/+/state'))).length, 999);
    } finally {
      await new Promise<void>((resolve) => broker.close(() => resolve()));
    }
  });
});
