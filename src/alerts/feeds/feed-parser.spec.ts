import assert from 'node:assert/strict';
import { describe, it } from '@jest/globals';
import { CapRefusal } from '../cap/cap-model.js';
import { nextPollDelayMs } from './feed-backoff.js';
import { FeedUnreadable, parseFeed, pointsInward } from './feed-parser.js';

const CAP_NS = 'urn:oasis:names:tc:emergency:cap:1.2';
const base = 'https://feeds.example.cn/cap/atom.xml';
const read = (xml: string | Buffer, contentType?: string) =>
  parseFeed(Buffer.isBuffer(xml) ? xml : Buffer.from(xml, 'utf8'), {
    maxBytes: 1 << 20,
    baseUrl: base,
    contentType,
  });

const atom = (entries: string) =>
  `<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xmlns:cap="${CAP_NS}">
  <id>urn:feed</id><title>预警</title><updated>2026-12-02T08:00:00+08:00</updated>
  <link rel="self" type="application/cap+xml" href="/cap/atom.xml"/>
  ${entries}
</feed>`;

describe('parseFeed: Atom', () => {
  it('reads an inline CAP alert from content type application/cap+xml, with its namespace', () => {
    const feed = read(
      atom(`<entry><id>urn:e1</id><updated>2026-12-02T08:00:00+08:00</updated>
        <content type="application/cap+xml"><alert xmlns="${CAP_NS}"><identifier>A1</identifier></alert></content>
      </entry>`),
    );
    assert.equal(feed.format, 'atom');
    assert.equal(feed.entries.length, 1);
    const [e] = feed.entries;
    assert.equal(e.id, 'urn:e1');
    assert.equal(e.updated, '2026-12-02T08:00:00+08:00');
    assert.equal(e.capUrl, null);
    assert.equal(e.inlineCap, `<alert xmlns="${CAP_NS}"><identifier>A1</identifier></alert>`);
  });

  it('keeps a prefixed cap:alert whose prefix the feed declared, as a document of its own', () => {
    const [e] = read(
      atom(
        `<entry><id>urn:e2</id><cap:alert><cap:identifier>A2</cap:identifier></cap:alert></entry>`,
      ),
    ).entries;
    assert.equal(
      e.inlineCap,
      `<cap:alert xmlns:cap="${CAP_NS}"><cap:identifier>A2</cap:identifier></cap:alert>`,
    );
  });

  it('takes the CAP link (alternate before related, never self), resolved against the feed URL', () => {
    const [e] = read(
      atom(`<entry><id>urn:e3</id><published>2026-12-02T07:00:00+08:00</published>
        <link rel="related" type="application/cap+xml" href="https://other.example.cn/related.xml"/>
        <link rel="alternate" type="text/html" href="/page.html"/>
        <link type="application/cap+xml" href="alerts/3.xml"/>
      </entry>`),
    ).entries;
    assert.equal(e.inlineCap, null);
    assert.equal(e.capUrl, 'https://feeds.example.cn/cap/alerts/3.xml');
    assert.equal(e.updated, '2026-12-02T07:00:00+08:00', 'published when there is no updated');
  });

  it('reads escaped CAP text in a cap+xml content, and leaves an entry with no CAP empty', () => {
    const feed = read(
      atom(`<entry><id>urn:e4</id><content type="application/cap+xml">&lt;alert xmlns="${CAP_NS}"/&gt;</content></entry>
        <entry><id>urn:e5</id><link href="/page.html"/><summary>只是文字</summary></entry>`),
    );
    assert.equal(feed.entries[0].inlineCap, `<alert xmlns="${CAP_NS}"/>`);
    assert.deepEqual(feed.entries[1], { id: 'urn:e5', updated: '', inlineCap: null, capUrl: null });
  });
});

