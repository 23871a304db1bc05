import assert from 'node:assert/strict';
import { describe, it } from '@jest/globals';
import { loadConfig } from '../config/app-config.js';
import { EmbeddedBroker } from './embedded-broker.js';

// Two messages in flight fill it: the rest queue, as 10,000 devices' messages did at 10,000.
const config = loadConfig({ MQTT_PORT: '0', MQTT_HOST: '127.0.0.1', MQTT_CONCURRENCY: '2' }).mqtt;

interface Emitter {
  subscribe(topic: string, fn: (packet: unknown, done: () => void) => void, cb: () => void): void;
  mq: { length: number };
}

describe('embedded broker', () => {
  it('works through a long queue of messages for the server without overflowing the stack', async () => {
    const broker = new EmbeddedBroker(config);
    await broker.start({
      authenticate: async () => 'bad_credentials',
      mayPublish: () => false,
      accept: async () => undefined,
      maySubscribe: () => false,
      oversized: () => undefined,
    });
    try {
      const aedes = (broker as unknown as { aedes: Emitter }).aedes;
      // A subscriber that holds its two messages: the emitter is at its concurrency.
      const held: (() => void)[] = [];
      await new Promise<void>((resolve) =>
        aedes.subscribe('hold/#', (_packet, done) => held.push(done), resolve),
      );
      let heard = 0;
      await broker.subscribe('evt/#', async () => void heard++);
      const holding = [1, 2].map((i) => broker.publish(`hold/${i}`, Buffer.from('h'), { qos: 0 }));
      const n = 20_000;
      const events = Array.from({ length: n }, (_, i) =>
        broker.publish(`evt/${i}`, Buffer.from('e'), { qos: 0 }),
      );
      // Wait until every event waits in the emitter's queue behind the held messages.
      while (held.length < 2 || aedes.mq.length < n) await new Promise((r) => setImmediate(r));
      // Releasing one starts the queue: each event's done() must not start the next inside it.
      for (const done of held) done();
      await Promise.all([...holding, ...events]);
      assert.equal(heard, n);
    } finally {
      await broker.stop();
    }
  });
});
