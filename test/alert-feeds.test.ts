import assert from 'node:assert/strict';
import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it, beforeAll, afterAll } from '@jest/globals';
import { eventually } from './support/mqtt.js';
import { api, startTestServer, TestServer, tokenFor } from './support/server.js';

const CAP_NS = 'urn:oasis:names:tc:emergency:cap:1.2';
const ATOM_NS = 'http://www.w3.org/2005/Atom';
const MIN = 60_000;

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

/** A real HTTP server playing the alert publisher: each path answers as the test says. */
class FeedServer {
  readonly routes = new Map<string, Handler>();
  readonly requests: { path: string; headers: IncomingMessage['headers'] }[] = [];
  private readonly http: Server = createServer((req, res) => {
    const path = req.url ?? '/';
    this.requests.push({ path, headers: req.headers });
    const handler = this.routes.get(path);
    if (handler) handler(req, res);
    else res.writeHead(404).end('no such feed');
  });
  url = '';

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.http.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.http.address() as AddressInfo).port}`;
  }

  stop(): Promise<void> {
    this.http.closeAllConnections();
    return new Promise((resolve) => this.http.close(() => resolve()));
  }

  /** Serves `body` at `path` with an ETag and Last-Modified, answering 304 to either validator. */
  serve(path: string, type: string, body: () => string, etag?: () => string): void {
    this.routes.set(path, (req, res) => {
      const tag = etag?.();
      const modified = 'Wed, 02 Dec 2026 00:00:00 GMT';
      if (tag && req.headers['if-none-match'] === tag) {
        res.writeHead(304, { ETag: tag }).end();
        return;
      }
      res
        .writeHead(200, {
          'Content-Type': `${type}; charset=utf-8`,
          ...(tag ? { ETag: tag, 'Last-Modified': modified } : {}),
        })
        .end(body());
    });
  }

  hits(path: string): IncomingMessage['headers'][] {
    return this.requests.filter((r) => r.path === path).map((r) => r.headers);
  }
}

/** CAP time in Beijing time, as a Chinese publisher writes it. */
function capTime(ms: number): string {
  return new Date(ms + 8 * 3_600_000).toISOString().slice(0, 19) + '+08:00';
}

interface EntryResult {
  id: string;
  result: string;
  url: string | null;
  alertId: string | null;
  outcome: string | null;
  rule: string | null;
  reason: string | null;
}
interface PollResult {
  status: string;
  httpStatus: number | null;
  error: string | null;
  entries: number;
  seen: number;
  newAlerts: number;
  duplicates: number;
  refusals: number;
  results: EntryResult[];
  feed: Feed;
}
interface Feed {
  id: string;
  name: string;
  url: string;
  intervalS: number;
  enabled: boolean;
  nextPollAt: string;
  lastPolledAt: string | null;
  lastOkAt: string | null;
  failures: number;
  lastError: string | null;
  etag: string | null;
}

describe('CAP feeds', () => {
  let s: TestServer;
  let admin: ReturnType<typeof api>;
  const pub = new FeedServer();
  let seq = 0;

  /** A CAP 1.2 message for the sample county (Zhashui, 611026), sent a minute ago by the server's clock. */
  const cap = (o: { id?: string; status?: string; expiresInMs?: number } = {}) => {
    const now = s.clock.now().getTime();
    const identifier = o.id ?? `61102641600000_feedtest_${process.pid}_${seq++}`;
    return `<alert xmlns="${CAP_NS}">
  <identifier>${identifier}</identifier>
  <sender>qxj@611026</sender>
  <sent>${capTime(now - MIN)}</sent>
  <status>${o.status ?? 'Actual'}</status>
  <msgType>Alert</msgType>
  <scope>Public</scope>
  <info>
    <language>zh-CN</language>
    <category>Met</category>
    <event>暴雨</event>
    <urgency>Immediate</urgency>
    <severity>Severe</severity>
    <certainty>Likely</certainty>
    <expires>${capTime(now + (o.expiresInMs ?? 6 * 60 * MIN))}</expires>
    <senderName>柞水县气象台</senderName>
    <headline>柞水县气象台发布暴雨橙色预警</headline>
    <description>预计未来6小时内降雨量将达50毫米以上。</description>
    <area>
      <areaDesc>柞水县</areaDesc>
      <geocode><valueName>GB/T 2260</valueName><value>611026</value></geocode>
    </area>
  </info>
