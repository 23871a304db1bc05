import { Injectable, OnApplicationShutdown } from '@nestjs/common';
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import { DomainError } from '../common/domain-error.js';
import type { AlertErrorCode } from './alert-errors.js';
import { CapRefusal, type CapAlert } from './cap/cap-model.js';
import type { CapSignatureCheck } from './cap/cap-signature.js';
import { FeedUnreadable, type ParsedFeed } from './feeds/feed-parser.js';
import type { XmlTask, XmlTaskResult } from './xml-worker.js';

/**
 * Two threads: one large feed being parsed leaves the other for an alert that arrives meanwhile,
 * and more would take cores from the event loop itself (the station's server often has two).
 */
export const XML_THREADS = 2;
/** What piscina rejects a task with when its queue is full. */
const QUEUE_FULL = 'Task queue is at limit';
/** An idle server keeps no thread: one is started again (about 100 ms) by the next document. */
const XML_IDLE_MS = 30_000;
/**
 * Documents waiting for a thread at most (each up to ALERT_MAX_BYTES, a feed up to 1 MiB): past
 * that a flood is answered 503 ALERTS_BUSY rather than held in memory.
 */
export const XML_QUEUE = 64;

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
  /** Threads and queue (tests make them small). */
  limits = { threads: XML_THREADS, queue: XML_QUEUE };

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
      maxThreads: this.limits.threads,
      maxQueue: this.limits.queue,
      idleTimeout: XML_IDLE_MS,
    });
    let result: XmlTaskResult;
    try {
      result = await this.pool.run(task, { transferList });
    } catch (err) {
      if ((err as Error).message !== QUEUE_FULL) throw err;
      throw new DomainError<AlertErrorCode>(
        'unavailable',
        'ALERTS_BUSY',
        `${this.limits.queue} XML documents are waiting to be read already: send it again in a moment`,
      );
    }
    if (result.ok) return result.value;
    if (result.refusal === 'CapRefusal') throw new CapRefusal(result.rule, result.message);
    throw new FeedUnreadable(result.message);
  }
}
