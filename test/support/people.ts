/// <reference lib="dom" />
// People with passwords for browser tests, made as a station makes them: an admin adds the person
// (POST /api/users gives a one-time password), the person signs in and chooses their own.
import type { Page } from 'playwright-core';
import request from 'supertest';
import { api, TestServer } from './server.js';

export interface Person {
  id: string;
  username: string;
  displayName: string;
  password: string;
}

/** Adds a person through the admin API; returns them with their one-time password. */
export async function addPerson(
  s: TestServer,
  username: string,
  role: string,
  towns: string[] = [],
): Promise<Person & { oneTimePassword: string }> {
  const displayName = `测试 ${username}`;
  const res = await api(s.url, s.adminToken)
    .post('/api/users')
    .send({ username, displayName, role, ...(towns.length ? { towns } : {}) });
  if (res.status !== 201) throw new Error(`user not created: ${res.status} ${res.text}`);
  const otp = res.body.oneTimePassword as string;
  return { id: res.body.id, username, displayName, password: otp, oneTimePassword: otp };
}

/** Adds a person and replaces their one-time password through the API, as their first sign-in would. */
export async function personWithPassword(
  s: TestServer,
  username: string,
  role: string,
  towns: string[] = [],
): Promise<Person> {
  const p = await addPerson(s, username, role, towns);
  const agent = request.agent(s.url);
  const signedIn = await agent
    .post('/api/session')
    .send({ username, password: p.oneTimePassword })
    .expect(200);
  const password = `${username}-长久密码-2026`;
  await agent
    .post('/api/me/password')
    .set('X-CSRF-Token', signedIn.body.csrfToken)
    .send({ currentPassword: p.oneTimePassword, newPassword: password })
    .expect(204);
  return { ...p, password };
}

/** Signs in with a username and password through the form; the caller waits for what follows. */
export async function fillSignIn(
  page: Page,
  url: string,
  username: string,
  password: string,
): Promise<void> {
  await page.goto(`${url}/#/login`);
  await page.fill('#username', username);
  await page.fill('#password', password);
  await page.click('#password-submit');
}

/** Signs a person in and waits for the village board. */
export async function signInAs(page: Page, url: string, who: Person): Promise<void> {
  await fillSignIn(page, url, who.username, who.password);
  await page.waitForSelector('#board-summary');
}