</alert>`;
  };
  const poll = async (feedId: string) =>
    (await admin.post(`/api/alert-feeds/${feedId}/poll`).expect(200)).body as PollResult;
  const getFeed = async (feedId: string) =>
    (await admin.get(`/api/alert-feeds/${feedId}`).expect(200)).body as Feed;
  const addFeed = async (name: string, path: string, extra: Record<string, unknown> = {}) =>
    (
      await admin
        .post('/api/alert-feeds')
        .send({ name, url: `${pub.url}${path}`, ...extra })
        .expect(201)
    ).body as Feed;

  beforeAll(async () => {
    await pub.start();
    // The feeds are served from 127.0.0.1, which only ALERT_FETCH_PRIVATE lets it fetch.
    s = await startTestServer({ seed: true, env: { ALERT_FETCH_PRIVATE: 'true' } });
    admin = api(s.url, s.adminToken);
  });
  afterAll(async () => {
    await s?.close();
    await pub.stop();
  });

  it('lets only an admin see and manage feeds', async () => {
    const viewer = api(s.url, await tokenFor(s, 'viewer'));
    const operator = api(s.url, await tokenFor(s, 'operator'));
    await viewer.get('/api/alert-feeds').expect(403);
    await operator.get('/api/alert-feeds').expect(403);
    const body = { name: '省预警中心', url: `${pub.url}/nobody.xml` };
    await viewer.post('/api/alert-feeds').send(body).expect(403);
    await operator.post('/api/alert-feeds').send(body).expect(403);
    const list = (await admin.get('/api/alert-feeds').expect(200)).body;
    assert.ok(!list.items.some((f: Feed) => f.url === body.url), 'nothing was added');
  });

  it('refuses a feed URL that is not http(s), or that carries a password, with 400', async () => {
    for (const url of [
      'ftp://alerts.example.cn/cap.xml',
      'file:///etc/passwd',
      'not a url',
      'http://user:secret@alerts.example.cn/cap.xml',
    ]) {
      const res = await admin.post('/api/alert-feeds').send({ name: 'bad', url }).expect(400);
      assert.equal(res.body.error, 'VALIDATION_FAILED', url);
      assert.deepEqual(
        res.body.details.map((d: { field: string; rule: string }) => [d.field, d.rule]),
        [['url', 'isFeedUrl']],
        url,
      );
    }
    const ok = await addFeed('好的', '/ok.xml', { enabled: false });
    await admin.patch(`/api/alert-feeds/${ok.id}`).send({ url: 'gopher://x/' }).expect(400);
    await admin.delete(`/api/alert-feeds/${ok.id}`).expect(204);
  });

  it('reads an Atom feed: inline and linked CAP become alerts, the intake’s refusal names its rule', async () => {
    const linkedXml = cap();
    pub.serve('/cap/linked.xml', 'application/cap+xml', () => linkedXml);
    const inlineXml = cap();
    const expiredXml = cap({ expiresInMs: -MIN });
    pub.serve('/atom.xml', 'application/atom+xml', () =>
      [
        `<?xml version="1.0" encoding="UTF-8"?><feed xmlns="${ATOM_NS}">`,
        `<id>urn:zhashui</id><title>柞水预警</title><updated>${capTime(Date.now())}</updated>`,
        // Newest first, as feeds list them.
        `<entry><id>urn:e:expired</id><updated>2026-12-02T08:03:00+08:00</updated>`,
        `<content type="application/cap+xml">${expiredXml}</content></entry>`,
        `<entry><id>urn:e:linked</id><updated>2026-12-02T08:02:00+08:00</updated>`,
        `<link rel="alternate" type="application/cap+xml" href="/cap/linked.xml"/></entry>`,
        `<entry><id>urn:e:inline</id><updated>2026-12-02T08:01:00+08:00</updated>`,
        `<content type="application/cap+xml">${inlineXml}</content></entry>`,
        `<entry><id>urn:e:news</id><updated>2026-12-02T08:00:00+08:00</updated><title>只是新闻</title></entry>`,
        `</feed>`,
      ].join('\n'),
    );
    const feed = await addFeed('柞水预警 Atom', '/atom.xml', { intervalS: 300 });
    const r = await poll(feed.id);
    assert.equal(r.status, 'ok');
    assert.equal(r.entries, 4);
    // Oldest first, so an Update always follows the Alert it replaces.
    assert.deepEqual(
      r.results.map((e) => [e.id, e.result]),
      [
        ['urn:e:news', 'no-cap'],
        ['urn:e:inline', 'alert'],
        ['urn:e:linked', 'alert'],
        ['urn:e:expired', 'refused'],
      ],
    );
    for (const e of r.results.filter((x) => x.result === 'alert')) {
      assert.match(e.alertId ?? '', /^[0-9a-f-]{36}$/);
      assert.ok(!['refused', 'duplicate'].includes(e.outcome ?? ''), `${e.id}: ${e.outcome}`);
    }
    assert.equal(r.results[2].url, `${pub.url}/cap/linked.xml`);
    assert.equal(pub.hits('/cap/linked.xml').length, 1, 'the linked CAP was fetched');
    assert.equal(r.results[3].rule, 'cap.expired');
    assert.equal(r.newAlerts, 2);
    assert.equal(r.refusals, 1);
    assert.equal(r.feed.failures, 0);
    assert.equal(r.feed.lastError, null);
    assert.ok(r.feed.lastOkAt);
    // The inbox shows where each came from, the refusal included.
    const inlineAlert = (await admin.get(`/api/alerts/${r.results[1].alertId}`).expect(200)).body;
    assert.equal(inlineAlert.source, 'feed');
    assert.equal(inlineAlert.sourceRef, feed.id);
    assert.equal(inlineAlert.outcome, r.results[1].outcome);
    const refused = (await admin.get(`/api/alerts/${r.results[3].alertId}`).expect(200)).body;
    assert.deepEqual(
      [refused.source, refused.outcome, refused.rule],
      ['feed', 'refused', 'cap.expired'],
    );
    await admin.delete(`/api/alert-feeds/${feed.id}`).expect(204);
  });

  it('asks again with If-None-Match / If-Modified-Since: a 304 costs nothing, and seen entries are not fetched again', async () => {
    let version = 1;
    const entries = [
      `<entry><id>urn:c:1</id><updated>2026-12-02T09:00:00+08:00</updated><link type="application/cap+xml" href="/c/1.xml"/></entry>`,
    ];
    const first = cap();
    pub.serve('/c/1.xml', 'application/cap+xml', () => first);
    pub.serve(
      '/cond.xml',
      'application/atom+xml',
      () => `<feed xmlns="${ATOM_NS}"><id>urn:c</id>${entries.join('')}</feed>`,
      () => `"v${version}"`,
    );
    const feed = await addFeed('conditional', '/cond.xml');
    const one = await poll(feed.id);
    assert.equal(one.newAlerts, 1);
    assert.equal(one.feed.etag, '"v1"');
    assert.equal(pub.hits('/cond.xml')[0]['if-none-match'], undefined, 'nothing to ask with yet');

    const two = await poll(feed.id);
    assert.equal(two.status, 'not-modified');
    assert.equal(two.httpStatus, 304);
    assert.equal(two.entries, 0);
    const asked = pub.hits('/cond.xml')[1];
    assert.equal(asked['if-none-match'], '"v1"', 'the server received the ETag back');
    assert.equal(asked['if-modified-since'], 'Wed, 02 Dec 2026 00:00:00 GMT');
    assert.equal(pub.hits('/c/1.xml').length, 1);

    // The feed grows by one entry: only that one is fetched.
    const second = cap();
    pub.serve('/c/2.xml', 'application/cap+xml', () => second);
    entries.unshift(
      `<entry><id>urn:c:2</id><updated>2026-12-02T09:05:00+08:00</updated><link type="application/cap+xml" href="/c/2.xml"/></entry>`,
    );
    version = 2;
    const three = await poll(feed.id);
    assert.equal(three.status, 'ok');
    assert.equal(three.entries, 2);
    assert.equal(three.seen, 1);
    assert.deepEqual(
      three.results.map((e) => e.id),
      ['urn:c:2'],
    );
    assert.equal(pub.hits('/c/1.xml').length, 1, 'the entry seen before was not fetched again');
    assert.equal(pub.hits('/c/2.xml').length, 1);
    assert.equal(three.feed.etag, '"v2"');
    await admin.delete(`/api/alert-feeds/${feed.id}`).expect(204);
  });

  it('reads an RSS 2.0 feed (enclosure and link); the same CAP twice is the intake’s duplicate, not a feed error', async () => {
    const viaEnclosure = cap({ status: 'Test' });
    const viaLink = cap({ status: 'Test' });
    pub.serve('/r/1.xml', 'application/xml', () => viaEnclosure);
    pub.serve('/r/2.xml', 'application/xml', () => viaLink);
    pub.serve('/r/1-again.xml', 'application/xml', () => viaEnclosure);
    pub.serve(
      '/rss.xml',
      'application/rss+xml',
      () => `<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>预警</title><link>${pub.url}/</link>
  <item><guid>r-3</guid><title>再发</title><enclosure url="/r/1-again.xml" type="application/cap+xml" length="1"/></item>
  <item><title>链接</title><link>${pub.url}/r/2.xml</link></item>
  <item><guid isPermaLink="false">r-1</guid><title>附件</title><link>${pub.url}/page.html</link>
    <enclosure url="/r/1.xml" type="application/cap+xml" length="1"/></item>