describe('parseFeed: RSS 2.0', () => {
  const rss = (items: string) =>
    `<rss version="2.0"><channel><title>气象预警</title><link>https://q.example.cn/</link>${items}</channel></rss>`;

  it('prefers a CAP enclosure over the link, and names the item by its guid', () => {
    const [e] = read(
      rss(`<item><guid isPermaLink="false">g-1</guid><link>https://q.example.cn/page/1</link>
        <pubDate>Wed, 02 Dec 2026 00:00:00 GMT</pubDate>
        <enclosure url="/cap/1.xml" type="application/cap+xml" length="900"/></item>`),
    ).entries;
    assert.deepEqual(e, {
      id: 'g-1',
      updated: 'Wed, 02 Dec 2026 00:00:00 GMT',
      inlineCap: null,
      capUrl: 'https://feeds.example.cn/cap/1.xml',
    });
  });

  it('falls back to the item link (and names the item by it) when there is no guid or enclosure', () => {
    const [e] = read(
      rss(`<item><title>t</title><link>https://q.example.cn/cap/2.xml</link></item>`),
    ).entries;
    assert.equal(e.id, 'https://q.example.cn/cap/2.xml');
    assert.equal(e.capUrl, 'https://q.example.cn/cap/2.xml');
  });

  it('reads a cap:alert embedded in an item', () => {
    const [e] = read(
      rss(
        `<item xmlns:cap="${CAP_NS}"><guid>g-3</guid><cap:alert><cap:identifier>X</cap:identifier></cap:alert></item>`,
      ),
    ).entries;
    assert.match(
      e.inlineCap ?? '',
      /^<cap:alert xmlns:cap="urn:oasis:names:tc:emergency:cap:1\.2">/,
    );
    assert.equal(e.capUrl, null);
  });
});

describe('parseFeed: what it refuses', () => {
  it('refuses a DTD before reading anything (the XXE case), naming the rule', () => {
    const xxe = `<?xml version="1.0"?><!DOCTYPE feed [<!ENTITY x SYSTEM "file:///etc/passwd">]>
      <feed xmlns="http://www.w3.org/2005/Atom"><entry><id>&x;</id></entry></feed>`;
    assert.throws(
      () => read(xxe),
      (err: unknown) => err instanceof CapRefusal && err.rule === 'xml.doctype',
    );
  });

  it('refuses malformed XML and a document that is neither Atom nor RSS', () => {
    assert.throws(() => read('<feed xmlns="http://www.w3.org/2005/Atom"><entry>'), CapRefusal);
    assert.throws(
      () => read('<html><body>not a feed</body></html>'),
      (err: unknown) => err instanceof FeedUnreadable && /root element is <html>/.test(err.message),
    );
    assert.throws(() => read('<rss version="2.0"/>'), /without a <channel>/);
  });

  it('reads a GBK feed by its declaration', () => {
    const head = '<?xml version="1.0" encoding="GBK"?>';
    // GBK bytes of the guid, written by hand: Node encodes only UTF-8.
    const gbk = Buffer.concat([
      Buffer.from(head + '<rss version="2.0"><channel><item><guid>'),
      Buffer.from([0xb1, 0xa9, 0xd3, 0xea, 0xd4, 0xa4, 0xbe, 0xaf]),
      Buffer.from('</guid></item></channel></rss>'),
    ]);
    assert.equal(read(gbk).entries[0].id, '暴雨预警');
  });
});

describe('nextPollDelayMs', () => {
  it('waits the interval, then doubles per failure in a row, up to an hour', () => {
    assert.equal(nextPollDelayMs(60, 0), 60_000);
    assert.equal(nextPollDelayMs(60, 1), 120_000);
    assert.equal(nextPollDelayMs(60, 3), 480_000);
    assert.equal(nextPollDelayMs(60, 6), 3_600_000, '64 min is capped at 60');
    assert.equal(nextPollDelayMs(60, 500), 3_600_000);
  });

  it('never waits less than a long interval', () => {
    assert.equal(nextPollDelayMs(7_200, 2), 7_200_000);
  });
});

describe('pointsInward', () => {
  const feed = 'https://alerts.example.cn/atom.xml';

  it('catches a public feed linking to this machine or a private network', () => {
    for (const link of [
      'http://127.0.0.1:3000/api/tokens',
      'http://localhost/x',
      'http://10.1.2.3/cap.xml',
      'http://172.20.0.5/cap.xml',
      'http://192.168.1.1/cap.xml',
      'http://169.254.169.254/latest/meta-data/',
      'http://[::1]:3000/x',
      'http://[fd00::1]/x',
      'http://[::ffff:127.0.0.1]/x',
    ])
      assert.equal(pointsInward(link, feed), true, link);
  });

  it('lets public links through, and a feed on the LAN link to its own network', () => {
    assert.equal(pointsInward('https://cdn.example.cn/cap/1.xml', feed), false);
    assert.equal(pointsInward('http://172.32.0.1/cap.xml', feed), false);
    assert.equal(
      pointsInward('http://192.168.1.9/cap/1.xml', 'http://192.168.1.9/atom.xml'),
      false,
    );
    assert.equal(
      pointsInward('http://127.0.0.1:8080/cap/1.xml', 'http://127.0.0.1:8080/feed'),
      false,
    );
  });
});
