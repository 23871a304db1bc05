/// <reference lib="dom" />
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it, beforeAll, afterAll } from '@jest/globals';
import type { Browser, Page } from 'playwright-core';
import type { DeviceAgent } from '../devices/agent.js';
import { createBroadcast, deliveryReached, newClip } from './support/broadcasts.js';
import { ARTIFACTS, launchBrowser, pageErrors, signIn, waitForText } from './support/browser.js';
import { fixtures } from './support/fixtures.js';
import { mqttUrl, startAgentOnline } from './support/mqtt.js';
import { api, startTestServer, TestServer, tokenFor } from './support/server.js';

/**
 * Two towns after a level II broadcast: 甲镇 with a village that heard it (a1), one whose device
 * failed (a2) and one whose device is offline (a3); 乙镇 with a village that heard it (b1) and
 * one without a device (b2).
 */
describe('the village board in an emergency', () => {
  let s: TestServer;
  let browser: Browser;
  let page: Page;
  let errors: string[];
  const agents: DeviceAgent[] = [];
  const v: Record<string, string> = {};
  const town: Record<string, string> = {};
  let offlineDevice: { id: string; secret: string };
  let original = '';

  beforeAll(async () => {
    s = await startTestServer();
    const fx = fixtures(s.url, s.adminToken);
    town.a = (await fx.newTown({ name: '甲镇' })).code;
    town.b = (await fx.newTown({ name: '乙镇' })).code;
    for (const name of ['a1', 'a2', 'a3']) v[name] = (await fx.newVillage(town.a)).code;
    for (const name of ['b1', 'b2']) v[name] = (await fx.newVillage(town.b)).code;
    const a1 = await fx.newDevice(v.a1);
    const a2 = await fx.newDevice(v.a2);
    offlineDevice = await fx.newDevice(v.a3);
    const b1 = await fx.newDevice(v.b1);
    agents.push(await startAgentOnline(s, mqttUrl(s), a1, { speed: 0 }));
    agents.push(
      await startAgentOnline(s, mqttUrl(s), a2, { speed: 0, faults: { failDownloads: 1 } }),
    );
    // A speaker cart's battery running down: the village page must say so.
    agents.push(await startAgentOnline(s, mqttUrl(s), b1, { speed: 0, batteryPct: 15 }));
    const clip = await newClip(s, 1);
    const waits = [
      deliveryReached(s, () => original, a1.id, 'played'),
      deliveryReached(s, () => original, a2.id, 'failed'),
      deliveryReached(s, () => original, b1.id, 'played'),
    ];
    original = (
      await createBroadcast(s, {
        title: '山洪二级预警',
        clipId: clip.id,
        level: 'II',
        target: { all: true },
        // Level II needs a second person; the board is this file's subject, not approval.
        override: { reason: '测试：直接发送' },
      })
    ).id;
    await Promise.all(waits);
    browser = await launchBrowser();
    page = await (
      await browser.newContext({ viewport: { width: 1280, height: 900 }, acceptDownloads: true })
    ).newPage();
    errors = pageErrors(page);
    await signIn(page, s.url, await tokenFor(s, 'operator'));
    await page.waitForSelector('.town-summary');
  });
  afterAll(async () => {
    await Promise.all(agents.map((a) => a.stop()));
    await browser?.close();
    await s?.close();
  });

  it('sums up each town: villages, covered, uncovered, devices online', async () => {
    const figures = async (code: string) =>
      page.$eval(`section.town[data-town="${code}"] .town-summary`, (el) => {
        const d = (el as HTMLElement).dataset;
        return [d.villages, d.covered, d.uncovered, d.online, d.enabled, el.textContent?.trim()];
      });
    assert.deepEqual(await figures(town.a), [
      '3',
      '1',
      '2',
      '2',
      '3',
      '3 个村 · 已覆盖 1 · 未覆盖 2 · 设备在线 2/3',
    ]);
    assert.deepEqual(await figures(town.b), [
      '2',
      '1',
      '1',
      '1',
      '1',
      '2 个村 · 已覆盖 1 · 未覆盖 1 · 设备在线 1/1',
    ]);
  });

  it('shows only the villages with problems when 只看异常 is on, and keeps it across a visit', async () => {
    assert.equal(await page.locator('#board-towns .tile').count(), 5);
    assert.equal(await page.textContent('#abnormal-count'), '3 个村异常');
    await page.check('#only-abnormal');
    const shown = await page.$$eval('#board-towns .tile', (els) =>
      els.map((e) => (e as HTMLElement).dataset.code).sort(),
    );
    // a2: its device failed; a3: offline and not covered; b2: no device. a1 and b1 heard it.
    assert.deepEqual(shown, [v.a2, v.a3, v.b2].sort());
    // Every town keeps its summary row, whatever the filter hides.
    assert.equal(await page.locator('.town-summary').count(), 2);
    await page.screenshot({ path: join(ARTIFACTS, 'board-abnormal.png'), fullPage: true });
    await page.click(`#board-towns .tile[data-code="${v.a2}"]`);
    await page.waitForSelector('#village-devices');
    await page.goBack();
    await page.waitForSelector('.town-summary');
    assert.equal(await page.isChecked('#only-abnormal'), true);
    assert.equal(await page.locator('#board-towns .tile').count(), 3);
    await page.uncheck('#only-abnormal');
    assert.equal(await page.locator('#board-towns .tile').count(), 5);
  });

  it('names a device failure in Chinese by its code, the device’s own words beside it', async () => {
    const line = `#board-towns .tile[data-code="${v.a2}"] .failures`;
    assert.equal(await page.getAttribute(line, 'data-codes'), 'download_failed');
    assert.equal(
      (await page.textContent(line))?.trim(),
      '音频下载失败（download failed: simulated network fault）',
    );
    await page.click(`#board-towns .tile[data-code="${v.a2}"]`);
    await page.waitForSelector('#village-devices');
    assert.match(
      (await page.textContent('.failures[data-codes="download_failed"]')) ?? '',
      /^音频下载失败（download failed: simulated network fault）$/,
    );
    await page.goto(`${s.url}/#/broadcasts/${original}`);
    await page.waitForSelector(`#uncovered tr[data-code="${v.a2}"] .failures`);
    assert.match(
      (await page.textContent(`#uncovered tr[data-code="${v.a2}"] .failures`)) ?? '',
      /音频下载失败（download failed: simulated network fault）/,
    );
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#xlsx')]);
    assert.equal(download.suggestedFilename(), `coverage-${original}.xlsx`);
    await page.goto(`${s.url}/#/`);
    await page.waitForSelector('.town-summary');
  });

  it('shows telemetry under Chinese labels with units, a low battery marked', async () => {
    await page.goto(`${s.url}/#/village/${v.b1}`);
    const cell = '#village-devices tr[data-device] td:last-child';
    await waitForText(page, cell, /电量低 15%/);
    const text = (await page.textContent(cell)) ?? '';
    assert.match(text, /信号 -70 dBm/);
    assert.match(text, /已运行 \d/);
    assert.doesNotMatch(text, /signalDbm|batteryPct|uptimeS|=/, 'no raw keys');
    assert.equal(await page.locator('.low-battery').count(), 1);
    await page.screenshot({ path: join(ARTIFACTS, 'village-telemetry.png') });
    await page.goto(`${s.url}/#/`);
    await page.waitForSelector('.town-summary');
  });

  it('resends the latest broadcast to its uncovered villages in one click, confirming level II first', async () => {
    await page.waitForSelector(`#board-latest .latest[data-id="${original}"]`);
    // a2 failed and a3 was offline; b2 has no device to send to.
    assert.equal(await page.getAttribute('#board-latest .latest', 'data-resendable'), '2');
    await page.click('#resend');
    await page.waitForSelector('#resend-confirm:not([hidden])');
    assert.match((await page.textContent('#resend-confirm')) ?? '', /II级（重大）“山洪二级预警”/);
    await page.screenshot({ path: join(ARTIFACTS, 'board-resend-confirm.png') });
    await page.click('#resend-back');
    assert.equal(await page.isHidden('#resend-confirm'), true, 'going back sends nothing');
    await page.click('#resend');
    await page.click('#resend-go');
    await page.waitForURL(/#\/broadcasts\/[0-9a-f-]{36}$/);
    const id = new URL(page.url()).hash.split('/')[2];
    const made = (await api(s.url, s.adminToken).get(`/api/broadcasts/${id}`).expect(200)).body;
    assert.equal(made.resendOf, original);
    assert.deepEqual([...made.target.villages].sort(), [v.a2, v.a3].sort());
    assert.deepEqual(errors, []);
  });
  it('keeps focus on the switch while live updates redraw the board', async () => {
    await page.goto(`${s.url}/#/`);
    await page.waitForSelector('.town-summary');
    await page.focus('#only-abnormal');
    const agent = await startAgentOnline(s, mqttUrl(s), offlineDevice, { speed: 0 });
    agents.push(agent);
    await page.waitForSelector(`#board-towns .tile[data-code="${v.a3}"][data-presence="ok"]`, {
      timeout: 20_000,
    });
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'only-abnormal');
    await waitForText(page, `section.town[data-town="${town.a}"] .town-summary`, /设备在线 3\/3/);
  });

  it('prints the period report per town, without the console around it', async () => {
    await page.goto(`${s.url}/#/reports`);
    await page.waitForSelector(`#report-towns tr[data-town="${town.a}"]`);
    const cells = await page.$$eval(`#report-towns tr[data-town="${town.a}"] td`, (tds) =>
      tds.map((td) => td.textContent?.trim()),
    );
    assert.equal(cells[0], '甲镇');
    assert.equal(cells[1], '3');
    const shown = (selector: string) =>
      page.$eval(selector, (el) => getComputedStyle(el).display !== 'none');
    assert.equal(await shown('.print-title'), false, 'the paper title is for paper');
    await page.emulateMedia({ media: 'print' });
    assert.equal(await shown('header#top'), false);
    assert.equal(await shown('#report-form'), false);
    assert.equal(await shown('#report-towns'), true);
    assert.equal(await shown('.print-title'), true);
    assert.match(
      (await page.textContent('.print-title')) ?? '',
      /广播覆盖情况统计（\d{4}-\d{2}-\d{2} 至 \d{4}-\d{2}-\d{2}）/,
    );
    const pdf = await page.pdf({ path: join(ARTIFACTS, 'report-by-town.pdf'), format: 'A4' });
    assert.equal(pdf.subarray(0, 5).toString(), '%PDF-');
    await page.screenshot({ path: join(ARTIFACTS, 'report-print.png'), fullPage: true });
    await page.emulateMedia({ media: 'screen' });

    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.click('#xlsx-villages'),
    ]);
    assert.match(
      download.suggestedFilename(),
      /^coverage-villages-\d{4}-\d{2}-\d{2}-\d{4}-\d{2}-\d{2}\.xlsx$/,
    );
    assert.deepEqual(errors, []);
  });
});
