/// <reference lib="dom" />
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it, beforeAll, afterAll } from '@jest/globals';
import type { Browser, Page } from 'playwright-core';
import { GytReports } from '../src/reports/gyt-reports.js';
import { EBD_TYPES } from '../src/superior/ebd-package.js';
import { ARTIFACTS, launchBrowser, pageErrors, signIn, waitForText } from './support/browser.js';
import { createBroadcast, newClip } from './support/broadcasts.js';
import { fixtures } from './support/fixtures.js';
import { eventually } from './support/mqtt.js';
import { personWithPassword, signInAs } from './support/people.js';
import { api, startTestServer, type TestServer } from './support/server.js';
import {
  ebmXml,
  FakeSuperior,
  postPackage,
  STATION_EBR,
  SUPERIOR_EBR,
} from './support/superior.js';

/** What a superior might put in a refusal: shown as text, never as markup. */
const HOSTILE = '<img src=x onerror="window.pwned=1">';

describe('the superior platform page (上级平台) in Chromium', () => {
  const superior = new FakeSuperior();
  let s: TestServer;
  let browser: Browser;
  let page: Page;
  let errors: string[];
  let town = '';
  let village = '';
  /** The broadcast whose state report the superior refused, and the one waiting while it is down. */
  let refusedBroadcast = '';
  let waitingBroadcast = '';
  let alertId = '';

  type Row = Record<string, unknown>;
  const packages = async (query = '') =>
    (await api(s.url, s.adminToken).get(`/api/superior/packages?limit=500${query}`).expect(200))
      .body.items as Row[];
  /** A broadcast called off at once: its end queues its state report (EBMStateResponse). */
  const cancelledBroadcast = async (clipId: string, title: string): Promise<string> => {
    const b = await createBroadcast(s, {
      title,
      clipId,
      level: 'IV',
      target: { villages: [village] },
    });
    await api(s.url, s.adminToken)
      .post(`/api/broadcasts/${b.id}/cancel`)
      .send({ reason: '测试结束' })
      .expect(200);
    return b.id;
  };
  const reportOf = async (broadcastId: string, status: string): Promise<Row> => {
    let row: Row | undefined;
    await eventually(
      async () => {
        await s.tick();
        row = (await packages('&direction=out')).find(
          // A waiting report once tried (its error written), not one queued a moment ago.
          (p) =>
            p.subject === broadcastId &&
            p.status === status &&
            (status !== 'pending' || (p.attempts as number) >= 1),
        );
        return row !== undefined;
      },
      30_000,
      `the state report of ${broadcastId} ${status}`,
    );
    return row!;
  };

  beforeAll(async () => {
    await superior.start();
    s = await startTestServer({ env: { ...superior.env(), SUPERIOR_HEARTBEAT_S: '3600' } });
    const status = (await api(s.url, s.adminToken).get('/api/superior/status').expect(200)).body;
    superior.stationKey = status.publicKey as string;
    const fx = fixtures(s.url, s.adminToken);
    town = (await fx.newTown({ code: '611026100', name: '营盘镇' })).code;
    village = (await fx.newVillage(town)).code;
    await fx.newDevice(village);
    // The heartbeat is answered: the superior was reachable.
    await s.tick();
    const clip = await newClip(s, 1);

    // The superior refuses a state report (ResultCode 2, with words of its own): failed.
    superior.answer = 'failed';
    superior.answerDetail = HOSTILE;
    refusedBroadcast = await cancelledBroadcast(clip.id, '山洪预警演示');
    const refused = await reportOf(refusedBroadcast, 'failed');
    assert.equal(refused.resultCode, '2');
    superior.answer = 'ok';
    superior.answerDetail = undefined;

    // An EBM from above becomes an alert (a draft: the sender is not trusted yet).
    const ebm = superior.pack(EBD_TYPES.ebm, ebmXml('61100000000000000777', village, Date.now()));
    await postPackage(s.url, ebm.tar);
    const inbound = (await packages('&direction=in')).find((p) => p.ebdId === ebm.ebdId);
    assert.ok(inbound?.subject, JSON.stringify(inbound));
    alertId = inbound.subject as string;

    // Then the superior goes down: the next report waits, and the link says why.
    superior.down = true;
    waitingBroadcast = await cancelledBroadcast(clip.id, '防汛通知');
    const waiting = await reportOf(waitingBroadcast, 'pending');
    assert.match(String(waiting.lastError), /HTTP 503/);

    browser = await launchBrowser();
    const context = await browser.newContext({ locale: 'zh-CN' });
    page = await context.newPage();
    errors = pageErrors(page);
    await signInAs(page, s.url, await personWithPassword(s, 'zhou', 'admin'));
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await s?.close();
    await superior.stop();
  });

  it('shows the link: down with the reason, the codes, the key, what waits and what failed', async () => {
    await page.click('#nav a[data-nav="nav.superior"]');
    await page.waitForSelector('#sup-link[data-enabled="true"][data-state="down"]');
    await waitForText(page, '#sup-state', /无法连接上级/);
    await waitForText(page, '#sup-last-error', /HTTP 503/);
    assert.equal(await page.textContent('#sup-ebr'), STATION_EBR);
    assert.equal(await page.textContent('#sup-superior-ebr'), SUPERIOR_EBR);
    await waitForText(page, '#sup-signature', /SM2（国密，SM3 摘要）/);
    const status = (await api(s.url, s.adminToken).get('/api/superior/status').expect(200)).body;
    assert.equal(await page.textContent('#sup-public-key'), status.publicKey);
    await waitForText(page, '#sup-signature', new RegExp(status.kid as string));
    // The last heartbeat was answered, before the superior went down.
    await waitForText(page, '#sup-heartbeat', /上级已应答/);
    assert.equal(await page.getAttribute('#sup-counts', 'data-failed'), '1');
    assert.equal(await page.getAttribute('#sup-counts', 'data-pending'), String(status.pending));
    await waitForText(page, '#sup-counts', /发送失败 1 个/);
    await waitForText(page, '#sup-counts', /等待发送 \d+ 个/);
    assert.deepEqual(errors, []);
  });

  it('lists the packages: the refused one with its error, the waiting one, the EBM from above', async () => {
    await page.goto(`${s.url}/#/superior`);
    await page.waitForSelector('#sup-packages');
    const all = await packages();
    assert.equal(await page.getAttribute('#sup-total', 'data-total'), String(all.length));
    assert.equal(await page.locator('#sup-packages tbody tr').count(), all.length);

    const failed = `#sup-packages tr[data-status="failed"]`;
    assert.equal(await page.locator(failed).count(), 1);
    await waitForText(page, failed, /播发状态上报/);
    await waitForText(page, `${failed} .status`, /失败/);
    await waitForText(page, `${failed} .result`, /2 接收失败/);
    // The superior's own words, as text: its markup is never markup here.
    await waitForText(page, `${failed} .last-error`, /result 2 接收失败: <img src=x onerror=/);
    assert.equal(await page.locator(`${failed} img`).count(), 0);
    assert.equal(
      await page.evaluate(() => (window as unknown as { pwned?: number }).pwned),
      undefined,
    );
    assert.equal(
      await page.getAttribute(`${failed} a.subject`, 'href'),
      `#/broadcasts/${refusedBroadcast}`,
    );

    const waiting = `#sup-packages tr[data-status="pending"][data-type="EBMStateResponse"]`;
    await waitForText(page, `${waiting} .last-error`, /HTTP 503/);
    await waitForText(page, `${waiting} .status`, /等待发送.*下次/s);
    assert.equal(
      await page.getAttribute(`${waiting} a.subject`, 'href'),
      `#/broadcasts/${waitingBroadcast}`,
    );

    const inbound = `#sup-packages tr[data-direction="in"]`;
    await waitForText(page, inbound, /下发/);
    await waitForText(page, inbound, /应急广播消息/);
    await waitForText(page, `${inbound} .result`, /1 执行成功/);
    await page.screenshot({ path: join(ARTIFACTS, 'superior.png'), fullPage: true });

    // The subject leads to its page: the refused report to its broadcast.
    await page.click(`${failed} a.subject`);
    await waitForText(page, '#bc-title', /山洪预警演示/);
    assert.deepEqual(errors, []);
  });

  it('filters by direction and status, as the API does', async () => {
    await page.goto(`${s.url}/#/superior`);
    await page.waitForSelector('#sup-packages');
    await page.selectOption('#sup-status', 'failed');
    await page.waitForSelector('#sup-total[data-total="1"]');
    const statuses = () =>
      page.$$eval('#sup-packages tbody tr', (xs) => xs.map((x) => x.getAttribute('data-status')));
    assert.deepEqual(await statuses(), ['failed']);

    await page.selectOption('#sup-status', '');
    await page.selectOption('#sup-direction', 'in');
    const inbound = await packages('&direction=in');
    await page.waitForSelector(`#sup-total[data-total="${inbound.length}"]`);
    const directions = await page.$$eval('#sup-packages tbody tr', (xs) =>
      xs.map((x) => x.getAttribute('data-direction')),
    );
    assert.deepEqual(
      directions,
      inbound.map(() => 'in'),
    );
    // The EBM from above leads to the alert it became.
    const link = `#sup-packages tr[data-direction="in"] a.subject[href="#/alerts/${alertId}"]`;
    await page.waitForSelector(link);

    // Both at once: nothing inbound failed.
    await page.selectOption('#sup-status', 'failed');
    await page.waitForSelector('#sup-empty');
    await page.waitForSelector('#sup-total[data-total="0"]');

    await page.selectOption('#sup-status', '');
    await page.click(link);
    await page.waitForSelector(`#alert-outcome[data-outcome]`);
    await waitForText(page, '#alert-title', /暴雨红色预警/);
    assert.deepEqual(errors, []);
  });

  it('refreshes by itself while open: the superior back, the waiting report delivered', async () => {
    await page.goto(`${s.url}/#/superior`);
    await page.waitForSelector('#sup-link[data-state="down"]');
    // Marks this page load: still set afterwards means nothing reloaded it.
    await page.evaluate(() => {
      (window as unknown as { loadMark: number }).loadMark = 1;
    });
    superior.down = false;
    await s.advance(5_000);
    const delivered = (await packages('&direction=out')).find(
      (p) => p.subject === waitingBroadcast,
    );
    assert.equal(delivered?.status, 'sent', JSON.stringify(delivered));
    await page.waitForSelector('#sup-link[data-state="up"]', { timeout: 30_000 });
    await page.waitForSelector(
      `#sup-packages tr[data-id="${delivered.id as string}"][data-status="sent"]`,
    );
    await waitForText(page, '#sup-state', /连接正常/);
    assert.equal(
      await page.evaluate(() => (window as unknown as { loadMark?: number }).loadMark),
      1,
      'without a reload',
    );
    assert.deepEqual(errors, []);
  }, 60_000);

  it('names what a query from above asks about: a broadcast’s state, the terminals', async () => {
    const ebmId = await s.server.app.get(GytReports).ebmId(refusedBroadcast);
    const state = superior.pack(
      EBD_TYPES.stateRequest,
      `<EBMStateRequest><EBM><EBMID>${ebmId}</EBMID></EBM></EBMStateRequest>`,
    );
    await postPackage(s.url, state.tar);
    const omd = superior.pack(
      EBD_TYPES.omdRequest,
      '<OMDRequest><OMDType>EBRDTState</OMDType><Params/></OMDRequest>',
    );
    await postPackage(s.url, omd.tar);
    // Loaded afresh (the page is already open here), not at its next refresh.
    await page.goto(`${s.url}/#/superior`);
    await page.reload();
    const asked = `#sup-packages tr[data-type="EBMStateRequest"]`;
    await page.waitForSelector(asked);
    await waitForText(page, asked, /播发状态查询/);
    assert.equal(
      await page.getAttribute(`${asked} a.subject`, 'href'),
      `#/broadcasts/${refusedBroadcast}`,
    );
    const query = `#sup-packages tr[data-type="OMDRequest"]`;
    await waitForText(page, query, /运维数据查询/);
    await waitForText(page, query, /终端状态上报/);
    assert.doesNotMatch(await page.innerText(query), /终端 EBRDTState/);
    assert.deepEqual(errors, []);
  }, 60_000);

  it('is for admins only: a viewer and a town official have no link and are refused', async () => {
    const viewer = await personWithPassword(s, 'li', 'viewer');
    const official = await personWithPassword(s, 'wang', 'town_official', [town]);
    for (const who of [viewer, official]) {
      const context = await browser.newContext({ locale: 'zh-CN' });
      try {
        const p = await context.newPage();
        const errs = pageErrors(p);
        await signInAs(p, s.url, who);
        const nav = await p.$$eval('#nav a', (xs) => xs.map((a) => a.getAttribute('data-nav')));
        assert.ok(nav.includes('nav.board'), 'the nav is drawn');
        assert.ok(!nav.includes('nav.superior'), `${who.username}: no 上级平台 link`);
        await p.goto(`${s.url}/#/superior`);
        await waitForText(p, '#view', /当前令牌没有此操作的权限/);
        assert.equal(await p.locator('#sup-packages, #sup-link').count(), 0);
        assert.deepEqual(errs, []);
      } finally {
        await context.close();
      }
    }
    // The same refusal as the API's.
    const session = await api(s.url)
      .post('/api/session')
      .send({ username: viewer.username, password: viewer.password })
      .expect(200);
    await api(s.url)
      .get('/api/superior/packages')
      .set('Cookie', session.headers['set-cookie'])
      .expect(403);
  });

  it('says the link is off, and how to turn it on, without SUPERIOR_URL', async () => {
    const off = await startTestServer();
    try {
      const p = await browser.newPage();
      const errs = pageErrors(p);
      await signIn(p, off.url, off.adminToken);
      await p.click('#nav a[data-nav="nav.superior"]');
      await p.waitForSelector('#sup-link[data-enabled="false"]');
      await waitForText(p, '#sup-link', /未开启/);
      await waitForText(p, '#sup-howto', /SUPERIOR_URL/);
      await p.waitForSelector('#sup-empty');
      assert.deepEqual(errs, []);
      await p.close();
    } finally {
      await off.close();
    }
  });
});
