/// <reference lib="dom" />
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it, beforeAll, afterAll } from '@jest/globals';
import type { Browser, Page } from 'playwright-core';
import { newClip } from './support/broadcasts.js';
import { ARTIFACTS, launchBrowser, pageErrors, signIn, waitForText } from './support/browser.js';
import { api, startTestServer, TestServer } from './support/server.js';
import { staffMember, StaffMember } from './support/staff.js';

interface Schedule {
  id: string;
  cron: string;
  enabled: boolean;
  template: { level: string; target: Record<string, unknown>; title: string };
}

/** WCAG contrast ratio of two `rgb(r, g, b)` colours. */
function contrast(a: string, b: string): number {
  const lum = (c: string) => {
    const [r, g, bl] = (c.match(/\d+/g) ?? []).slice(0, 3).map((x) => {
      const v = Number(x) / 255;
      return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * r + 0.7152 * g + 0.0722 * bl;
  };
  const [hi, lo] = [lum(a), lum(b)].sort((x, y) => y - x);
  return (hi + 0.05) / (lo + 0.05);
}

describe('the dashboard’s schedules in Chromium', () => {
  let s: TestServer;
  let browser: Browser;
  let page: Page;
  let errors: string[];
  let clipId: string;

  const schedules = async () =>
    (await api(s.url, s.adminToken).get('/api/schedules?limit=500').expect(200)).body
      .items as Schedule[];
  const removeAll = async () => {
    for (const x of await schedules())
      await api(s.url, s.adminToken).delete(`/api/schedules/${x.id}`).expect(204);
  };
  /** The admin at the desk (a person: drafts need one), and a second person who approves. */
  let admin: StaffMember;
  let approver: StaffMember;
  const approve = (draftId: string) =>
    api(s.url, approver.token).post(`/api/drafts/${draftId}/approve`).expect(200);
  const openForm = async (hash = '#/schedules/new') => {
    await page.goto(`${s.url}/${hash}`);
    await page.waitForSelector('#schedule-form input[name="scope"]');
    await page.waitForSelector('#s-preview li');
  };

  beforeAll(async () => {
    s = await startTestServer({ seed: true, approvals: true });
    clipId = (await newClip(s)).id;
    admin = await staffMember(s, 'admin', [], { username: 'desk-admin' });
    approver = await staffMember(s, 'operator', [], { username: 'approver' });
    browser = await launchBrowser();
    const context = await browser.newContext({
      viewport: { width: 1280, height: 900 },
      locale: 'zh-CN',
    });
    page = await context.newPage();
    errors = pageErrors(page);
    await signIn(page, s.url, admin.token);
  });
  afterAll(async () => {
    await browser?.close();
    await s?.close();
  });

  it('preselects no level and no target, says what is missing, and shows the reach', async () => {
    await openForm();
    assert.equal(await page.inputValue('#s-level'), '', 'no level chosen');
    assert.equal(await page.locator('input[name="scope"]:checked').count(), 0, 'no target chosen');
    await waitForText(page, '#reach', /请选择目标/);
    await page.fill('#s-name', '每日天气');
    await page.fill('#s-title', '天气预报');
    await page.selectOption('#clip', clipId);
    await page.click('#s-save');
    const problems = await waitForText(page, '#form-error', /请选择级别/);
    assert.match(problems, /请选择目标/);
    assert.equal((await schedules()).length, 0, 'nothing saved');
    await page.check('input[name="scope"][value="all"]');
    await page.waitForSelector('#reach[data-villages="81"]');
    assert.equal(await page.getAttribute('#reach', 'data-devices'), '95');
    assert.deepEqual(errors, []);
  });

  it('asks for confirmation, with the reach, before saving a level I schedule; going back saves nothing', async () => {
    await openForm();
    await page.fill('#s-name', '山洪预警演练');
    await page.fill('#s-title', '山洪灾害 I 级预警');
    await page.selectOption('#clip', clipId);
    await page.selectOption('#s-level', 'I');
    await page.waitForSelector('#s-level-badge .badge[data-level="I"]');
    await page.check('input[name="scope"][value="all"]');
    await page.waitForSelector('#reach[data-villages="81"]');
    await page.uncheck('#s-enabled');
    await page.click('#s-save');
    await page.waitForSelector('#confirm:not([hidden])');
    const text = (await page.textContent('#confirm')) ?? '';
    assert.match(text, /81 个村、95 台设备/);
    assert.match(text, /I级（特别重大）/);
    assert.match(text, /每天 08:00/);
    await page.click('#confirm-back');
    assert.equal(await page.isHidden('#confirm'), true);
    assert.equal((await schedules()).length, 0, 'going back saves nothing');
    await page.click('#s-save');
    await page.click('#confirm-save');
    // Level I needs a second person: a draft waits, and nothing is scheduled until approved.
    await page.waitForSelector('#draft-status[data-status="pending"]');
    assert.equal((await schedules()).length, 0, 'not scheduled before approval');
    await approve(/#\/approvals\/([\w-]+)$/.exec(page.url())![1]);
    const [saved] = await schedules();
    assert.equal(saved.template.level, 'I');
    assert.deepEqual(saved.template.target, { all: true });
    assert.equal(saved.cron, '0 8 * * *');
    assert.equal(saved.enabled, false);
    await removeAll();

    // A routine schedule saves without the extra step.
    await openForm();
    await page.fill('#s-name', '日常');
    await page.fill('#s-title', '日常广播');
    await page.selectOption('#clip', clipId);
    await page.selectOption('#s-level', 'routine');
    await page.check('input[name="scope"][value="all"]');
    await page.click('#s-save');
    await page.waitForSelector('#schedules');
    assert.equal((await schedules()).length, 1);
    await removeAll();
    assert.deepEqual(errors, []);
  });

  it('writes the cron from days and a time, previews in Chinese weekdays, and keeps raw cron as an advanced option', async () => {
    await openForm();
    await page.check('input[name="s-mode"][value="weekly"]');
    await page.check('input[name="s-day"][value="1"]');
    await page.check('input[name="s-day"][value="3"]');
    await page.fill('#s-time', '07:30');
    await waitForText(page, '#s-cron-shown', /30 7 \* \* 1,3$/);
    await page.waitForFunction(() =>
      [...document.querySelectorAll('#s-preview li')].every((li) =>
        /^\d{4}年\d+月\d+日 周[一三] 07:30$/.test(li.textContent?.trim() ?? ''),
      ),
    );
    assert.equal(await page.locator('#s-preview li').count(), 10);
    assert.doesNotMatch((await page.textContent('#s-preview')) ?? '', /Mon|Wed/);

    await page.check('input[name="s-mode"][value="weekdays"]');
    await waitForText(page, '#s-cron-shown', /30 7 \* \* 1-5$/);
    await page.check('input[name="s-mode"][value="monthly"]');
    await page.fill('#s-dom', '15');
    await waitForText(page, '#s-cron-shown', /30 7 15 \* \*$/);

    // Advanced: the raw field starts from the picker's rule; its mistakes are explained in Chinese.
    await page.check('#s-advanced');
    assert.equal(await page.inputValue('#s-cron'), '30 7 15 * *');
    assert.equal(await page.isHidden('#s-picker'), true);
    await page.fill('#s-cron', '0 25 * * *');
    await waitForText(page, '#s-preview', /第 2 段（时）的 25 超出范围 0–23/);
    await page.fill('#s-cron', '0 8 * *');
    await waitForText(page, '#s-preview', /应有 5 段.*现在是 4 段/);
    await page.fill('#s-cron', '0 8 * * 1-5');
    await page.fill('#s-tz', 'Mars/Base');
    await waitForText(page, '#s-preview', /时区无效/);
    await page.fill('#s-tz', 'Asia/Shanghai');
    await waitForText(page, '#s-preview', /周五 08:00/);
    // Back to the picker: a rule it can show is shown in it.
    await page.uncheck('#s-advanced');
    assert.equal(await page.isChecked('input[name="s-mode"][value="weekdays"]'), true);
    assert.equal(await page.inputValue('#s-time'), '08:00');

    await page.fill('#s-name', '周一周三');
    await page.fill('#s-title', '政策宣传');
    await page.selectOption('#clip', clipId);
    await page.selectOption('#s-level', 'routine');
    await page.check('input[name="s-mode"][value="weekly"]');
    // The days come over from the weekday rule; keep Monday, add Sunday.
    for (const day of ['2', '3', '4', '5'])
      await page.uncheck(`input[name="s-day"][value="${day}"]`);
    await page.check('input[name="s-day"][value="0"]');
    await page.fill('#s-time', '19:05');
    await page.check('input[name="scope"][value="choose"]');
    await page.locator('input[name="village"]').first().check();
    await page.waitForSelector('#reach[data-villages="1"]');
    await page.click('#s-save');
    await page.waitForSelector('#schedules');
    const [weekly] = await schedules();
    assert.equal(weekly.cron, '5 19 * * 0,1');
    assert.match(
      (await page.textContent(`#schedules tr[data-id="${weekly.id}"] .rule`)) ?? '',
      /每周一、周日 19:05/,
    );

    // Editing shows the rule in the picker when it fits, in the advanced field when not.
    await openForm(`#/schedules/${weekly.id}`);
    assert.equal(await page.isChecked('input[name="s-mode"][value="weekly"]'), true);
    assert.deepEqual(
      await page.$$eval('input[name="s-day"]:checked', (xs) =>
        xs.map((x) => (x as HTMLInputElement).value),
      ),
      ['1', '0'],
    );
    assert.equal(await page.inputValue('#s-time'), '19:05');
    assert.equal(await page.isChecked('#s-advanced'), false);
    assert.equal(await page.isChecked('input[name="scope"][value="choose"]'), true);
    const get = async (id: string) =>
      (await api(s.url, s.adminToken).get(`/api/schedules/${id}`).expect(200)).body as Schedule & {
        lastFireAt: string;
      };
    const unchanged = (await get(weekly.id)).lastFireAt;
    await page.fill('#s-title', '政策宣传（修订）');
    await page.click('#s-save');
    await page.waitForSelector('#schedules');
    const edited = await get(weekly.id);
    assert.equal(edited.template.title, '政策宣传（修订）');
    assert.equal(edited.cron, '5 19 * * 0,1');
    assert.equal(edited.lastFireAt, unchanged, 'an unchanged rule does not restart the schedule');
    const odd = (
      await api(s.url, s.adminToken)
        .post('/api/schedules')
        .send({
          name: '工作时间每刻钟',
          cron: '*/15 9-17 * * *',
          enabled: false,
          template: { title: '测试', clipId, level: 'test', target: { all: true } },
        })
        .expect(201)
    ).body as Schedule;
    await openForm(`#/schedules/${odd.id}`);
    assert.equal(await page.isChecked('#s-advanced'), true);
    assert.equal(await page.inputValue('#s-cron'), '*/15 9-17 * * *');
    assert.equal(await page.isVisible('#s-picker-off'), true);
    await page.screenshot({ path: join(ARTIFACTS, 'schedule-advanced.png'), fullPage: true });
    await removeAll();
    assert.deepEqual(errors, []);
  });

  it('names the villages a routine schedule’s quiet hours hold back, and shows a village’s quiet hours on its page', async () => {
    const villages = (await api(s.url, s.adminToken).get('/api/villages?limit=500').expect(200))
      .body.items as { code: string; quietHours: string | null }[];
    const quiet = villages.filter((v) => v.quietHours === '22:00-06:00');
    assert.ok(quiet.length > 0 && quiet.length < villages.length, 'the sample has both kinds');
    await openForm();
    await page.fill('#s-time', '22:30');
    await page.selectOption('#s-level', 'routine');
    await page.check('input[name="scope"][value="all"]');
    await page.waitForSelector(`#s-quiet[data-held="${quiet.length}"]`);
    const text = (await page.textContent('#s-quiet')) ?? '';
    assert.match(text, new RegExp(`目标中有 ${quiet.length} 个村会被静默时段暂缓`));
    assert.match(text, /静默 22:00-06:00/);
    assert.match(text, /不会播放/, 'the default routine window closes before 06:00');
    assert.deepEqual(
      (await page.$$eval('#s-quiet-villages li', (xs) => xs.map((x) => x.dataset.code))).sort(),
      quiet.map((v) => v.code).sort(),
    );
    // Early in the morning the window outlasts the quiet hours: held, then played at 06:00.
    await page.fill('#s-time', '05:30');
    await waitForText(page, '#s-quiet', /推迟到 06:00 播放/);
    await page.screenshot({ path: join(ARTIFACTS, 'schedule-quiet.png'), fullPage: true });
    await page.selectOption('#s-level', 'II');
    await waitForText(page, '#s-quiet', /紧急广播不受静默时段限制/);

    await page.goto(`${s.url}/#/village/${quiet[0].code}`);
    await waitForText(page, '#village-quiet', /静默时段：22:00-06:00/);
    const loud = villages.find((v) => !v.quietHours)!;
    await page.goto(`${s.url}/#/village/${loud.code}`);
    await waitForText(page, '#village-quiet', /静默时段：无/);
    assert.deepEqual(errors, []);
  });

  it('shows levels in their colours, I red, II orange, III yellow, IV blue, in words, readable', async () => {
    for (const level of ['I', 'II', 'III', 'IV', 'routine']) {
      const schedule = {
        name: `级别 ${level}`,
        cron: '0 8 * * *',
        enabled: false,
        template: { title: level, clipId, level, target: { all: true } },
      };
      // I and II go through a draft and a second person, as the policy wants.
      if (level === 'I' || level === 'II') {
        const draft = await api(s.url, admin.token)
          .post('/api/drafts')
          .send({ schedule })
          .expect(201);
        await approve(draft.body.id);
      } else await api(s.url, s.adminToken).post('/api/schedules').send(schedule).expect(201);
    }
    await page.goto(`${s.url}/#/schedules`);
    await page.waitForSelector('#schedules .badge[data-level="IV"]');
    const look = async (level: string) =>
      page.$eval(`#schedules .badge[data-level="${level}"]`, (el) => {
        const style = getComputedStyle(el);
        return { bg: style.backgroundColor, fg: style.color, text: el.textContent?.trim() };
      });
    const want = {
      I: ['rgb(183, 28, 28)', 'I级（特别重大）'],
      II: ['rgb(194, 65, 12)', 'II级（重大）'],
      III: ['rgb(251, 192, 45)', 'III级（较大）'],
      IV: ['rgb(21, 101, 192)', 'IV级（一般）'],
    };
    for (const [level, [bg, text]] of Object.entries(want)) {
      const got = await look(level);
      assert.equal(got.bg, bg, `level ${level} background`);
      assert.equal(got.text, text, `level ${level} says so in words`);
      assert.ok(
        contrast(got.bg, got.fg) >= 4.5,
        `level ${level}: contrast ${contrast(got.bg, got.fg)}`,
      );
    }
    assert.equal((await look('III')).fg, 'rgb(29, 36, 48)', 'dark text on yellow');
    await page.screenshot({ path: join(ARTIFACTS, 'schedule-levels.png'), fullPage: true });
    // Re-enabling a level I schedule from the list asks first; dismissing leaves it off.
    const levelI = (await schedules()).find((x) => x.template.level === 'I')!;
    const toggle = `#schedules button.toggle[data-id="${levelI.id}"]`;
    let asked = '';
    page.once('dialog', (d) => {
      asked = d.message();
      void d.dismiss();
    });
    await page.click(toggle);
    assert.match(asked, /I级（特别重大）.*每天 08:00/);
    assert.equal((await schedules()).find((x) => x.id === levelI.id)!.enabled, false);
    page.once('dialog', (d) => void d.accept());
    await page.click(toggle);
    // Re-arming it is a change a second person approves.
    await page.waitForSelector('#draft-status[data-status="pending"]');
    assert.equal((await schedules()).find((x) => x.id === levelI.id)!.enabled, false);
    await approve(/#\/approvals\/([\w-]+)$/.exec(page.url())![1]);
    assert.equal((await schedules()).find((x) => x.id === levelI.id)!.enabled, true);
    await api(s.url, s.adminToken)
      .patch(`/api/schedules/${levelI.id}`)
      .send({ enabled: false })
      .expect(200);
    // The new-broadcast form shows the chosen level in its colour beside the list.
    await page.goto(`${s.url}/#/new`);
    await page.selectOption('#level', 'II');
    assert.equal(
      await page.$eval(
        '#level-badge .badge[data-level="II"]',
        (el) => getComputedStyle(el).backgroundColor,
      ),
      want.II[0],
    );
    await removeAll();
    assert.deepEqual(errors, []);
  });

  it('reaches every nav item on a 390 px phone without scrolling sideways', async () => {
    const context = await browser.newContext({
      viewport: { width: 390, height: 844 },
      locale: 'zh-CN',
    });
    try {
      const phone = await context.newPage();
      const phoneErrors = pageErrors(phone);
      await signIn(phone, s.url, s.adminToken);
      const links = await phone.$$eval('#nav a', (xs) =>
        xs.map((a) => [a.getAttribute('data-nav'), a.getAttribute('href')]),
      );
      assert.equal(
        links.length,
        10,
        'an admin has ten nav items (approvals, staff, alerts, alert intake and superior too)',
      );
      for (const [key, href] of links) {
        // Visible on the screen as it is: in the viewport and not clipped by anything over it.
        const shown = await phone.$eval(`#nav a[data-nav="${key}"]`, (a) => {
          const r = a.getBoundingClientRect();
          const x = r.left + r.width / 2;
          const y = r.top + r.height / 2;
          return (
            r.width > 0 &&
            r.left >= 0 &&
            r.right <= window.innerWidth &&
            a.contains(document.elementFromPoint(x, y))
          );
        });
        assert.ok(shown, `${key} is visible`);
        await phone.click(`#nav a[data-nav="${key}"]`);
        await phone.waitForFunction((h) => location.hash === h, href);
        await phone.waitForSelector('#view h1');
        assert.ok(
          await phone.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth),
          `${key}: no sideways scroll`,
        );
      }
      await phone.goto(`${s.url}/#/schedules/new`);
      await phone.waitForSelector('#schedule-form input[name="scope"]');
      await phone.waitForSelector('#s-preview-zone:not(:empty)');
      assert.ok(
        await phone.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth),
        'the schedule form fits the phone',
      );
      await phone.screenshot({ path: join(ARTIFACTS, 'schedule-phone.png'), fullPage: true });
      assert.deepEqual(phoneErrors, []);
    } finally {
      await context.close();
    }
  });
});
