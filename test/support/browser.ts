/// <reference lib="dom" />
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, Browser, Page } from 'playwright-core';
import { ROOT } from './cli.js';

/** The machine's Chromium (Debian package `chromium`); CHROMIUM_PATH overrides. */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const ARTIFACTS = join(ROOT, 'test', 'artifacts');

export async function launchBrowser(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `No Chromium at ${CHROMIUM}: install it with "apt-get install -y chromium" (.ci/run does) or set CHROMIUM_PATH`,
    );
  }
  mkdirSync(ARTIFACTS, { recursive: true });
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
}

/** Signs in through the form and waits for the village board. */
export async function signIn(page: Page, url: string, token: string): Promise<void> {
  await page.goto(`${url}/#/login`);
  await page.fill('#token', token);
  await page.click('#login button[type=submit]');
  await page.waitForSelector('#board-summary');
}

/** Collects the page's uncaught errors and console errors, to fail on them. */
export function pageErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(`pageerror: ${err.message}`));
  page.on('console', (msg) => {
    // A refused request (a wrong token's 401) is logged by Chromium too; that is not a script error.
    if (msg.type() === 'error' && !msg.text().startsWith('Failed to load resource'))
      errors.push(`console: ${msg.text()}`);
  });
  return errors;
}

/** Waits until the element's text matches; on timeout the error says what the text was. */
export async function waitForText(
  page: Page,
  selector: string,
  pattern: RegExp,
  timeout = 30_000,
): Promise<string> {
  try {
    await page.waitForFunction(
      ([sel, source, flags]) =>
        new RegExp(source, flags).test(document.querySelector(sel)?.textContent ?? ''),
      [selector, pattern.source, pattern.flags] as const,
      { timeout },
    );
  } catch (err) {
    const text = await page.textContent(selector).catch(() => null);
    await page
      .screenshot({ path: join(ARTIFACTS, `failed-${selector.replace(/\W+/g, '')}.png`) })
      .catch(() => undefined);
    throw new Error(
      `${selector} never matched ${pattern} within ${timeout} ms; it reads ${JSON.stringify(text)}`,
      { cause: err },
    );
  }
  return (await page.textContent(selector)) ?? '';
}
