/// <reference lib="dom" />
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it, beforeAll, afterAll } from '@jest/globals';
import type { Browser, Page } from 'playwright-core';
import type { DeviceAgent } from '../devices/agent.js';
import { createBroadcast, deliveryReached, newClip } from './support/broadcasts.js';
import { ROOT } from './support/cli.js';
import { ARTIFACTS, launchBrowser, pageErrors, signIn, waitForText } from './support/browser.js';
import { fixtures } from './support/fixtures.js';
import { mqttUrl, startAgentOnline } from './support/mqtt.js';
import { api, startTestServer, tempDir, TestServer } from './support/server.js';

describe('the broadcast pages in Chromium', () => {
  let s: TestServer;
  let browser: Browser;
  let page: Page;
  let errors: string[];
  let clip: { id: string };
  let adminName: string;
  /** Villages with a loudspeaker each (their agents start during the first test). */
  const villages: { code: string; device: { id: string; secret: string } }[] = [];
  /** A village whose only device, a speaker cart, never comes online. */
  let cart: string;
  const agents: DeviceAgent[] = [];

  beforeAll(async () => {
    s = await startTestServer();
    const fx = fixtures(s.url, s.adminToken);
    const town = (await fx.newTown({ name: '城关镇' })).code;
    for (let i = 0; i < 6; i++) {
      const code = (await fx.newVillage(town)).code;
      villages.push({ code, device: await fx.newDevice(code) });
    }
    cart = (await fx.newVillage(town)).code;
    await fx.newDevice(cart, { type: 'speaker_cart' });
    clip = await newClip(s, 1);
    adminName = (await api(s.url, s.adminToken).get('/api/me').expect(200)).body.name;
    browser = await launchBrowser();
    // Short: the broadcast page scrolls, as it does on a laptop in a town office.
    const context = await browser.newContext({ viewport: { width: 1280, height: 600 } });
    page = await context.newPage();
    errors = pageErrors(page);
    await signIn(page, s.url, s.adminToken);
  });
  afterAll(async () => {
    for (const a of agents) await a.stop();
    await browser?.close();
    await s?.close();
  });

  const openBroadcast = async (id: string) => {
    await page.goto(`${s.url}/#/broadcasts/${id}`);
    await page.waitForSelector('#coverage-summary');
  };

  it('keeps focus and scroll while devices report progress', async () => {
    const b = await createBroadcast(s, {
      title: '汛期巡查通知',
      clipId: clip.id,
      level: 'IV',
      target: { villages: [...villages.map((v) => v.code), cart] },
    });
    await openBroadcast(b.id);
    const button = `button.confirm[data-code="${cart}"]`;
    await page.focus(button);
    await page.evaluate(() => {
      (document.activeElement as HTMLElement & { mark?: boolean }).mark = true;
      window.scrollTo(0, 240);
    });
    assert.equal(await page.evaluate(() => window.scrollY), 240, 'the page scrolls');
    for (const [i, v] of villages.entries()) {
      const played = deliveryReached(s, () => b.id, v.device.id, 'played');
      agents.push(await startAgentOnline(s, mqttUrl(s), v.device));
      await played;
      // The live update has been drawn once the figure changes.
      await page.waitForSelector(`#coverage-summary[data-covered="${i + 1}"]`);
      const where = await page.evaluate(() => ({
        same: (document.activeElement as HTMLElement & { mark?: boolean }).mark === true,
        code: (document.activeElement as HTMLElement).dataset.code,
        y: window.scrollY,
      }));
      assert.deepEqual(where, { same: true, code: cart, y: 240 }, `update ${i + 1}`);
    }
    assert.equal(await page.locator('#uncovered tr[data-code]').count(), 1, 'only the cart left');
    assert.deepEqual(errors, []);
  });

  it('lands at the top of the new broadcast after sending', async () => {
    await page.goto(`${s.url}/#/new`);
    await page.waitForSelector('#reach[data-villages="7"]');
    await page.fill('#title', '防汛物资发放通知');
    await page.selectOption('#clip', clip.id);
    await page.evaluate(() => window.scrollTo(0, document.body.scrollHeight));
    assert.ok((await page.evaluate(() => window.scrollY)) > 100, 'scrolled down to the button');
    await page.click('#send');
    await page.waitForURL(/#\/broadcasts\/[0-9a-f-]{36}$/);
    await waitForText(page, 'h1', /防汛物资发放通知/);
    assert.ok(
      (await page.evaluate(() => document.body.scrollHeight)) > 1200,
      'the broadcast page is long enough to have stayed scrolled',
    );
    assert.equal(await page.evaluate(() => window.scrollY), 0);
  });

  it('asks for an emergency in a dialog that holds focus, closes on Escape and gives focus back', async () => {
    await page.goto(`${s.url}/#/new`);
    await page.waitForSelector('#reach[data-villages="7"]');
    await page.fill('#title', '山洪 III 级预警');
    await page.selectOption('#clip', clip.id);
    await page.selectOption('#level', 'III');
    await page.click('#send');
    await page.waitForSelector('#confirm', { state: 'visible' });
    const inside = () => page.evaluate(() => document.activeElement?.closest('#confirm') !== null);
    assert.ok(await inside(), 'focus moves into the dialog');
    assert.equal(await page.evaluate(() => document.getElementById('confirm')?.tagName), 'DIALOG');
    assert.equal(
      await page.evaluate(() => document.activeElement?.id),
      'confirm-back',
      'on the safe choice',
    );
    const seen = new Set<string>();
    for (let i = 0; i < 5; i++) {
      await page.keyboard.press('Tab');
      assert.ok(await inside(), `Tab ${i + 1} stays inside`);
      seen.add((await page.evaluate(() => document.activeElement?.id)) ?? '');
    }
    assert.deepEqual([...seen].sort(), ['confirm-back', 'confirm-send'], 'Tab cycles both buttons');
    for (let i = 0; i < 3; i++) {
      await page.keyboard.press('Shift+Tab');
      assert.ok(await inside(), `Shift+Tab ${i + 1} stays inside`);
    }
    await page.screenshot({ path: join(ARTIFACTS, 'broadcast-emergency-dialog.png') });
    await page.keyboard.press('Escape');
    await page.waitForSelector('dialog#confirm', { state: 'detached' });
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'send', 'focus returns');
    assert.match(page.url(), /#\/new$/, 'nothing sent');
  });

  it('shows a cancel as 已取消 with who and why, and asks for the reason', async () => {
    const test = await createBroadcast(s, {
      title: '设备联调测试',
      clipId: clip.id,
      level: 'test',
      target: { villages: [villages[0].code, cart] },
    });
    await openBroadcast(test.id);
    await page.click('#cancel');
    await page.waitForSelector('dialog#cancel-dialog[open]');
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'cancel-reason');
    await page.click('#cancel-go');
    assert.equal(
      await page.locator('dialog#cancel-dialog[open]').count(),
      1,
      'no reason, no cancel',
    );
    await page.fill('#cancel-reason', '联调结束，提前停止');
    await page.click('#cancel-go');
    await page.waitForSelector('.badge[data-status="cancelled"]');
    const notice = await waitForText(page, '#cancelled-notice', /已取消/);
    assert.ok(notice.includes(`取消人：${adminName}`), notice);
    assert.match(notice, /原因：联调结束，提前停止/);
    const body = (await page.textContent('#view')) ?? '';
    assert.doesNotMatch(body, /cancelled by/i, 'nothing in English');
    assert.equal(await page.locator('#cancel').count(), 0);
    assert.equal(await page.locator('button.confirm').count(), 0, 'no confirming by hand');
    assert.equal(
      (await page.textContent(`#uncovered tr[data-code="${cart}"] td.outcome`))?.trim(),
      '已取消',
    );
    assert.equal(await page.locator('#timeline td.outcome:text("播放中")').count(), 0);
    await page.screenshot({ path: join(ARTIFACTS, 'broadcast-cancelled.png'), fullPage: true });

    await page.click('a[data-nav="nav.board"]');
    const tile = page.locator(`.tile[data-code="${cart}"]`);
    await tile.waitFor();
    assert.notEqual(
      await tile.getAttribute('title'),
      '设备联调测试',
      'the cancelled test is not the village’s latest outcome',
    );
  });

  it('confirms a village by hand with how, when and who, and lets an admin withdraw it', async () => {
    const b = await createBroadcast(s, {
      title: '转移避险通知',
      clipId: clip.id,
      level: 'III',
      target: { villages: [cart] },
    });
    await openBroadcast(b.id);
    await page.click(`#confirm-${cart}`);
    await page.waitForSelector('dialog#manual-dialog[open]');
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'c-method');
    await page.click('#c-save');
    assert.equal(
      await page.locator('dialog#manual-dialog[open]').count(),
      1,
      'the method is required',
    );
    await page.selectOption('#c-method', 'door_to_door');
    await page.fill('#c-by', '网格员 张某');
    await page.fill('#c-note', '逐户敲门通知到位');
    await page.screenshot({ path: join(ARTIFACTS, 'broadcast-manual-dialog.png') });
    await page.click('#c-save');
    await page.waitForSelector('dialog#manual-dialog', { state: 'detached' });
    const row = '#confirmations tr[data-withdrawn="no"]';
    await page.waitForSelector(row);
    assert.equal((await page.textContent(`${row} td.method`))?.trim(), '入户通知');
    assert.match((await page.textContent(row)) ?? '', /网格员 张某.*逐户敲门通知到位.*有效/s);
    await page.waitForSelector('#coverage-summary[data-covered="1"]');
    assert.match(
      (await page.textContent(`#timeline tr[data-code="${cart}"] td.outcome`)) ?? '',
      /已覆盖 \(人工确认\)/,
    );
    const stored = (
      await api(s.url, s.adminToken).get(`/api/broadcasts/${b.id}/confirmations`).expect(200)
    ).body as { method: string; confirmedBy: string; recordedBy: string; heardAt: string }[];
    assert.deepEqual(
      stored.map((c) => [c.method, c.confirmedBy, c.recordedBy]),
      [['door_to_door', '网格员 张某', adminName]],
    );
    assert.ok(Date.parse(stored[0].heardAt) >= Date.parse(b.startAt as string));
    await page.screenshot({ path: join(ARTIFACTS, 'broadcast-manual.png'), fullPage: true });

    await page.click('#confirmations button[data-action="withdraw"]');
    await page.waitForSelector('dialog#withdraw-dialog[open]');
    await page.click('#w-go');
    assert.equal(
      await page.locator('dialog#withdraw-dialog[open]').count(),
      1,
      'a reason is required',
    );
    await page.fill('#w-reason', '回访核实：未通知到');
    await page.click('#w-go');
    await page.waitForSelector('#confirmations tr[data-withdrawn="yes"]');
    assert.match(
      (await page.textContent('#confirmations tr[data-withdrawn="yes"] td.state')) ?? '',
      /已撤回：回访核实：未通知到/,
    );
    await page.waitForSelector('#coverage-summary[data-covered="0"]');
    assert.equal(await page.locator('#confirmations button[data-action="withdraw"]').count(), 0);
    assert.deepEqual(errors, []);
  });

  it('keeps focus on the board while devices go offline and come back', async () => {
    await page.click('a[data-nav="nav.board"]');
    const tile = `.tile[data-code="${villages[5].code}"]`;
    await page.waitForSelector(`${tile}[data-presence="ok"]`);
    await page.focus(tile);
    await page.evaluate(() => {
      (document.activeElement as HTMLElement & { mark?: boolean }).mark = true;
    });
    const agent = agents[0];
    await agent.stop();
    await page.waitForSelector(
      `.tile[data-code="${villages[0].code}"][data-presence="all_offline"]`,
    );
    agents[0] = await startAgentOnline(s, mqttUrl(s), villages[0].device);
    await page.waitForSelector(`.tile[data-code="${villages[0].code}"][data-presence="ok"]`);
    assert.equal(
      await page.evaluate(
        () => (document.activeElement as HTMLElement & { mark?: boolean }).mark === true,
      ),
      true,
      'the focused tile is the same element after two live updates',
    );
  });

  it('keeps focus in the broadcast list while a new broadcast arrives and plays', async () => {
    await page.click('a[data-nav="nav.broadcasts"]');
    await page.waitForSelector('#broadcasts');
    const first = page.locator('#broadcasts tr[data-id] a').first();
    const href = await first.getAttribute('href');
    await first.focus();
    await page.evaluate(() => {
      (document.activeElement as HTMLElement & { mark?: boolean }).mark = true;
    });
    let id = '';
    const played = deliveryReached(s, () => id, villages[1].device.id, 'played');
    id = (
      await createBroadcast(s, {
        title: '列表实时更新',
        clipId: clip.id,
        level: 'IV',
        target: { villages: [villages[1].code] },
      })
    ).id;
    await played;
    await page.waitForSelector(`#broadcasts tr[data-id="${id}"] .progress-text[data-played="1"]`);
    assert.deepEqual(
      await page.evaluate(() => ({
        same: (document.activeElement as HTMLElement & { mark?: boolean }).mark === true,
        href: document.activeElement?.getAttribute('href'),
      })),
      { same: true, href },
      'the same link, still for the same broadcast',
    );
  });

  it('downloads the coverage certificate, which the offline verifier accepts', async () => {
    const b = await createBroadcast(s, {
      title: '覆盖证书下载',
      clipId: clip.id,
      level: 'IV',
      target: { villages: [cart] },
    });
    await openBroadcast(b.id);
    assert.equal((await page.textContent('#certificate'))?.trim(), '下载覆盖证书');
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.click('#certificate'),
    ]);
    assert.equal(download.suggestedFilename(), `certificate-${b.id}.json`);
    const file = join(tempDir('dalaba-ui-'), 'cert.json');
    await download.saveAs(file);
    const cert = JSON.parse(await readFile(file, 'utf8')) as {
      certificate: { broadcast: { id: string }; key: { publicKey: string } };
    };
    assert.equal(cert.certificate.broadcast.id, b.id);
    const out = await new Promise<{ code: number; stdout: string }>((resolve) =>
      execFile(
        process.execPath,
        [
          join(ROOT, 'scripts/verify-certificate.mjs'),
          file,
          '--key',
          cert.certificate.key.publicKey,
        ],
        (err, stdout) => resolve({ code: err ? 1 : 0, stdout }),
      ),
    );
    assert.equal(out.code, 0, out.stdout);
    assert.match(out.stdout, /^OK: /);
    assert.deepEqual(errors, []);
  });

  it('says why an upload was refused in Chinese, by its error code', async () => {
    await page.goto(`${s.url}/#/new`);
    await page.waitForSelector('#new-broadcast-form');
    const notAudio = join(tempDir('dalaba-ui-'), 'notice.mp3');
    await writeFile(notAudio, '这不是音频文件，只是一段文字。\n'.repeat(50));
    await page.setInputFiles('#upload', notAudio);
    // ffmpeg reads the file before the answer: slow on a loaded machine.
    await page.waitForFunction(
      () => document.querySelector('#clip-state')?.textContent?.trim(),
      undefined,
      { timeout: 90_000 },
    );
    const text = (await page.textContent('#clip-state')) ?? '';
    assert.match(text, /[\u4e00-\u9fff]/, 'Chinese');
    assert.doesNotMatch(text, /[A-Za-z]{3,}/, 'not the server’s English');
    assert.deepEqual(errors, []);
  });
});
