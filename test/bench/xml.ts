import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { setTimeout as wait } from 'node:timers/promises';
import { parseFeed } from '../../src/alerts/feeds/feed-parser.js';
import { XmlPool } from '../../src/alerts/xml-pool.js';
import { atomFeed } from '../support/cap.js';

/** Entries of the feed the xml scenario parses: 16,001 elements, a legitimate feed's worst. */
export const XML_FEED_ENTRIES = 4000;

export interface XmlRound {
  /** The parse, from the caller's side. */
  ms: number;
  /** The longest the event loop waited for a turn meanwhile (monitorEventLoopDelay, 1 ms). */
  maxDelayMs: number;
}

export function xmlFeed(n = XML_FEED_ENTRIES): Buffer {
  return atomFeed(n);
}

const options = { maxBytes: 1024 * 1024, baseUrl: 'https://feeds.example.cn/cap/atom.xml' };

/** One parse of `body`, in `pool` (as the server does) or, without one, on the event loop. */
export async function xmlRound(body: Buffer, pool: XmlPool | null): Promise<XmlRound> {
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  await wait(5); // the histogram's timer running before the parse starts
  const start = performance.now();
  const entries = pool
    ? (await pool.parseFeed(body, options)).entries
    : parseFeed(body, options).entries;
  const ms = performance.now() - start;
  await wait(5); // a blocked loop shows once the timer fires again
  h.disable();
  if (entries.length !== XML_FEED_ENTRIES) throw new Error(`read ${entries.length} entries`);
  return { ms, maxDelayMs: h.max / 1e6 };
}
