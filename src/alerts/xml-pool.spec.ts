import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { afterAll, describe, it } from '@jest/globals';
import { CapRefusal } from './cap/cap-model.js';
import { parseCap } from './cap/cap-parse.js';
import { verifyCapSignature } from './cap/cap-signature.js';
import { FeedUnreadable, parseFeed } from './feeds/feed-parser.js';
import { XmlPool } from './xml-pool.js';

const CAP_NS = 'urn:oasis:names:tc:emergency:cap:1.2';
const now = Date.parse('2026-12-02T10:00:00+08:00');
const capOptions = { maxBytes: 256 * 1024, now };
const feedOptions = { maxBytes: 1024 * 1024, baseUrl: 'https://feeds.example.cn/cap/atom.xml' };

/** A legitimate Atom feed of `n` linked entries: 4n + 1 elements. */
function atomFeed(n: number): Buffer {
  const entries = Array.from(
    { length: n },
    (_, i) =>
      `<entry><id>urn:e${i}</id><updated>2026-12-02T08:00:00+08:00</updated>` +
      `<link type="application/cap+xml" href="alerts/${i}.xml"/></entry>`,
  ).join('');
  return Buffer.from(`<feed xmlns="http://www.w3.org/2005/Atom">${entries}</feed>`, 'utf8');
}

/** A CAP alert naming `n` areas by geocode (5 elements each), as a province-wide alert may. */
function bigCap(n: number): Buffer {
  const areas = Array.from(
    { length: n },
    (_, i) =>
      `<area><areaDesc>村${i}</areaDesc><geocode><valueName>GB/T 2260</valueName>` +
      `<value>${611026100000 + i}</value></geocode></area>`,
  ).join('');
  return Buffer.from(
    `<?xml version="1.0" encoding="UTF-8"?><alert xmlns="${CAP_NS}">` +
      `<identifier>BIG-1</identifier><sender>qxj@611026.cn</sender>` +
      `<sent>2026-12-02T08:00:00+08:00</sent><status>Actual</status><msgType>Alert</msgType>` +
      `<scope>Public</scope><info><category>Met</category><event>暴雨</event>` +
      `<urgency>Immediate</urgency><severity>Severe</severity><certainty>Likely</certainty>` +
      `${areas}</info></alert>`,
    'utf8',
  );
}

/**
 * The longest the event loop went without a turn while `work` ran, from a 1 ms timer: a parse on
 * the main thread shows as one gap as long as the parse.
 */
async function longestGap<T>(work: () => Promise<T>): Promise<{ value: T; gapMs: number }> {
  let last = performance.now();
  let gapMs = 0;
  let running = true;
  const beat = () => {
    const t = performance.now();
    gapMs = Math.max(gapMs, t - last);
    last = t;
    if (running) setTimeout(beat, 1);
  };
  setTimeout(beat, 1);
  try {
    return { value: await work(), gapMs };
  } finally {
    running = false;
  }
}

function timed<T>(work: () => T): { value: T; ms: number } {
  const start = performance.now();
  const value = work();
  return { value, ms: performance.now() - start };
}

describe('XmlPool: XML parsed off the event loop', () => {
  const pool = new XmlPool();
  afterAll(() => pool.onApplicationShutdown());

  it('keeps the event loop turning while a 4,000-entry feed is parsed, answering what parseFeed answers', async () => {
    const body = atomFeed(4000);
    await pool.parseFeed(atomFeed(1), feedOptions); // the thread started, as on a running server
    const { value, gapMs } = await longestGap(() => pool.parseFeed(body, feedOptions));
    // After, so that the garbage of this parse is not collected during the one above.
    const sync = timed(() => parseFeed(body, feedOptions));
    assert.deepEqual(value, sync.value);
    assert.equal(value.entries.length, 4000);
    // On the main thread the loop would stand still for the whole parse (sync.ms, 0.3–1.5 s here).
    assert.ok(
      gapMs * 4 < sync.ms,
      `longest event-loop gap ${gapMs.toFixed(1)} ms, parse ${sync.ms.toFixed(1)} ms`,
    );
  }, 60_000);

  it('keeps the event loop turning while a 250 KiB CAP alert of 10,000 elements is parsed', async () => {
    const xml = bigCap(2150);
    assert.ok(xml.length <= capOptions.maxBytes, `${xml.length} bytes`);
    await pool.parseCap(bigCap(1), capOptions);
    const { value, gapMs } = await longestGap(() => pool.parseCap(xml, capOptions));
    const sync = timed(() => parseCap(xml, capOptions));
    assert.deepEqual(value, { alert: sync.value.alert, xml: sync.value.xml });
    assert.equal(value.alert.infos[0].areas.length, 2150);
    assert.ok(
      gapMs * 4 < sync.ms,
      `longest event-loop gap ${gapMs.toFixed(1)} ms, parse ${sync.ms.toFixed(1)} ms`,
    );
  }, 60_000);

  it('refuses as parseCap does: the same CapRefusal, rule and message', async () => {
    const xml = `<?xml version="1.0"?><!DOCTYPE alert [<!ENTITY x "y">]><alert xmlns="${CAP_NS}"/>`;
    const expected = (() => {
      try {
        parseCap(xml, capOptions);
      } catch (err) {
        return err as CapRefusal;
      }
      throw new Error('parseCap took a DOCTYPE');
    })();
    assert.equal(expected.rule, 'xml.doctype');
    await assert.rejects(
      pool.parseCap(Buffer.from(xml), capOptions),
      (err: unknown) =>
        err instanceof CapRefusal && err.rule === 'xml.doctype' && err.message === expected.message,
    );
    // A valid document that breaks a CAP rule, not an XML one.
    await assert.rejects(
      pool.parseCap(`<alert xmlns="${CAP_NS}"><identifier>X</identifier></alert>`, capOptions),
      (err: unknown) => err instanceof CapRefusal && err.rule === 'cap.schema',
    );
  });

  it('refuses feeds as parseFeed does: CapRefusal for the XML, FeedUnreadable for the rest', async () => {
    await assert.rejects(
      pool.parseFeed(Buffer.from('<!DOCTYPE feed><feed/>'), feedOptions),
      (err: unknown) => err instanceof CapRefusal && err.rule === 'xml.doctype',
    );
    await assert.rejects(
      pool.parseFeed(Buffer.from('<html/>'), feedOptions),
      (err: unknown) =>
        err instanceof FeedUnreadable &&
        err.message === 'not an Atom or RSS 2.0 feed: the root element is <html>',
    );
  });

  it('checks signatures as verifyCapSignature does', async () => {
    const xml = bigCap(3).toString('utf8');
    const expected = verifyCapSignature(xml, [], { now });
    assert.equal(expected.state, 'unsigned');
    assert.deepEqual(await pool.verifyCapSignature(xml, [], { now }), expected);
  });

  it('answers nothing once shut down', async () => {
    const closed = new XmlPool();
    await closed.parseCap(bigCap(1), capOptions);
    await closed.onApplicationShutdown();
    await assert.rejects(closed.parseCap(bigCap(1), capOptions), /shut down/);
  });
});
