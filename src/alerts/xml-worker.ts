import { CapRefusal, type CapAlert } from './cap/cap-model.js';
import { parseCap } from './cap/cap-parse.js';
import { verifyCapSignature, type CapSignatureCheck } from './cap/cap-signature.js';
import { FeedUnreadable, parseFeed, type ParsedFeed } from './feeds/feed-parser.js';

/**
 * The worker-thread side of XmlPool (xml-pool.ts): what runs here is plain parsing, so the event
 * loop that dispatches broadcasts never waits behind a large document. Only structured-clonable
 * values cross: bytes in, the model out, never a DOM. The refusals callers act on come back as
 * data, because a thrown error loses its class (and `rule`) between threads.
 */

export type XmlTask =
  | { op: 'parseCap'; input: Uint8Array | string; maxBytes: number; now: number }
  | { op: 'verifyCapSignature'; xml: string; trusted: string[]; now: number }
  | {
      op: 'parseFeed';
      body: Uint8Array;
      maxBytes: number;
      baseUrl: string;
      contentType: string | null;
    };

export type XmlTaskValue = { alert: CapAlert; xml: string } | CapSignatureCheck | ParsedFeed;

export type XmlTaskResult =
  | { ok: true; value: XmlTaskValue }
  | { ok: false; refusal: 'CapRefusal'; rule: string; message: string }
  | { ok: false; refusal: 'FeedUnreadable'; message: string };

/** A Buffer's bytes arrive as a plain Uint8Array; the parsers read them as a Buffer again. */
const bytes = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength);

export default function runXmlTask(task: XmlTask): XmlTaskResult {
  try {
    return { ok: true, value: run(task) };
  } catch (err) {
    if (err instanceof CapRefusal)
      return { ok: false, refusal: 'CapRefusal', rule: err.rule, message: err.message };
    if (err instanceof FeedUnreadable)
      return { ok: false, refusal: 'FeedUnreadable', message: err.message };
    throw err;
  }
}

function run(task: XmlTask): XmlTaskValue {
  switch (task.op) {
    case 'parseCap': {
      const input = typeof task.input === 'string' ? task.input : bytes(task.input);
      const { alert, xml } = parseCap(input, { maxBytes: task.maxBytes, now: task.now });
      return { alert, xml };
    }
    case 'verifyCapSignature':
      return verifyCapSignature(task.xml, task.trusted, { now: task.now });
    case 'parseFeed':
      return parseFeed(bytes(task.body), {
        maxBytes: task.maxBytes,
        baseUrl: task.baseUrl,
        contentType: task.contentType,
      });
  }
}
