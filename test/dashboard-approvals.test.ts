/// <reference lib="dom" />
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it, beforeAll, afterAll } from '@jest/globals';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import type { DeviceAgent } from '../devices/agent.js';
import { newClip } from './support/broadcasts.js';
import { ARTIFACTS, launchBrowser, pageErrors, waitForText } from './support/browser.js';
import { fixtures } from './support/fixtures.js';
import { mqttUrl, startAgentOnline } from './support/mqtt.js';
import { Person, personWithPassword, signInAs } from './support/people.js';
import { api, startTestServer, TestServer } from './support/server.js';

describe('two-person approval in Chromium', () => {
  let s: TestServer;
  let browser: Browser;
  let clip: { id: string };
  /** Two villages with a loudspeaker each, online: their agents are MQTT clients of the broker. */
  const agents: DeviceAgent[] = [];
  // Two people signed in with their passwords: cookie sessions, CSRF tokens on every write.
  let drafter: Person;
  let approver: Person;
  const desks: { context: BrowserContext; page: Page; errors: string[] }[] = [];

  beforeAll(async () => {
    s = await startTestServer({ approvals: true });
    const fx = fixtures(s.url, s.adminToken);
    const town = (await fx.newTown({ name: '城关镇' })).code;
    for (let i = 0; i < 2; i++) {
      const village = (await fx.newVillage(town)).code;
      agents.push(await startAgentOnline(s, mqttUrl(s), await fx.newDevice(village)));
    }
    clip = await newClip(s, 1);
    drafter = await personWithPassword(s, 'zhao', 'operator');
    approver = await personWithPassword(s, 'qian', 'operator');
    browser = await launchBrowser();
  });
  afterAll(async () => {
    for (const a of agents) await a.stop();
    await browser?.close();
    await s?.close();
  });

  /** A person at their own desk: a browser context of their own, signed in as them. */
  const desk = async (who: Person) => {
    const context = await browser.newContext({ locale: 'zh-CN' });
    const page = await context.newPage();
    const d = { context, page, errors: pageErrors(page) };
    desks.push(d);
    await signInAs(page, s.url, who);
    return d;
  };

  it('brings a level I draft to the approver’s open page live; approving sends it to the devices', async () => {
    const { page: approverPage, errors: approverErrors } = await desk(approver);
    const { page: drafterPage, errors: drafterErrors } = await desk(drafter);

    await approverPage.click('#nav a[data-nav="nav.approvals"]');
    await approverPage.waitForSelector('#drafts-empty');
    // Marks this page load: still set afterwards means nothing reloaded it.
    await approverPage.evaluate(() => {
      (window as unknown as { loadMark: number }).loadMark = 1;
    });
    const cues = () =>
      approverPage.evaluate(() => (window as unknown as { __dalabaCues: number }).__dalabaCues);
    assert.equal(await cues(), 0);
    assert.doesNotMatch(await approverPage.title(), /^\(/);

    await drafterPage.click('#nav a[data-nav="nav.new"]');
    await drafterPage.waitForSelector('#reach[data-villages="2"]');
    await drafterPage.fill('#title', '山洪灾害 I 级预警');
    await drafterPage.selectOption('#clip', clip.id);
    await drafterPage.selectOption('#level', 'I');
    await waitForText(drafterPage, '#send', /提交审批/);
    await drafterPage.click('#send');
    await drafterPage.waitForSelector('#draft-status[data-status="pending"]');
    await waitForText(drafterPage, '#draft-status', /等待审批/);
    const draftId = /#\/approvals\/([\w-]+)$/.exec(drafterPage.url())![1];
    // Nobody approves their own draft: the button says why it is off.
    assert.equal(await drafterPage.isDisabled('#approve'), true);
    assert.ok(((await drafterPage.textContent('#why-not')) ?? '').length > 0);

    // The approver's page, untouched, learns of it: the queue, the tab title, the sound.
    await approverPage.waitForSelector(`#drafts tr[data-id="${draftId}"]`);
    await approverPage.waitForFunction(() => document.title.startsWith('(1) '));
    await waitForText(approverPage, '#approvals-count', /^1$/);
    assert.equal(await cues(), 1, 'one cue for one new draft');
    assert.equal(
      await approverPage.evaluate(() => (window as unknown as { loadMark?: number }).loadMark),
      1,
      'without a reload',
    );

    await approverPage.click(`#drafts tr[data-id="${draftId}"] a`);
    await approverPage.waitForSelector('#draft-reach[data-villages="2"]');
    assert.equal(await approverPage.getAttribute('#draft-reach', 'data-devices'), '2');
    assert.equal(await approverPage.getAttribute('#draft-reach', 'data-online'), '2');
    await waitForText(approverPage, '#draft-start', /批准后立即/);
    await waitForText(approverPage, '#draft-target', /全县/);
    // The approver listens before deciding (the click that opened the draft lets the page play).
    await approverPage.waitForFunction(() =>
      (document.getElementById('draft-audio') as HTMLAudioElement | null)?.src.startsWith('blob:'),
    );
    await approverPage.evaluate(() =>
      (document.getElementById('draft-audio') as HTMLAudioElement).play(),
    );
    await approverPage.waitForFunction(() => {
      const a = document.getElementById('draft-audio') as HTMLAudioElement;
      return a.ended || a.currentTime > 0;
    });
    assert.equal(await approverPage.isEnabled('#approve'), true);

    // Timed from the approver's click to the play command arriving at a device on the broker.
    const played = new Promise<number>((resolve) =>
      agents[0].on('command', (cmd: { type: string }) => {
        if (cmd.type === 'play') resolve(Date.now());
      }),
    );
    const clicked = Date.now();
    await approverPage.click('#approve');
    const arrived = await played;
    console.log(`approval→broker: ${arrived - clicked} ms`);

    await approverPage.waitForSelector('#bc-approval[data-mode="approved"]');
    await waitForText(approverPage, '#bc-approval', /测试 qian/);
    await approverPage.waitForSelector('#coverage-summary[data-covered="2"]');
    await approverPage.waitForFunction(() => !document.title.startsWith('('));
    await approverPage.screenshot({ path: join(ARTIFACTS, 'approved-broadcast.png') });
    // The drafter's page follows the decision too.
    await drafterPage.waitForSelector('#draft-status[data-status="approved"]');
    const b = (
      await api(s.url, s.adminToken)
        .get(`/api/broadcasts/${/#\/broadcasts\/([\w-]+)/.exec(approverPage.url())![1]}`)
        .expect(200)
    ).body;
    assert.equal(b.approval.mode, 'approved');
    assert.equal(b.approval.draftId, draftId);
    assert.deepEqual(approverErrors, []);
    assert.deepEqual(drafterErrors, []);
  });

  it('sends at once with an emergency override and a reason, flagged on the broadcast page, and tells the approver', async () => {
    const { page: approverPage } = desks[0] ?? (await desk(approver));
    const cuesBefore = await approverPage.evaluate(
      () => (window as unknown as { __dalabaCues: number }).__dalabaCues,
    );
    const { page, errors } = desks[1] ?? (await desk(drafter));
    await page.goto(`${s.url}/#/new`);
    await page.waitForSelector('#reach[data-villages="2"]');
    await page.fill('#title', '堤坝险情 I 级');
    await page.selectOption('#clip', clip.id);
    await page.selectOption('#level', 'I');
    await page.check('#override');
    await waitForText(page, '#send', /发送|Send/);
    await page.click('#send');
    await waitForText(page, '#form-error', /原因/);
    await page.fill('#override-reason', '堤坝出现管涌，来不及等审批');
    await page.click('#send');
    await page.click('#confirm-send');
    await page.waitForSelector('#bc-approval[data-mode="override"]');
    await waitForText(page, '#bc-approval', /堤坝出现管涌/);
    await waitForText(page, '#bc-approval', /紧急越级发送/);
    await page.screenshot({ path: join(ARTIFACTS, 'override-broadcast.png') });
    // The other operator's open page says so at once, with the cue, whatever page it shows.
    await approverPage.waitForSelector('#override-notice:not([hidden])');
    await waitForText(approverPage, '#override-text', /越级发送.*堤坝出现管涌/);
    assert.equal(
      await approverPage.evaluate(
        () => (window as unknown as { __dalabaCues: number }).__dalabaCues,
      ),
      cuesBefore + 1,
    );
    await approverPage.click('#override-dismiss');
    await approverPage.waitForSelector('#override-notice[hidden]', { state: 'attached' });
    assert.deepEqual(errors, []);
  });
});