</channel></rss>`,
    );
    const feed = await addFeed('RSS', '/rss.xml');
    const r = await poll(feed.id);
    assert.equal(r.status, 'ok');
    assert.deepEqual(
      r.results.map((e) => [e.id, e.result, e.url]),
      [
        ['r-1', 'alert', `${pub.url}/r/1.xml`],
        [`${pub.url}/r/2.xml`, 'alert', `${pub.url}/r/2.xml`],
        ['r-3', 'alert', `${pub.url}/r/1-again.xml`],
      ],
    );
    assert.equal(r.results[2].outcome, 'duplicate');
    assert.equal(r.newAlerts, 2);
    assert.equal(r.duplicates, 1);
    assert.equal(r.feed.failures, 0);
    assert.equal(pub.hits('/page.html').length, 0, 'the web page was not fetched');
    await admin.delete(`/api/alert-feeds/${feed.id}`).expect(204);
  });

  it('polls due feeds on its tick; a failing feed backs off (interval × 2^failures) and recovers', async () => {
    let down = true;
    pub.routes.set('/flaky.xml', (_req, res) => {
      if (down) res.writeHead(500).end('boom');
      else
        res
          .writeHead(200, { 'Content-Type': 'application/atom+xml' })
          .end(`<feed xmlns="${ATOM_NS}"><id>urn:flaky</id></feed>`);
    });
    const feed = await addFeed('flaky', '/flaky.xml', { intervalS: 60 });
    const hits = () => pub.hits('/flaky.xml').length;

    await s.tick();
    assert.equal(hits(), 1, 'a new feed is polled at the next tick');
    let f = await getFeed(feed.id);
    assert.equal(f.failures, 1);
    assert.match(f.lastError ?? '', /HTTP 500/);
    assert.equal(Date.parse(f.nextPollAt) - Date.parse(f.lastPolledAt!), 2 * MIN);

    await s.advance(MIN + 1_000);
    assert.equal(hits(), 1, 'not asked again after the plain interval');
    await s.advance(MIN);
    assert.equal(hits(), 2, 'asked again after interval × 2');
    f = await getFeed(feed.id);
    assert.equal(f.failures, 2);
    assert.equal(Date.parse(f.nextPollAt) - Date.parse(f.lastPolledAt!), 4 * MIN);

    await s.advance(2 * MIN);
    assert.equal(hits(), 2, 'still waiting: interval × 4');
    down = false;
    await s.advance(2 * MIN + 1_000);
    assert.equal(hits(), 3);
    f = await getFeed(feed.id);
    assert.equal(f.failures, 0, 'a good poll ends the back-off');
    assert.equal(f.lastError, null);
    assert.equal(Date.parse(f.nextPollAt) - Date.parse(f.lastPolledAt!), MIN);
    await admin.delete(`/api/alert-feeds/${feed.id}`).expect(204);
  });

  it('polls a feed once at a time, and a slow feed holds up no other', async () => {
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let arrived!: () => void;
    const slowAsked = new Promise<void>((resolve) => (arrived = resolve));
    pub.routes.set('/slow.xml', (_req, res) => {
      arrived();
      void held.then(() =>
        res
          .writeHead(200, { 'Content-Type': 'application/atom+xml' })
          .end(`<feed xmlns="${ATOM_NS}"><id>urn:slow</id></feed>`),
      );
    });
    pub.serve('/quick.xml', 'application/atom+xml', () => `<feed xmlns="${ATOM_NS}"/>`);
    const slow = await addFeed('slow', '/slow.xml');
    const quick = await addFeed('quick', '/quick.xml');

    const ticking = s.tick();
    await slowAsked;
    await eventually(
      async () => (await getFeed(quick.id)).lastOkAt !== null,
      10_000,
      'the quick feed polled while the slow one hangs',
    );
    await s.tick();
    const manual = admin
      .post(`/api/alert-feeds/${slow.id}/poll`)
      .expect(200)
      .then((r) => r.body as PollResult);
    await eventually(
      () =>
        s
          .logs()
          .some((l) => l.msg.includes(`feed=${slow.id} poll requested while one is under way`)),
      10_000,
      'the manual poll joining the one under way',
    );
    release();
    await ticking;
    const joined = await manual;
    assert.equal(joined.status, 'ok');
    assert.equal(pub.hits('/slow.xml').length, 1, 'the feed was asked once');
    assert.ok((await getFeed(slow.id)).lastOkAt);
    await admin.delete(`/api/alert-feeds/${slow.id}`).expect(204);
    await admin.delete(`/api/alert-feeds/${quick.id}`).expect(204);
  });

  it('caps the back-off at an hour, and answers a failed poll with the reason', async () => {
    pub.routes.set('/html.xml', (_req, res) =>
      res.writeHead(200, { 'Content-Type': 'text/html' }).end('<html><body>维护中</body></html>'),
    );
    const feed = await addFeed('html', '/html.xml', { intervalS: 600 });
    let r = await poll(feed.id);
    assert.equal(r.status, 'failed');
    assert.equal(r.httpStatus, 200);
    assert.match(r.error ?? '', /not an Atom or RSS 2\.0 feed/);
    for (let i = 0; i < 3; i++) r = await poll(feed.id);
    assert.equal(r.feed.failures, 4);
    // 600 s × 2^4 would be 160 min.
    assert.equal(Date.parse(r.feed.nextPollAt) - Date.parse(r.feed.lastPolledAt!), 60 * MIN);
    await admin.delete(`/api/alert-feeds/${feed.id}`).expect(204);
  });

  it('refuses a feed document over 1 MiB without parsing it', async () => {
    const padding = `<!-- ${'x'.repeat(1024 * 1024)} -->`;
    pub.serve(
      '/huge.xml',
      'application/atom+xml',
      () => `<feed xmlns="${ATOM_NS}">${padding}</feed>`,
    );
    const feed = await addFeed('huge', '/huge.xml');
    const r = await poll(feed.id);
    assert.equal(r.status, 'failed');
    assert.match(r.error ?? '', /too-large/);
    await admin.delete(`/api/alert-feeds/${feed.id}`).expect(204);
  });

  it('handles the 50 newest new entries per poll, the rest at the next, and forgets none of a long feed', async () => {
    // 1,001 entries without CAP (cheap to handle), newest first; more than the 1,000 remembered.
    const count = 1001;
    const base = Date.parse('2026-12-01T00:00:00Z');
    const entry = (i: number) =>
      `<entry><id>urn:long:${i}</id><updated>${new Date(base + i * MIN).toISOString()}</updated></entry>`;
    const body = `<feed xmlns="${ATOM_NS}">${Array.from({ length: count }, (_, i) => entry(count - 1 - i)).join('')}</feed>`;
    pub.serve(
      '/long.xml',
      'application/atom+xml',
      () => body,
      () => '"long-1"',
    );
    const feed = await addFeed('long', '/long.xml', { enabled: false });
    let r = await poll(feed.id);
    assert.deepEqual(
      r.results.map((e) => e.id),
      Array.from({ length: 50 }, (_, i) => `urn:long:${count - 50 + i}`),
      'the 50 newest, oldest of them first',
    );
    assert.equal(r.feed.etag, null, 'entries are left: the next poll asks for the whole feed');
    let handled = 50;
    while (handled < count) {
      r = await poll(feed.id);
      assert.equal(r.status, 'ok');
      assert.equal(r.results.length, Math.min(50, count - handled));
      handled += r.results.length;
    }
    assert.equal(r.feed.etag, '"long-1"');
    // Nothing forgotten: unconditional polls of the same feed find nothing new.
    pub.serve('/long.xml', 'application/atom+xml', () => body);
    for (let i = 0; i < 2; i++) {
      r = await poll(feed.id);
      assert.equal(r.results.length, 0);
      assert.equal(r.seen, count);
    }
    await admin.delete(`/api/alert-feeds/${feed.id}`).expect(204);
  });

  it('keeps a feed URL’s query string and userinfo out of logs and the audit log', async () => {
    const feed = await addFeed('keyed', '/keyed.xml?key=s3cret-one', { enabled: false });
    assert.equal(feed.url, `${pub.url}/keyed.xml?key=s3cret-one`, 'admins still see the URL');
    await admin
      .patch(`/api/alert-feeds/${feed.id}`)
      .send({ url: `${pub.url}/keyed.xml?key=s3cret-two` })
      .expect(200);
    await admin.delete(`/api/alert-feeds/${feed.id}`).expect(204);
    const audit = (await admin.get('/api/audit?limit=500').expect(200)).body.items as {
      subject: string;
      detail: unknown;
    }[];
    // The feed service's entries and the API's own (POST, PATCH, DELETE with what was sent).
    const mine = audit.filter((a) => a.subject === feed.id);
    assert.ok(mine.length >= 5, `${mine.length} audit entries`);
    assert.match(JSON.stringify(mine), /keyed\.xml\?…/);
    assert.doesNotMatch(JSON.stringify(audit), /s3cret/);
    assert.ok(s.rawLogs.some((l) => l.includes(feed.id)));
    assert.ok(!s.rawLogs.some((l) => l.includes('s3cret')), 'no log line holds the key');
  });

  it('keeps the query string of an entry’s CAP link out of logs and the stored reason', async () => {
    pub.serve('/linked-keyed.xml', 'application/atom+xml', () =>
      [
        `<?xml version="1.0" encoding="UTF-8"?><feed xmlns="${ATOM_NS}">`,
        `<id>urn:keyed</id><title>带密钥的链接</title><updated>${capTime(Date.now())}</updated>`,
        `<entry><id>urn:e:keyed</id><updated>${capTime(Date.now())}</updated>`,
        `<link rel="alternate" type="application/cap+xml" href="/cap/gone.xml?token=s3cret-link"/></entry>`,
        `</feed>`,
      ].join('\n'),
    );
    const feed = await addFeed('keyed links', '/linked-keyed.xml');
    const r = await poll(feed.id);
    assert.deepEqual(
      r.results.map((e) => e.result),
      ['error'],
    );
    assert.equal(r.results[0].url, `${pub.url}/cap/gone.xml?token=s3cret-link`, 'admins see it');
    assert.match(r.results[0].reason ?? '', /gone\.xml\?… answered HTTP 404/);
    assert.ok(
      s.rawLogs.some((l) => l.includes('gone.xml?…')),
      'the failure is logged',
    );
    assert.ok(!s.rawLogs.some((l) => l.includes('s3cret-link')), 'no log line holds the key');
    await admin.delete(`/api/alert-feeds/${feed.id}`).expect(204);
  });

  it('changes, disables, refuses a second feed of one URL, deletes, and audits each change', async () => {
    pub.serve('/managed.xml', 'application/atom+xml', () => `<feed xmlns="${ATOM_NS}"/>`);
    const feed = await addFeed('managed', '/managed.xml', { intervalS: 120 });
    const taken = await admin
      .post('/api/alert-feeds')
      .send({ name: 'again', url: feed.url })
      .expect(409);
    assert.equal(taken.body.error, 'FEED_URL_TAKEN');

    const changed = (
      await admin
        .patch(`/api/alert-feeds/${feed.id}`)
        .send({ name: '已改名', enabled: false })
        .expect(200)
    ).body as Feed;
    assert.equal(changed.name, '已改名');
    assert.equal(changed.enabled, false);
    const before = pub.hits('/managed.xml').length;
    await s.advance(10 * MIN);
    assert.equal(pub.hits('/managed.xml').length, before, 'a disabled feed is not polled');

    await admin.delete(`/api/alert-feeds/${feed.id}`).expect(204);
    const gone = await admin.get(`/api/alert-feeds/${feed.id}`).expect(404);
    assert.equal(gone.body.error, 'FEED_NOT_FOUND');
    await admin.post(`/api/alert-feeds/${feed.id}/poll`).expect(404);

    const audit = (await admin.get('/api/audit?action=alert-feed.&limit=500').expect(200)).body
      .items as { action: string; subject: string }[];
    const mine = audit.filter((a) => a.subject === feed.id).map((a) => a.action);
    assert.deepEqual(mine.sort(), ['alert-feed.create', 'alert-feed.delete', 'alert-feed.update']);
  });
});
