/// <reference lib="dom" />
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { describe, it, beforeAll, afterAll } from '@jest/globals';
import type { Browser, Page } from 'playwright-core';
import { ARTIFACTS, launchBrowser, pageErrors, signIn, waitForText } from './support/browser.js';
import { personWithPassword, signInAs } from './support/people.js';
import { fixtures } from './support/fixtures.js';
import { api, startTestServer, tempDir, TestServer } from './support/server.js';

/** CAP times carry their offset: Beijing time, as the early-warning platform writes them. */
function capTime(ms: number): string {
  const b = new Date(ms + 8 * 3600_000).toISOString().slice(0, 19);
  return `${b}+08:00`;
}

/** A CAP 1.2 alert for villages of this county, by their 12-digit administrative codes. */
function capXml(o: {
  identifier: string;
  sender: string;
  severity: string;
  headline: string;
  villages: string[];
}): string {
  const now = Date.now();
  return `<?xml version="1.0" encoding="UTF-8"?>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">
  <identifier>${o.identifier}</identifier>
  <sender>${o.sender}</sender>
  <sent>${capTime(now - 60_000)}</sent>
  <status>Actual</status>
  <msgType>Alert</msgType>
  <scope>Public</scope>
  <info>
    <language>zh-CN</language>
    <category>Met</category>
    <event>暴雨</event>
    <urgency>Immediate</urgency>
    <severity>${o.severity}</severity>
    <certainty>Observed</certainty>
    <expires>${capTime(now + 2 * 3600_000)}</expires>
    <senderName>县气象台</senderName>
    <headline>${o.headline}</headline>
    <description>预计未来三小时有强降雨，请注意防范山洪。</description>
    <area>
      <areaDesc>测试村</areaDesc>
${o.villages.map((v) => `      <geocode><valueName>GB/T 2260</valueName><value>${v}</value></geocode>`).join('\n')}
    </area>
  </info>
</alert>`;
}

