import assert from 'node:assert/strict';
import { afterAll, describe, it } from '@jest/globals';
import { CapRefusal } from '../src/alerts/cap/cap-model.js';
import { DomainError } from '../src/common/domain-error.js';
import { parseCap } from '../src/alerts/cap/cap-parse.js';
import { verifyCapSignature } from '../src/alerts/cap/cap-signature.js';
import { FeedUnreadable, parseFeed } from '../src/alerts/feeds/feed-parser.js';
import { XmlPool } from '../src/alerts/xml-pool.js';
import { atomFeed } from './support/cap.js';

const CAP_NS = 'urn:oasis:names:tc:emergency:cap:1.2';
const now = Date.parse('2026-12-02T10:00:00+08:00');
const capOptions = { maxBytes: 256 * 1024, now };
const feedOptions = { maxBytes: 1024 * 1024, baseUrl: 'https://feeds.example.cn/cap/atom.xml' };

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
 * How many turns the event loop took while `work` ran (a setImmediate chain). A parse on the main
 * thread takes none: it finishes before the loop turns once, whatever the machine's speed.
 */
async function turnsDuring<T>(work: () => Promise<T>): Promise<{ value: T; turns: number }> {
  let turns = 0;
  let running = true;
  const turn = () => {
    if (!running) return;
    turns++;
    setImmediate(turn);
  };
  setImmediate(turn);
  try {
    return { value: await work(), turns };
  } finally {
    running = false;
  }
}

describe('XmlPool: XML parsed off the event loop', () => {
  const pool = new XmlPool();
  afterAll(() => pool.onApplicationShutdown());

  it('keeps the event loop turning while a 4,000-entry feed is parsed, answering what parseFeed answers', async () => {
    const body = atomFeed(4000);
    await pool.parseFeed(atomFeed(1), feedOptions); // the thread started, as on a running server
    const { value, turns } = await turnsDuring(() => pool.parseFeed(body, feedOptions));
    assert.deepEqual(value, parseFeed(body, feedOptions));
    assert.equal(value.entries.length, 4000);
    // On the main thread (0.3–1.5 s here) the loop would not turn once.
    assert.ok(turns >= 10, `the event loop turned ${turns} times`);
  }, 60_000);

  it('keeps the event loop turning while a 250 KiB CAP alert of 10,000 elements is parsed', async () => {
    const xml = bigCap(2150);
    assert.ok(xml.length <= capOptions.maxBytes, `${xml.length} bytes`);
    await pool.parseCap(bigCap(1), capOptions);
    const { value, turns } = await turnsDuring(() => pool.parseCap(xml, capOptions));
    const sync = parseCap(xml, capOptions);
    assert.deepEqual(value, { alert: sync.alert, xml: sync.xml });
    assert.equal(value.alert.infos[0].areas.length, 2150);
    assert.ok(turns >= 10, `the event loop turned ${turns} times`);
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

  it('answers 503 ALERTS_BUSY past its queue, and reads the others', async () => {
    const small = new XmlPool();
    small.limits = { threads: 1, queue: 1 };
    try {
      const body = atomFeed(2000);
      const results = await Promise.allSettled(
        Array.from({ length: 8 }, () => small.parseFeed(body, feedOptions)),
      );
      const busy = results.filter(
        (r) =>
          r.status === 'rejected' &&
          r.reason instanceof DomainError &&
          r.reason.code === 'ALERTS_BUSY' &&
          r.reason.status === 503,
      );
      const read = results.filter((r) => r.status === 'fulfilled');
      assert.ok(busy.length >= 1, `${busy.length} refused`);
      assert.ok(read.length >= 1, `${read.length} read`);
      assert.equal(busy.length + read.length, 8, 'nothing failed otherwise');
    } finally {
      await small.onApplicationShutdown();
    }
  });

  it('answers nothing once shut down', async () => {
    const closed = new XmlPool();
    await closed.parseCap(bigCap(1), capOptions);
    await closed.onApplicationShutdown();
    await assert.rejects(closed.parseCap(bigCap(1), capOptions), /shut down/);
  });
});
