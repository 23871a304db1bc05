import { Injectable, OnApplicationShutdown } from '@nestjs/common';
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import { CapRefusal, type CapAlert } from './cap/cap-model.js';
import type { CapSignatureCheck } from './cap/cap-signature.js';
import { FeedUnreadable, type ParsedFeed } from './feeds/feed-parser.js';
import type { XmlTask, XmlTaskResult } from './xml-worker.js';

/**
 * Two threads: one large feed being parsed leaves the other for an alert that arrives meanwhile,
 * and more would take cores from the event loop itself (the station's server often has two).
 */
export const XML_THREADS = 2;
/** An idle server keeps no thread: one is started again (about 100 ms) by the next document. */
const XML_IDLE_MS = 30_000;

/**
 * The one owner of the threads that parse XML (CAP alerts, their signatures, CAP feeds): xmldom
 * and xml-crypto are synchronous, and a legitimate 4,000-entry feed takes about a second to read,
 * which on the event loop would hold up an emergency dispatch. The same functions as cap-parse.ts,
 * cap-signature.ts and feed-parser.ts, answering the same values and throwing the same
 * `CapRefusal` (with its `rule`) and `FeedUnreadable`; any other failure stays an Error.
 * Threads start on first use and are ended when the application shuts down.
 */
@Injectable()
export class XmlPool implements OnApplicationShutdown {
  private pool: Piscina<XmlTask, XmlTaskResult> | null = null;
  private closed = false;

  /** `parseCap` in a worker: the model and the decoded text, no DOM. */
  async parseCap(
    input: Buffer | string,
    o: { maxBytes: number; now: number },
  ): Promise<{ alert: CapAlert; xml: string }> {
    const bytes = typeof input === 'string' ? input : new Uint8Array(input);
    return (await this.run(
      { op: 'parseCap', input: bytes, maxBytes: o.maxBytes, now: o.now },
      typeof bytes === 'string' ? [] : [bytes.buffer],
    )) as { alert: CapAlert; xml: string };
  }

  /** `verifyCapSignature` in a worker. */
  async verifyCapSignature(
    xml: string,
    trusted: string[],
    o: { now: number },
  ): Promise<CapSignatureCheck> {
    return (await this.run(
      { op: 'verifyCapSignature', xml, trusted, now: o.now },
      [],
    )) as CapSignatureCheck;
  }

  /** `parseFeed` in a worker. */
  async parseFeed(
    body: Buffer,
    o: { maxBytes: number; baseUrl: string; contentType?: string | null },
  ): Promise<ParsedFeed> {
    // A copy of just these bytes, moved rather than cloned (a Buffer may view a larger one).
    const bytes = new Uint8Array(body);
    return (await this.run(
      {
        op: 'parseFeed',
        body: bytes,
        maxBytes: o.maxBytes,
        baseUrl: o.baseUrl,
        contentType: o.contentType ?? null,
      },
      [bytes.buffer],
    )) as ParsedFeed;
  }

  async onApplicationShutdown(): Promise<void> {
    this.closed = true;
    const pool = this.pool;
    this.pool = null;
    await pool?.destroy();
  }

  private async run(task: XmlTask, transferList: ArrayBuffer[]) {
    if (this.closed) throw new Error('XML pool is shut down');
    this.pool ??= new Piscina<XmlTask, XmlTaskResult>({
      filename: fileURLToPath(new URL('./xml-worker.js', import.meta.url)),
      minThreads: 0,
      maxThreads: XML_THREADS,
      idleTimeout: XML_IDLE_MS,
    });
    const result = await this.pool.run(task, { transferList });
    if (result.ok) return result.value;
    if (result.refusal === 'CapRefusal') throw new CapRefusal(result.rule, result.message);
    throw new FeedUnreadable(result.message);
  }
}
