/// <reference lib="dom" />
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it, beforeAll, afterAll } from '@jest/globals';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import request from 'supertest';
import { ARTIFACTS, launchBrowser, pageErrors, signIn, waitForText } from './support/browser.js';
import { fixtures } from './support/fixtures.js';
import { addPerson, fillSignIn, personWithPassword, signInAs } from './support/people.js';
import { startTestServer, TestServer } from './support/server.js';

describe('people signing in to the dashboard', () => {
  let s: TestServer;
  let browser: Browser;
  /** Two towns: 甲镇 with two villages, 乙镇 with one. */
  let townA: string;
  const villagesA: string[] = [];
  let villageB: string;

  beforeAll(async () => {
    s = await startTestServer();
    const fx = fixtures(s.url, s.adminToken);
    townA = (await fx.newTown({ name: '甲镇' })).code;
    const townB = (await fx.newTown({ name: '乙镇' })).code;
    for (let i = 0; i < 2; i++) villagesA.push((await fx.newVillage(townA)).code);
    villageB = (await fx.newVillage(townB)).code;
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser?.close();
    await s?.close();
  });

  /** A fresh browser (its own cookies), as a second person at another desk. */
  const desk = async (): Promise<{ context: BrowserContext; page: Page; errors: string[] }> => {
    const context = await browser.newContext({ locale: 'zh-CN' });
    const page = await context.newPage();
    return { context, page, errors: pageErrors(page) };
  };

  it('an admin adds a person on the Staff page; the one-time password shows once and must be replaced', async () => {
    const admin = await desk();
    try {
      await signIn(admin.page, s.url, s.adminToken);
      await admin.page.click('#nav a[data-nav="nav.staff"]');
      await admin.page.waitForSelector('#add-user');
      await admin.page.fill('#u-username', 'lin');
      await admin.page.fill('#u-display', '林主任');
      await admin.page.selectOption('#u-role', 'operator');
      await admin.page.click('#add-submit');
      const otp = (await admin.page.textContent('#one-time-password'))?.trim() ?? '';
      assert.ok(otp.length >= 10, 'a one-time password is shown');
      await admin.page.click('#one-time-done');
      await admin.page.waitForSelector('#one-time', { state: 'detached' });
      await waitForText(admin.page, '#users tr[data-username="lin"] .state', /待改密码/);
      assert.equal(
        await admin.page.locator(`text=${otp}`).count(),
        0,
        'the password is not shown again',
      );

      const lin = await desk();
      try {
        await fillSignIn(lin.page, s.url, 'lin', otp);
        await lin.page.waitForSelector('#must-change');
        assert.match(lin.page.url(), /#\/password$/);
        // The rest of the dashboard waits until the password is the person's own.
        await lin.page.goto(`${s.url}/#/broadcasts`);
        await lin.page.waitForSelector('#must-change');
        await lin.page.fill('#current-password', otp);
        await lin.page.fill('#new-password', '林主任的新密码-2026');
        await lin.page.fill('#new-password2', '林主任的新密码-2026');
        await lin.page.click('#change-password');
        await lin.page.waitForSelector('#board-summary');
        await waitForText(lin.page, '#who', /林主任/);
        const cookie = (await lin.context.cookies()).find((c) => c.name === 'dalaba_session');
        assert.ok(cookie, 'a session cookie');
        assert.equal(cookie.httpOnly, true, 'scripts cannot read it');
        assert.equal(cookie.sameSite, 'Strict');
        const stored = await lin.page.evaluate(() => sessionStorage.getItem('dalaba.session'));
        assert.doesNotMatch(stored ?? '', /"token"/, 'no token in the page’s storage');
        assert.deepEqual(lin.errors, []);
      } finally {
        await lin.context.close();
      }

      // Reset: a new one-time password, shown once again.
      admin.page.once('dialog', (d) => void d.accept());
      await admin.page.click('#users tr[data-username="lin"] button[data-act="reset"]');
      const again = (await admin.page.textContent('#one-time-password'))?.trim() ?? '';
      assert.ok(again.length >= 10 && again !== otp, 'a new one-time password');
      await admin.page.click('#one-time-done');
      assert.deepEqual(admin.errors, []);
    } finally {
      await admin.context.close();
    }
  });

  it('says a wrong password is wrong and signs nobody in', async () => {
    await addPerson(s, 'zhou', 'viewer');
    const { context, page, errors } = await desk();
    try {
      await fillSignIn(page, s.url, 'zhou', 'not-the-password');
      await waitForText(page, '#password-error', /用户名或密码不正确/);
      assert.match(page.url(), /#\/login$/);
      await fillSignIn(page, s.url, 'nobody-here', 'not-the-password');
      await waitForText(page, '#password-error', /用户名或密码不正确/);
      assert.equal(await page.isHidden('#signout'), true, 'not signed in');
      assert.deepEqual(errors, []);
    } finally {
      await context.close();
    }
  });

  it('signs out: the session ends on the server, not only in the page', async () => {
    const chen = await personWithPassword(s, 'chen', 'operator');
    const { context, page, errors } = await desk();
    try {
      await signInAs(page, s.url, chen);
      const cookie = (await context.cookies()).find((c) => c.name === 'dalaba_session')!;
      const asBefore = () =>
        request(s.url).get('/api/session').set('Cookie', `dalaba_session=${cookie.value}`);
      await asBefore().expect(200);
      await page.click('#signout');
      await page.waitForSelector('#username');
      await asBefore().expect(401);
      // A reload does not bring the session back.
      await page.reload();
      await page.waitForSelector('#username');
      assert.deepEqual(errors, []);
    } finally {
      await context.close();
    }
  });

  it('after a reload the cookie still holds the session; after the idle time it says it expired', async () => {
    const sun = await personWithPassword(s, 'sun', 'operator');
    const { context, page, errors } = await desk();
    try {
      await signInAs(page, s.url, sun);
      // A new tab has no sessionStorage: the cookie alone says who is signed in.
      const tab = await context.newPage();
      await tab.goto(`${s.url}/#/`);
      await tab.waitForSelector('#board-summary');
      await waitForText(tab, '#who', /测试 sun/);
      await tab.close();

      await s.advance((1800 + 60) * 1000);
      await page.click('#nav a[data-nav="nav.broadcasts"]');
      await waitForText(page, '#login-notice', /登录已过期/);
      assert.match(page.url(), /#\/login$/);
      await page.screenshot({ path: join(ARTIFACTS, 'session-expired.png') });
      assert.deepEqual(errors, []);
    } finally {
      await context.close();
    }
  });

  it('shows a town official only their town’s villages, routine and test levels, no county links', async () => {
    const wang = await personWithPassword(s, 'wang', 'town_official', [townA]);
    const { context, page, errors } = await desk();
    try {
      await signInAs(page, s.url, wang);
      await page.waitForSelector(`.tile[data-code="${villagesA[0]}"]`);
      const tiles = await page.$$eval('.tile', (xs) => xs.map((x) => x.getAttribute('data-code')));
      assert.deepEqual(tiles.sort(), [...villagesA].sort(), 'their villages only');
      assert.ok(!tiles.includes(villageB));
      const nav = await page.$$eval('#nav a', (xs) => xs.map((a) => a.getAttribute('data-nav')));
      assert.ok(!nav.includes('nav.staff'), 'no staff page');
      assert.ok(!nav.includes('nav.approvals'), 'no approvals queue');
      await page.click('#nav a[data-nav="nav.new"]');
      await page.waitForSelector('#level');
      const levels = await page.$$eval('#level option', (xs) =>
        xs.map((o) => (o as HTMLOptionElement).value),
      );
      assert.deepEqual(levels.sort(), ['routine', 'test']);
      await waitForText(page, '#who', /乡镇干部/);
      assert.deepEqual(errors, []);
    } finally {
      await context.close();
    }
  });
});
