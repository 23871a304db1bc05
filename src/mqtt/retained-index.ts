import { Readable } from 'node:stream';

/** The part of an Aedes persistence (async interface) that keeps and finds retained messages. */
export interface RetainedStore {
  storeRetained(packet: { topic: string; payload: Buffer | string }): Promise<void>;
  createRetainedStream(pattern: string): Readable;
  createRetainedStreamCombi(patterns: string[]): Readable;
}

const isWildcard = (pattern: string) => pattern.includes('+') || pattern.includes('#');

/**
 * Gives a persistence's retained messages an exact-topic index. Aedes' in-memory persistence
 * answers every subscription by testing the filter against every retained message, so with each
 * of 10,000 devices keeping a retained `state`, each device's subscription to its own command
 * topic scanned every device's: quadratic in the fleet when devices connect. A filter without
 * wildcards is one map lookup here; wildcard filters still go to the persistence's own scan, which keeps its copies.
 */
export function indexRetained(store: RetainedStore): void {
  const exact = new Map<string, object>();
  const storeRetained = store.storeRetained.bind(store);
  const scanOne = store.createRetainedStream.bind(store);
  const scanMany = store.createRetainedStreamCombi.bind(store);
  store.storeRetained = async (packet) => {
    await storeRetained(packet);
    if (packet.payload.length === 0) exact.delete(packet.topic);
    else exact.set(packet.topic, { ...packet });
  };
  function* lookup(patterns: string[]) {
    for (const p of patterns) {
      const packet = exact.get(p);
      if (packet) yield packet;
    }
  }
  store.createRetainedStream = (pattern) =>
    isWildcard(pattern) ? scanOne(pattern) : Readable.from(lookup([pattern]));
  store.createRetainedStreamCombi = (patterns) =>
    patterns.some(isWildcard) ? scanMany(patterns) : Readable.from(lookup(patterns));
}