describe('alerts, alert sources and text to speech in Chromium', () => {
  let s: TestServer;
  let browser: Browser;
  let page: Page;
  let errors: string[];
  const villages: string[] = [];
  /** A CAP feed, as a weather bureau serves one: Atom with the alert inline. */
  let feed: Server;
  let feedUrl: string;
  let feedXml = '';
  let seq = 0;

  const post = (xml: string) =>
    api(s.url, s.adminToken)
      .post('/api/alerts')
      .set('Content-Type', 'application/cap+xml')
      .send(xml);
  const newAlert = (severity: string, sender = 'qxt@611026.cn') => ({
    identifier: `DLB-${process.pid}-${seq++}`,
    sender,
    severity,
    headline: `县气象台发布暴雨预警 ${seq}`,
    villages,
  });

  beforeAll(async () => {
    // The station's two-person rule on: an operator's level II needs a second person.
    // The feed is served from 127.0.0.1, which only ALERT_FETCH_PRIVATE lets it fetch.
    s = await startTestServer({ approvals: true, env: { ALERT_FETCH_PRIVATE: 'true' } });
    const fx = fixtures(s.url, s.adminToken);
    const town = (await fx.newTown({ name: '城关镇' })).code;
    for (let i = 0; i < 2; i++) {
      const code = (await fx.newVillage(town)).code;
      villages.push(code);
      await fx.newDevice(code);
    }
    feed = createServer((req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/atom+xml' });
      res.end(feedXml);
    });
    await new Promise<void>((r) => feed.listen(0, '127.0.0.1', r));
    feedUrl = `http://127.0.0.1:${(feed.address() as AddressInfo).port}/cap.atom`;
    browser = await launchBrowser();
    const context = await browser.newContext({ locale: 'zh-CN' });
    page = await context.newPage();
    errors = pageErrors(page);
    // A person at the desk: a draft is always a person's (a token drafts nothing).
    await signInAs(page, s.url, await personWithPassword(s, 'zhou', 'admin'));
  });
  afterAll(async () => {
    await browser?.close();
    await new Promise((r) => feed?.close(r));
    await s?.close();
  });

  it('shows a received alert live, with its outcome, its XML and the draft it made', async () => {
    await page.click('#nav a[data-nav="nav.alerts"]');
    await page.waitForSelector('#alerts-empty');
    // Marks this page load: still set afterwards means nothing reloaded it.
    await page.evaluate(() => {
      (window as unknown as { loadMark: number }).loadMark = 1;
    });

    const alert = newAlert('Severe');
    const res = await post(capXml(alert)).expect(201);
    assert.equal(res.body.outcome, 'drafted', 'an unknown sender’s alert waits for a person');
    const row = `#alerts tr[data-id="${res.body.id}"]`;
    await page.waitForSelector(`${row}[data-outcome="drafted"]`);
    await waitForText(page, row, new RegExp(alert.headline));
    await waitForText(page, row, /严重.*II级/);
    await waitForText(page, row, /待审批/);
    await waitForText(page, row, /qxt@611026\.cn/);
    assert.equal(
      await page.evaluate(() => (window as unknown as { loadMark?: number }).loadMark),
      1,
      'without a reload',
    );
    await page.screenshot({ path: join(ARTIFACTS, 'alerts-inbox.png'), fullPage: true });

    await page.click(`${row} a[href="#/alerts/${res.body.id}"]`);
    await page.waitForSelector('#alert-outcome[data-outcome="drafted"]');
    await waitForText(page, '#alert-xml', new RegExp(alert.identifier));
    await waitForText(page, '#alert-villages', /2/);
    assert.equal(await page.getAttribute('#alert-signature', 'data-signature'), 'unsigned');
    await page.click('#alert-draft');
    await page.waitForSelector('#draft-status[data-status="pending"]');
    await waitForText(page, '#draft-title', new RegExp(alert.headline));
    assert.deepEqual(errors, []);
  });

  it('makes a clip from text in the new-broadcast form and previews it', async () => {
    await page.goto(`${s.url}/#/new`);
    await page.waitForSelector('#reach[data-villages="2"]');
    await page.waitForSelector('#tts[data-available="yes"]');
    await page.click('#tts summary');
    await page.fill('#title', '防汛通知');
    await page.fill('#tts-text', '各位村民请注意，今晚有强降雨，请远离河道。');
    await page.fill('#tts-speed', '1.2');
    await page.click('#tts-make');
    await waitForText(page, '#tts-state', /语音已生成/, 60_000);
    // The made clip is the form's clip, and the player holds its audio.
    const clipId = await page.inputValue('#clip');
    assert.match(clipId, /^[\w-]{36}$/);
    const clip = (await api(s.url, s.adminToken).get(`/api/clips/${clipId}`).expect(200)).body;
    assert.equal(clip.status, 'ready');
    assert.ok(clip.durationMs > 1000, `spoken audio lasts: ${clip.durationMs} ms`);
    await page.waitForFunction(() =>
      (document.getElementById('preview') as HTMLAudioElement).src.startsWith('blob:'),
    );
    // The player's blob holds the clip's audio (the page's CSP keeps fetch off blob: URLs, so
    // the player itself says it read it): as long as the clip, from the route that answers 200.
    const audio = await api(s.url, s.adminToken).get(`/api/clips/${clipId}/audio`).expect(200);
    assert.match(String(audio.headers['content-type']), /^audio\//);
    await page.waitForFunction(
      () => (document.getElementById('preview') as HTMLAudioElement).readyState >= 1,
    );
    const seconds = await page.evaluate(
      () => (document.getElementById('preview') as HTMLAudioElement).duration,
    );
    assert.ok(
      Math.abs(seconds * 1000 - clip.durationMs) < 500,
      `the player reads ${seconds} s of a ${clip.durationMs} ms clip`,
    );
    await page.screenshot({ path: join(ARTIFACTS, 'tts-preview.png'), fullPage: true });
    await page.evaluate(() => (document.getElementById('preview') as HTMLAudioElement).play());
    await page.waitForFunction(() => {
      const a = document.getElementById('preview') as HTMLAudioElement;
      return a.ended || a.currentTime > 0;
    });
    assert.deepEqual(errors, []);
  });

  it('says so when the server has no speech engine', async () => {
    const bare = await startTestServer({ env: { TTS_ENGINE: 'none' } });
    try {
      const p = await browser.newPage();
      const errs = pageErrors(p);
      await signIn(p, bare.url, bare.adminToken);
      await p.goto(`${bare.url}/#/new`);
      await p.waitForSelector('#tts[data-available="no"]');
      await p.click('#tts summary');
      await waitForText(p, '#tts-unavailable', /没有可用的语音合成引擎/);
      assert.equal(await p.isDisabled('#tts-make'), true);
      assert.deepEqual(errs, []);
      await p.close();
    } finally {
      await bare.close();
    }
  });

  it('lets an operator pick the level of an alert of unknown severity; its draft appears', async () => {
    const alert = newAlert('Unknown');
    const res = await post(capXml(alert)).expect(201);
    assert.equal(res.body.outcome, 'needs_level');
    await page.goto(`${s.url}/#/alerts/${res.body.id}`);
    await page.waitForSelector('#alert-outcome[data-outcome="needs_level"]');
    // Level II needs a second person here: the level picked becomes a draft.
    await page.selectOption('#pick-level', 'II');
    await page.click('#pick-submit');
    await page.waitForSelector('#alert-outcome[data-outcome="drafted"]');
    await page.waitForSelector('#alert-level [data-level="II"]');
    assert.equal(await page.$('#level-form'), null, 'the picker goes once the level is set');
    const draftId = /#\/approvals\/([\w-]+)$/.exec(
      (await page.getAttribute('#alert-draft', 'href')) ?? '',
    )?.[1];
    assert.ok(draftId, 'a link to the draft');
    const draft = (await api(s.url, s.adminToken).get(`/api/drafts/${draftId}`).expect(200)).body;
    assert.equal(draft.level, 'II');
    assert.equal(draft.status, 'pending');
    // The inbox says the same.
    await page.click('#nav a[data-nav="nav.alerts"]');
    await page.waitForSelector(`#alerts tr[data-id="${res.body.id}"][data-outcome="drafted"]`);
    assert.deepEqual(errors, []);
  });

  it('trusts a sender and polls a feed from the 预警接入 page', async () => {
    await page.click('#nav a[data-nav="nav.alertIntake"]');
    await page.waitForSelector('#senders-empty');
    await page.click('#add-sender');
    await page.fill('#s-sender', 'cma@12379.cn');
    await page.fill('#s-name', '国家预警信息发布中心');
    await page.selectOption('#s-policy', 'accept_unsigned');
    await page.check('input[name="s-auto"][value="Severe"]');
    await page.click('#sender-save');
    await page.waitForSelector('#senders tr[data-sender="cma@12379.cn"]');
    await waitForText(page, '#senders tr[data-sender="cma@12379.cn"] .auto', /严重/);
    const sender = (
      await api(s.url, s.adminToken).get('/api/alert-senders/cma%4012379.cn').expect(200)
    ).body;
    assert.equal(sender.policy, 'accept_unsigned');
    assert.deepEqual(sender.autoSeverities, ['Severe']);

    // The feed carries a Severe alert of that sender, unsigned: it waits for a person all the same
    // (a sender's name is something anyone may write; only a signed alert goes out alone).
    const alert = newAlert('Severe', 'cma@12379.cn');
    feedXml = `<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <id>urn:uuid:${randomUUID()}</id>
  <title>预警</title>
  <updated>${new Date().toISOString()}</updated>
  <entry>
    <id>urn:uuid:${randomUUID()}</id>
    <title>${alert.headline}</title>
    <updated>${new Date().toISOString()}</updated>
    <content type="application/cap+xml">${capXml(alert).replace(/^<\?xml[^>]*>\s*/, '')}</content>
  </entry>
</feed>`;
    await page.fill('#f-name', '省气象局');
    await page.fill('#f-url', feedUrl);
    await page.fill('#f-interval', '300');
    await page.click('#feed-submit');
    const feedRow = '#feeds tr[data-id]';
    await page.waitForSelector(feedRow);
    await page.click(`${feedRow} button[data-act="poll"]`);
    await waitForText(page, '#poll-result', /新预警 1 条/);
    await page.waitForSelector(`${feedRow} .state [data-state="ok"]`);
    await page.screenshot({ path: join(ARTIFACTS, 'alert-intake.png'), fullPage: true });

    await page.click('#nav a[data-nav="nav.alerts"]');
    await page.selectOption('#alert-source', 'feed');
    const row = `#alerts tr[data-outcome="drafted"]`;
    await page.waitForSelector(row);
    await waitForText(page, row, new RegExp(alert.headline));

    // From now on only what this sender signs: its certificate pasted as PEM, shown by subject.
    const dir = tempDir();
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:P-256',
        '-nodes',
        '-subj',
        '/CN=CMA Alert Signing TEST',
        '-days',
        '30',
        '-keyout',
        join(dir, 'key.pem'),
        '-out',
        join(dir, 'cert.pem'),
      ],
      { stdio: 'ignore' },
    );
    await page.click('#nav a[data-nav="nav.alertIntake"]');
    await page.click('#senders tr[data-sender="cma@12379.cn"] button[data-act="edit-sender"]');
    await page.selectOption('#s-policy', 'require_signature');
    await page.fill('#s-certs', readFileSync(join(dir, 'cert.pem'), 'utf8'));
    await page.click('#sender-save');
    await waitForText(page, '#senders tr[data-sender="cma@12379.cn"]', /CMA Alert Signing TEST/);
    await waitForText(page, '#senders tr[data-sender="cma@12379.cn"] .policy', /必须有有效签名/);
    const signed = (
      await api(s.url, s.adminToken).get('/api/alert-senders/cma%4012379.cn').expect(200)
    ).body;
    assert.equal(signed.policy, 'require_signature');
    assert.equal(signed.certificates.length, 1);
    assert.deepEqual(signed.autoSeverities, ['Severe'], 'what was not touched stays');
    assert.deepEqual(errors, []);
  });

  it('names a refusal’s rule in Chinese, with its code', async () => {
    await page.goto(`${s.url}/#/alerts`);
    await page.waitForSelector('#alerts');
    // An XXE attempt: refused before any parsing, and on the record with the rule it broke.
    const xxe = capXml(newAlert('Severe')).replace(
      '<alert ',
      '<!DOCTYPE alert [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n<alert ',
    );
    const res = await post(xxe).expect(400);
    assert.equal(res.body.error, 'ALERT_REFUSED');
    const row = '#alerts tr[data-outcome="refused"]';
    await page.waitForSelector(row);
    await waitForText(page, row, /已拒收/);
    await waitForText(page, `${row} .rule-text`, /XXE/);
    await waitForText(page, `${row} code.rule`, /^xml\.doctype$/);
    await page.screenshot({ path: join(ARTIFACTS, 'alerts-inbox-all.png'), fullPage: true });
    await page.click(`${row} a[href^="#/alerts/"]`);
    await page.waitForSelector('#alert-outcome[data-outcome="refused"]');
    await waitForText(page, '#alert-xml', /<!DOCTYPE alert/);
    assert.deepEqual(errors, []);
  });
});
