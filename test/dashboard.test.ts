/// <reference lib="dom" />
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it, beforeAll, afterAll } from '@jest/globals';
import { parse } from 'csv-parse/sync';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import type { DeviceAgent } from '../devices/agent.js';
import { Fleet, readCredentialsFile } from '../devices/fleet.js';
import { credentialsPath } from '../src/seed/credentials-file.js';
import { makeAudio } from './support/audio.js';
import { ARTIFACTS, launchBrowser, pageErrors, signIn, waitForText } from './support/browser.js';
import { fixtures } from './support/fixtures.js';
import { mqttUrl, startAgent } from './support/mqtt.js';
import { api, startTestServer, tempDir, TestServer, tokenFor } from './support/server.js';

describe('the dashboard in Chromium', () => {
  let s: TestServer;
  let browser: Browser;
  let operator: BrowserContext;
  let page: Page;
  let errors: string[];
  let fleet: Fleet;
  let viewerToken: string;
  let broadcastPath = '';
  let odd: DeviceAgent | undefined;

  beforeAll(async () => {
    s = await startTestServer({ seed: true });
    viewerToken = await tokenFor(s, 'viewer');
    fleet = new Fleet(await readCredentialsFile(credentialsPath(s.dataDir)), {
      url: mqttUrl(s),
      speed: 0,
    });
    browser = await launchBrowser();
    operator = await browser.newContext({
      viewport: { width: 1280, height: 900 },
      acceptDownloads: true,
    });
    page = await operator.newPage();
    errors = pageErrors(page);
  });
  afterAll(async () => {
    await odd?.stop();
    await browser?.close();
    await fleet?.stop();
    await s?.close();
  });

  it('signs in with a token kept in the session, not the URL', async () => {
    await page.goto(`${s.url}/`);
    await page.waitForSelector('#login');
    assert.match((await page.textContent('h1')) ?? '', /登录/, 'Chinese by default');
    await page.fill('#token', 'dlb_not-a-token');
    await page.click('#login button[type=submit]');
    await page.waitForSelector('#login-error:not(:empty)');
    await signIn(page, s.url, s.adminToken);
    assert.doesNotMatch(page.url(), /dlb_|test-admin/, 'the token is not in the URL');
    const stored = await page.evaluate(() => sessionStorage.getItem('dalaba.session'));
    assert.match(stored ?? '', /"role":"admin"/);
    assert.equal(await page.evaluate(() => localStorage.getItem('dalaba.session')), null);
  });

  it('shows 81 villages and turns tiles online as the fleet connects', async () => {
    await page.waitForSelector('.tile');
    assert.equal(await page.locator('.tile').count(), 81);
    assert.equal(await page.locator('.tile[data-presence="ok"]').count(), 0, 'nothing online yet');
    const started = await fleet.start();
    assert.equal(started.connected, 95);
    // Live: the board follows the event stream; no reload.
    await page.waitForFunction(
      () => document.querySelectorAll('.tile[data-presence="ok"]').length === 81,
      undefined,
      { timeout: 20_000 },
    );
    assert.equal(await page.getAttribute('#board-summary', 'data-online'), '95');
    await page.screenshot({ path: join(ARTIFACTS, 'board.png'), fullPage: true });
  });

  it('creates an emergency broadcast from the form, with a confirmation step, and watches it reach 100%', async () => {
    await page.click('a[data-nav="nav.new"]');
    await page.waitForSelector('#new-broadcast-form');
    const audio = await makeAudio(tempDir('dalaba-ui-'), 'flood-warning', {
      signal: 'noise',
      seconds: 2,
      gainDb: -16,
    });
    await page.setInputFiles('#upload', audio);
    await waitForText(page, '#clip-state', /就绪/);
    assert.notEqual(await page.inputValue('#clip'), '', 'the uploaded clip is picked');
    await page.waitForSelector('#reach[data-villages="81"]');
    assert.equal(await page.getAttribute('#reach', 'data-devices'), '95');
    // III: an emergency that asks first but needs no second person (dashboard-approvals has I).
    await page.fill('#title', '山洪灾害 III 级预警');
    await page.selectOption('#level', 'III');
    assert.equal(await page.isChecked('#tone'), true, 'emergencies get the attention tone');
    await page.click('#send');
    await page.waitForSelector('#confirm:not([hidden])');
    assert.match((await page.textContent('#confirm')) ?? '', /81 个村、95 台设备/);
    await page.click('#confirm-back');
    assert.equal(await page.isHidden('#confirm'), true, 'going back sends nothing');
    assert.match(page.url(), /#\/new$/);
    await page.click('#send');
    await page.click('#confirm-send');
    await page.waitForURL(/#\/broadcasts\/[0-9a-f-]{36}$/);
    broadcastPath = new URL(page.url()).hash;
    await waitForText(page, '#coverage-rate', /^100\.0%$/);
    assert.equal(await page.getAttribute('#coverage-summary', 'data-covered'), '81');
    await page.waitForSelector('.badge[data-status="completed"]', { timeout: 30_000 });
    await page.waitForSelector('.badge[data-outcome="completed"]');
    assert.match((await page.textContent('.progress-text')) ?? '', /95\/95/);
    // Time to first sound beside time to played, for all villages and for each.
    for (const kind of ['firstSound', 'played'])
      assert.notEqual(
        await page.getAttribute(`#milestones-${kind} .stat[data-share="1"]`, 'data-after'),
        '',
        `${kind}: 100% of villages reached`,
      );
    assert.equal(await page.locator('tr[data-code] td.first-sound:text("—")').count(), 0);
    assert.equal(await page.locator('tr[data-code] td.played:text("—")').count(), 0);
    await page.screenshot({ path: join(ARTIFACTS, 'broadcast.png'), fullPage: true });

    await page.click('a[data-nav="nav.broadcasts"]');
    await page.waitForSelector('#broadcasts');
    assert.equal(
      await page.getAttribute('#broadcasts .progress-text', 'data-played'),
      '95',
      'the list shows the same progress',
    );
    await page.click('a[data-nav="nav.board"]');
    await page.waitForFunction(
      () => document.querySelectorAll('.tile[data-outcome="covered"]').length === 81,
    );
    await page.screenshot({ path: join(ARTIFACTS, 'board-covered.png'), fullPage: true });
  });

  it('downloads the period report as CSV with the right rows', async () => {
    await page.click('a[data-nav="nav.reports"]');
    await page.waitForSelector('#report-summary');
    assert.equal(await page.locator('#chart .line').count(), 81);
    assert.equal(await page.getAttribute('#report-summary', 'data-usage'), '1');
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.click('#csv-villages'),
    ]);
    const text = await readFile((await download.path())!, 'utf8');
    assert.ok(text.startsWith('\uFEFF'), 'with a BOM for Excel');
    const [head, table] = text.slice(1).split('\r\n\r\n');
    const meta = new Map((parse(head) as string[][]).map(([k, v]) => [k, v]));
    assert.equal(meta.get('使用率'), '100.0%');
    assert.ok(meta.get('统计开始') && meta.get('生成时间'));
    const [header, ...rows] = parse(table) as string[][];
    assert.deepEqual(header.slice(2, 4), ['村编码', '村名']);
    assert.equal(rows.length, 81);
    const rate = header.indexOf('覆盖率');
    assert.ok(
      rows.every((r) => r[rate] === '100.0%'),
      'every village covered by the one broadcast',
    );
    assert.notEqual(
      (await page.textContent('#report-broadcasts td.first-sound'))?.trim(),
      '—',
      'the period report times the first sound',
    );
    await page.screenshot({ path: join(ARTIFACTS, 'reports.png'), fullPage: true });
  });

  it('switches to English and back', async () => {
    await page.click('#lang');
    await page.waitForFunction(
      () => document.querySelector('a[data-nav="nav.board"]')?.textContent === 'Village board',
    );
    assert.equal(await page.evaluate(() => document.documentElement.lang), 'en');
    await page.click('#lang');
    await page.waitForFunction(
      () => document.querySelector('a[data-nav="nav.board"]')?.textContent === '村级看板',
    );
  });

  it('lets a viewer see everything and change nothing', async () => {
    const context = await browser.newContext({ viewport: { width: 390, height: 844 } });
    try {
      const viewer = await context.newPage();
      const viewerErrors = pageErrors(viewer);
      await signIn(viewer, s.url, viewerToken);
      assert.equal(await viewer.locator('a[data-nav="nav.new"]').count(), 0);
      await viewer.waitForSelector('.tile');
      // Usable on a phone: nothing wider than the screen.
      assert.ok(
        await viewer.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth),
        'the board fits a phone screen',
      );
      await viewer.screenshot({ path: join(ARTIFACTS, 'board-phone.png'), fullPage: true });
      await viewer.click('a[data-nav="nav.broadcasts"]');
      await viewer.waitForSelector('#broadcasts');
      assert.equal(await viewer.locator('#new-broadcast').count(), 0, 'no create button');
      await viewer.goto(`${s.url}/${broadcastPath}`);
      await viewer.waitForSelector('#coverage-summary');
      assert.equal(await viewer.locator('#cancel').count(), 0, 'no cancel button');
      assert.equal(await viewer.locator('button.confirm').count(), 0, 'no manual confirmation');
      assert.equal(await viewer.locator('#csv').count(), 1, 'but the export is there');
      await viewer.goto(`${s.url}/#/schedules`);
      await viewer.waitForSelector('h1');
      assert.equal(await viewer.locator('#new-schedule').count(), 0);
      assert.deepEqual(viewerErrors, []);
    } finally {
      await context.close();
    }
    assert.deepEqual(errors, [], 'no script errors on the operator’s page');
  });

  it('flags a device that reports another type than registered on its tile and in the village', async () => {
    const village = (await api(s.url, s.adminToken).get('/api/villages?limit=1').expect(200)).body
      .items[0] as { code: string };
    const device = await fixtures(s.url, s.adminToken).newDevice(village.code, {
      type: 'flood_pa',
    });
    odd = await startAgent(mqttUrl(s), device, { deviceType: 'village_loudspeaker', speed: 0 });
    await page.click('a[data-nav="nav.board"]');
    const tile = `.tile[data-code="${village.code}"] .type-mismatch[data-count="1"]`;
    await page.waitForSelector(tile);
    assert.match((await page.textContent(tile)) ?? '', /1 台设备类型与登记不符/);
    assert.match((await page.textContent('#board-summary')) ?? '', /1 台设备自报类型与登记不符/);
    await page.click(`.tile[data-code="${village.code}"]`);
    const row = `#village-devices tr[data-device="${device.id}"] .type-mismatch`;
    await page.waitForSelector(row);
    assert.match((await page.textContent(row)) ?? '', /设备自报为村村通大喇叭/);
    await page.screenshot({ path: join(ARTIFACTS, 'village-type-mismatch.png'), fullPage: true });
    assert.deepEqual(errors, []);
  });
});
