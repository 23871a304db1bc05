/// <reference lib="dom" />
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it, beforeAll, afterAll } from '@jest/globals';
import type { MqttClient } from 'mqtt';
import type { Browser, Page } from 'playwright-core';
import { PROTOCOL_VERSION, type RejectedEvent } from '../src/contract/messages.js';
import { ARTIFACTS, launchBrowser, pageErrors, signIn, waitForText } from './support/browser.js';
import { fixtures } from './support/fixtures.js';
import { mqttUrl, rawClient } from './support/mqtt.js';
import { api, startTestServer, TestServer, tokenFor } from './support/server.js';

/**
 * A village whose loudspeaker refused two forged commands, on a station that requires signed
 * commands: the board and the village page say so in Chinese, and an operator rotates the
 * device's secret and gets its setup code once.
 */
describe('security events and setup codes on the dashboard', () => {
  let s: TestServer;
  let browser: Browser;
  let page: Page;
  let errors: string[];
  let village: string;
  let device: { id: string; secret: string };
  let quietVillage: string;
  let client: MqttClient;

  beforeAll(async () => {
    s = await startTestServer({
      // COMMAND_SIGNING=required. The setting arrives with the signing module (config.signing);
      // set on the loaded configuration, so it works before and after that merge.
      configure: (c) => {
        const withSigning = c as unknown as { signing?: Record<string, unknown> };
        withSigning.signing = { ...withSigning.signing, mode: 'required' };
      },
    });
    const fx = fixtures(s.url, s.adminToken);
    const town = (await fx.newTown({ name: '丙镇' })).code;
    village = (await fx.newVillage(town)).code;
    device = await fx.newDevice(village);
    quietVillage = (await fx.newVillage(town)).code;
    await fx.newDevice(quietVillage);
    client = await rawClient(mqttUrl(s), {
      clientId: device.id,
      username: device.id,
      password: device.secret,
    });
    for (const [reason, ref] of [
      ['bad_signature', 'forged-1'],
      ['replayed', 'captured-1'],
    ] as const) {
      const event: RejectedEvent = {
        v: PROTOCOL_VERSION,
        type: 'rejected',
        id: `rej-${ref}`,
        ts: Date.now(),
        ref,
        command: 'play',
        reason,
        detail: `${reason} test`,
      };
      // Resolves on PUBACK, which the server sends once the event is stored.
      await client.publishAsync(`dalaba/v1/d/${device.id}/evt`, JSON.stringify(event), { qos: 1 });
    }
    await client.endAsync();
    browser = await launchBrowser();
    page = await (
      await browser.newContext({ viewport: { width: 1280, height: 900 }, acceptDownloads: true })
    ).newPage();
    errors = pageErrors(page);
    await signIn(page, s.url, await tokenFor(s, 'operator'));
    await page.waitForSelector('.town-summary');
  });
  afterAll(async () => {
    await browser?.close();
    await s?.close();
  });

  it('counts the village’s security events on its tile and in the summary', async () => {
    const tile = `.tile[data-code="${village}"] .security-events`;
    assert.equal(await page.getAttribute(tile, 'data-count'), '2');
    assert.equal((await page.textContent(tile))?.trim(), '⚠ 2 条安全事件');
    assert.match((await page.textContent('#board-summary')) ?? '', /24 小时内安全事件 2 条/);
    assert.equal(
      await page.locator(`.tile[data-code="${quietVillage}"] .security-events`).count(),
      0,
    );
  });

  it('lists them in Chinese on the village page and flags a device that does not verify', async () => {
    await page.click(`.tile[data-code="${village}"]`);
    await page.waitForSelector('#village-security');
    const rows = await page.$$eval('#village-security tr[data-security]', (trs) =>
      trs.map((tr) => [
        (tr as HTMLElement).dataset.security,
        tr.children[1].textContent?.trim(),
        tr.children[2].textContent?.trim(),
        tr.children[3].textContent?.trim(),
      ]),
    );
    assert.deepEqual(rows, [
      ['replayed', device.id, '拒绝了重放的指令（序号已用过）（replayed）', 'replayed test'],
      ['bad_signature', device.id, '拒绝了签名无效的指令（bad_signature）', 'bad_signature test'],
    ]);
    // Required mode, and this device has not said it verifies signatures.
    const cell = `#village-devices tr[data-device="${device.id}"] .verifies`;
    assert.match((await page.textContent(cell)) ?? '', /⚠ 本站要求指令签名，此设备未声明验证签名/);
    await page.screenshot({ path: join(ARTIFACTS, 'village-security.png'), fullPage: true });
  });

  it('rotates a secret only after a confirmation, then shows it and the setup code once', async () => {
    const before = (await api(s.url, s.adminToken).get(`/api/devices/${device.id}`).expect(200))
      .body.secretRotatedAt as string;
    const button = `#village-devices tr[data-device="${device.id}"] [data-action="provision"]`;
    assert.equal((await page.textContent(button))?.trim(), '轮换密钥并生成配置码');

    // Backing out of the confirmation changes nothing.
    await page.click(button);
    await page.waitForSelector('#provision-confirm');
    await page.click('#provision-confirm [data-close]');
    await page.waitForSelector('#provision-confirm', { state: 'detached' });
    assert.equal(
      (await api(s.url, s.adminToken).get(`/api/devices/${device.id}`).expect(200)).body
        .secretRotatedAt,
      before,
    );

    await page.click(button);
    await page.click('#provision-go');
    await page.waitForSelector('#provision-dialog #provision-qr svg');
    await waitForText(page, '#provision-warning', /只显示这一次/);
    const secret = (await page.textContent('#provision-secret'))?.trim() ?? '';
    assert.match(secret, /^\S{20,}$/);
    assert.notEqual(secret, device.secret);
    assert.equal((await page.textContent('#provision-broker'))?.trim(), mqttUrl(s));
    assert.equal((await page.textContent('#provision-signing'))?.trim(), 'required');
    // A QR code drawn from the server's SVG: a square of dark modules.
    const box = await page.locator('#provision-qr svg').boundingBox();
    assert.ok(box && box.width >= 150 && Math.abs(box.width - box.height) < 1, JSON.stringify(box));
    await page.screenshot({ path: join(ARTIFACTS, 'provision-dialog.png') });

    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.click('#provision-download'),
    ]);
    assert.equal(download.suggestedFilename(), `dalaba-provisioning-${device.id}.json`);
    const bundle = JSON.parse(await readFile((await download.path())!, 'utf8'));
    assert.equal(bundle.secret, secret);
    assert.equal(bundle.deviceId, device.id);
    assert.equal(bundle.format, 'dalaba-provisioning/1');
    assert.equal(bundle.signing.mode, 'required');
    assert.ok(bundle.signing.keys.length >= 1);
    assert.equal(bundle.qr, undefined, 'the file is the bundle, not its picture');

    // The new secret logs in; the old one no longer does.
    await (
      await rawClient(bundle.mqttUrl, {
        clientId: device.id,
        username: device.id,
        password: secret,
      })
    ).endAsync();
    await assert.rejects(
      rawClient(mqttUrl(s), { clientId: device.id, username: device.id, password: device.secret }),
    );

    // Closed, it is gone: the page holds no copy and the server gives no secret again.
    await page.click('#provision-dialog [data-close]');
    await page.waitForSelector('#provision-dialog', { state: 'detached' });
    assert.ok(!(await page.content()).includes(secret), 'the secret is not left in the page');
    assert.equal(
      (await api(s.url, s.adminToken).get(`/api/devices/${device.id}/provisioning`).expect(200))
        .body.secret,
      null,
    );
    assert.deepEqual(errors, []);
  });

  it('gives a viewer the security events but no rotate button', async () => {
    const context = await browser.newContext();
    try {
      const viewer = await context.newPage();
      const viewerErrors = pageErrors(viewer);
      await signIn(viewer, s.url, await tokenFor(s, 'viewer'));
      await viewer.goto(`${s.url}/#/village/${village}`);
      await viewer.waitForSelector('#village-security');
      assert.equal(await viewer.locator('[data-action="provision"]').count(), 0);
      assert.deepEqual(viewerErrors, []);
    } finally {
      await context.close();
    }
  });
});
