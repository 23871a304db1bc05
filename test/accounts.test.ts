import assert from 'node:assert/strict';
import { describe, it, beforeAll, afterAll } from '@jest/globals';
import request from 'supertest';
import { api, startTestServer, TestServer, tempDir } from './support/server.js';
import { staffMember } from './support/staff.js';
import { WriteQueue } from '../src/database/write-queue.js';
import { UsersRepository } from '../src/auth/users.repository.js';

/** A browser: the cookies it holds, sent with each request, updated from each answer. */
class Browser {
  readonly jar = new Map<string, string>();
  csrf?: string;
  constructor(private readonly url: string) {}

  send(t: request.Test): request.Test {
    const cookie = [...this.jar].map(([k, v]) => `${k}=${v}`).join('; ');
    if (cookie) t.set('Cookie', cookie);
    if (this.csrf) t.set('X-CSRF-Token', this.csrf);
    return t;
  }

  /** Keeps what Set-Cookie says; an empty value with Max-Age=0 removes the cookie. */
  private keep(res: request.Response): request.Response {
    const set = res.headers['set-cookie'] as unknown as string[] | undefined;
    for (const line of set ?? []) {
      const [pair] = line.split(';');
      const [name, value] = pair!.split('=') as [string, string];
      if (/Max-Age=0\b/.test(line)) this.jar.delete(name);
      else this.jar.set(name, value);
    }
    return res;
  }

  async call(method: 'get' | 'post' | 'patch' | 'delete', path: string, body?: object) {
    const t = this.send(request(this.url)[method](path));
    return this.keep(await (body ? t.send(body) : t));
  }

  async signIn(username: string, password: string) {
    const res = await this.call('post', '/api/session', { username, password });
    if (res.status === 200) this.csrf = res.body.csrfToken as string;
    return res;
  }
}

/** The names of the device cookies a browser holds (one per account signed in from it). */
const deviceCookies = (b: Browser) =>
  [...b.jar.keys()].filter((k) => k.startsWith('dalaba_device_'));

const setCookies = (res: request.Response) =>
  (res.headers['set-cookie'] as unknown as string[] | undefined) ?? [];

/** A person made through the API, who has already replaced the one-time password. */
async function person(
  s: TestServer,
  role: string,
  password: string,
  extra: Record<string, unknown> = {},
): Promise<{ id: string; username: string; browser: Browser }> {
  const username = `p${Math.random().toString(36).slice(2, 10)}`;
  const made = await api(s.url, s.adminToken)
    .post('/api/users')
    .send({ username, displayName: `Person ${username}`, role, ...extra })
    .expect(201);
  const browser = new Browser(s.url);
  assert.equal((await browser.signIn(username, made.body.oneTimePassword)).status, 200);
  await browser
    .call('post', '/api/me/password', {
      currentPassword: made.body.oneTimePassword,
      newPassword: password,
    })
    .then((r) => assert.equal(r.status, 204, JSON.stringify(r.body)));
  return { id: made.body.id as string, username, browser };
}

async function auditEntries(s: TestServer, action: string) {
  // Audit entries are queued behind the answer: wait for the queued writes, not for time.
  await s.server.app.get(WriteQueue).drain();
  const res = await api(s.url, s.adminToken)
    .get(`/api/audit?action=${encodeURIComponent(action)}&limit=500`)
    .expect(200);
  return res.body.items as Array<Record<string, unknown>>;
}

describe('sessions', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer({
      env: { SESSION_IDLE_S: '600', SESSION_MAX_S: '3600', AUTH_FAIL_LIMIT: '1000' },
    });
  });
  afterAll(() => s.close());

  it('signs in the first-start admin, who must change the one-time password before anything else', async () => {
    const otp = s.server.generatedAdminPassword!;
    assert.ok(otp && otp.length >= 10, 'a one-time password was made');
    assert.ok(!s.rawLogs.join('').includes(otp), 'it is never logged');
    const b = new Browser(s.url);
    const res = await b.signIn('Admin', otp);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const session = setCookies(res).find((c) => c.startsWith('dalaba_session='))!;
    assert.match(session, /^dalaba_session=[A-Za-z0-9_-]{43}; /, '256 random bits');
    for (const flag of ['HttpOnly', 'SameSite=Strict', 'Path=/', 'Max-Age=3600'])
      assert.ok(session.includes(flag), `${flag} in ${session}`);
    assert.ok(!session.includes('Secure'), 'plain HTTP here: no Secure flag');
    assert.ok(
      setCookies(res).some((c) => /^dalaba_device_[0-9a-f]{16}=.+Max-Age=31536000/.test(c)),
    );
    assert.equal(res.body.user.username, 'admin');
    assert.equal(res.body.user.via, 'session');
    assert.equal(res.body.user.role, 'admin');
    assert.equal(res.body.user.mustChangePassword, true);
    assert.equal(res.body.idleTimeoutS, 600);
    assert.equal(typeof res.body.csrfToken, 'string');
    assert.ok(!JSON.stringify(res.body).includes(otp), 'the password is never returned');

    const gated = await b.call('get', '/api/villages');
    assert.equal(gated.status, 403);
    assert.equal(gated.body.error, 'PASSWORD_CHANGE_REQUIRED');
    assert.equal((await b.call('get', '/api/me')).status, 200);
    assert.equal((await b.call('get', '/api/session')).body.user.mustChangePassword, true);

    const weak = await b.call('post', '/api/me/password', {
      currentPassword: otp,
      newPassword: 'short',
    });
    assert.equal(weak.status, 400);
    assert.equal(weak.body.error, 'PASSWORD_REJECTED');
    const asName = await b.call('post', '/api/me/password', {
      currentPassword: otp,
      newPassword: 'admin',
    });
    assert.equal(asName.body.error, 'PASSWORD_REJECTED');
    const wrong = await b.call('post', '/api/me/password', {
      currentPassword: 'not-the-password',
      newPassword: 'a long new password',
    });
    assert.equal(wrong.body.error, 'WRONG_PASSWORD');
    const changed = await b.call('post', '/api/me/password', {
      currentPassword: otp,
      newPassword: 'a long new password',
    });
    assert.equal(changed.status, 204);
    assert.equal((await b.call('get', '/api/villages')).status, 200);
    assert.equal((await b.call('get', '/api/session')).body.user.mustChangePassword, false);

    const audit = JSON.stringify(await auditEntries(s, 'user.password.changed'));
    assert.ok(audit.includes('"actor":"Administrator"'));
    assert.ok(!audit.includes('a long new password') && !audit.includes(otp));
  });

  it('refuses a cookie-authenticated change without the CSRF token (403), accepts it with', async () => {
    const p = await person(s, 'operator', 'operator password 1');
    const csrf = p.browser.csrf!;
    p.browser.csrf = undefined;
    const refused = await p.browser.call('post', '/api/towns', { code: '611026901', name: '甲镇' });
    assert.equal(refused.status, 403);
    assert.equal(refused.body.error, 'CSRF_TOKEN_INVALID');
    p.browser.csrf = `${csrf.slice(0, -1)}${csrf.endsWith('A') ? 'B' : 'A'}`;
    const forged = await p.browser.call('post', '/api/towns', { code: '611026901', name: '甲镇' });
    assert.equal(forged.body.error, 'CSRF_TOKEN_INVALID');
    assert.equal((await p.browser.call('get', '/api/villages')).status, 200, 'reads need none');
    p.browser.csrf = csrf;
    const made = await p.browser.call('post', '/api/towns', { code: '611026901', name: '甲镇' });
    assert.equal(made.status, 201);
  });

  it('signs out: 204, the cookie is cleared, the session no longer works', async () => {
    const p = await person(s, 'viewer', 'viewer password 1');
    const cookie = p.browser.jar.get('dalaba_session')!;
    const out = await p.browser.call('delete', '/api/session');
    assert.equal(out.status, 204);
    assert.ok(setCookies(out).some((c) => /^dalaba_session=; .*Max-Age=0/.test(c)));
    const again = await request(s.url)
      .get('/api/session')
      .set('Cookie', `dalaba_session=${cookie}`);
    assert.equal(again.status, 401);
    assert.equal(again.body.error, 'UNAUTHORIZED');
    const audit = await auditEntries(s, 'session.signout');
    assert.ok(audit.some((e) => e.actorUserId === p.id && e.viaToken === null));
  });

  it('prefers the bearer header over the cookie', async () => {
    const p = await person(s, 'viewer', 'viewer password 2');
    const me = await request(s.url)
      .get('/api/me')
      .set('Cookie', `dalaba_session=${p.browser.jar.get('dalaba_session')}`)
      .set('Authorization', `Bearer ${s.adminToken}`)
      .expect(200);
    assert.equal(me.body.via, 'token');
  });

  it('ends a session idle for SESSION_IDLE_S with 401 SESSION_EXPIRED, and clears its cookie', async () => {
    const p = await person(s, 'viewer', 'viewer password 3');
    await s.advance(599_000);
    assert.equal((await p.browser.call('get', '/api/session')).status, 200, 'still within');
    await s.advance(599_000);
    assert.equal((await p.browser.call('get', '/api/session')).status, 200, 'use keeps it open');
    await s.advance(600_000);
    const expired = await p.browser.call('get', '/api/villages');
    assert.equal(expired.status, 401);
    assert.equal(expired.body.error, 'SESSION_EXPIRED');
    assert.ok(!p.browser.jar.has('dalaba_session'), 'the cookie was cleared');
  });

  it('does not count a background request (X-Dalaba-Background: 1) as use of the session', async () => {
    const p = await person(s, 'viewer', 'viewer password 5');
    await s.advance(599_000);
    const background = p.browser.send(request(s.url).get('/api/villages'));
    assert.equal((await background.set('X-Dalaba-Background', '1')).status, 200, 'still within');
    await s.advance(2_000);
    const expired = await p.browser.call('get', '/api/session');
    assert.equal(expired.status, 401);
    assert.equal(expired.body.error, 'SESSION_EXPIRED');
  });

  it('changes a password only from a session: a token, even its owner’s, gets 403', async () => {
    const p = await person(s, 'operator', 'operator password 3');
    const token = await api(s.url, s.adminToken)
      .post('/api/tokens')
      .send({ name: 'their script', role: 'operator', ownerUserId: p.id })
      .expect(201);
    const refused = await api(s.url, token.body.token)
      .post('/api/me/password')
      .send({ currentPassword: 'a guess at it', newPassword: 'another long password' })
      .expect(403);
    assert.equal(refused.body.error, 'SESSION_REQUIRED');
  });

  it('ends a session SESSION_MAX_S after sign-in however active it is', async () => {
    const p = await person(s, 'viewer', 'viewer password 4');
    for (let i = 0; i < 7; i++) {
      await s.advance(500_000);
      assert.equal((await p.browser.call('get', '/api/session')).status, 200, `at ${i}`);
    }
    await s.advance(500_000); // 4000 s after sign-in
    const expired = await p.browser.call('get', '/api/session');
    assert.equal(expired.body.error, 'SESSION_EXPIRED');
  });

  it('validates sign-in input before checking anything (400)', async () => {
    const none = await api(s.url).post('/api/session').send({}).expect(400);
    assert.deepEqual(
      [...new Set(none.body.details.map((d: { field: string }) => d.field))].sort(),
      ['password', 'username'],
    );
    await api(s.url)
      .post('/api/session')
      .send({ username: 'x'.repeat(65), password: 'y' })
      .expect(400);
    await api(s.url)
      .post('/api/session')
      .send({ username: 'admin', password: 'y'.repeat(201) })
      .expect(400);
  });

  it('answers a wrong username and a wrong password alike: 401 BAD_CREDENTIALS', async () => {
    const unknown = await new Browser(s.url).signIn('nobody-here', 'some password 1');
    const wrong = await new Browser(s.url).signIn('admin', 'some password 1');
    for (const res of [unknown, wrong]) {
      assert.equal(res.status, 401);
      assert.equal(res.body.error, 'BAD_CREDENTIALS');
    }
    assert.equal(unknown.body.message, wrong.body.message);
    const failed = await auditEntries(s, 'session.failed');
    assert.ok(failed.some((e) => (e.detail as { username: string }).username === '(unknown)'));
    assert.ok(!JSON.stringify(failed).includes('some password 1'), 'never the password');
  });

  it('refuses disabled people and their tokens', async () => {
    const p = await person(s, 'operator', 'operator password 2');
    const token = await api(s.url, s.adminToken)
      .post('/api/tokens')
      .send({ name: 'their script', role: 'operator', ownerUserId: p.id })
      .expect(201);
    assert.equal(token.body.ownerName, `Person ${p.username}`);
    await api(s.url, token.body.token).get('/api/villages').expect(200);
    await api(s.url, s.adminToken).patch(`/api/users/${p.id}`).send({ disabled: true }).expect(200);
    assert.equal((await p.browser.call('get', '/api/session')).status, 401, 'session ended');
    await api(s.url, token.body.token).get('/api/villages').expect(401);
    const again = await new Browser(s.url).signIn(p.username, 'operator password 2');
    assert.equal(again.status, 401);
    assert.equal(again.body.error, 'BAD_CREDENTIALS');
  });
});

describe('lock-out after wrong passwords', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer({
      env: { LOGIN_FREE_FAILURES: '2', LOGIN_MAX_LOCK_S: '120', AUTH_FAIL_LIMIT: '1000' },
    });
  });
  afterAll(() => s.close());

  it('holds unknown browsers (429 ACCOUNT_LOCKED, doubling, capped) but never the owner’s own browser', async () => {
    const owner = await person(s, 'operator', 'the right password');
    const attacker = new Browser(s.url);
    assert.equal((await attacker.signIn(owner.username, 'guess one')).status, 401);
    assert.equal((await attacker.signIn(owner.username, 'guess two')).status, 401);
    const locked = await attacker.signIn(owner.username, 'the right password');
    assert.equal(locked.status, 429, 'not even the right password: it is not checked');
    assert.equal(locked.body.error, 'ACCOUNT_LOCKED');
    assert.equal(locked.headers['retry-after'], '30');

    // The owner's browser has the account's device cookie: the lock does not hold it.
    const ownerAgain = await owner.browser.signIn(owner.username, 'the right password');
    assert.equal(ownerAgain.status, 200);
    // Another account's device cookie is no pass.
    const other = await person(s, 'viewer', 'other password 1');
    const borrowed = new Browser(s.url);
    const [otherCookie] = deviceCookies(other.browser);
    const [ownerCookie] = deviceCookies(owner.browser);
    borrowed.jar.set(otherCookie!, other.browser.jar.get(otherCookie!)!);
    borrowed.jar.set(ownerCookie!, other.browser.jar.get(otherCookie!)!);
    borrowed.jar.set('dalaba_device', other.browser.jar.get(otherCookie!)!);
    assert.equal((await borrowed.signIn(owner.username, 'the right password')).status, 429);

    await s.advance(30_000);
    assert.equal((await attacker.signIn(owner.username, 'guess three')).status, 401);
    const longer = await attacker.signIn(owner.username, 'guess four');
    assert.equal(longer.headers['retry-after'], '60', 'doubled');
    for (let i = 0; i < 4; i++) {
      await s.advance(120_000);
      await attacker.signIn(owner.username, `guess ${i + 5}`);
    }
    const capped = await attacker.signIn(owner.username, 'guess nine');
    assert.equal(capped.headers['retry-after'], '120', 'never past LOGIN_MAX_LOCK_S');

    const audit = await auditEntries(s, 'user.locked');
    assert.ok(audit.some((e) => e.subject === owner.id));

    // Admin unlock lifts it at once.
    await api(s.url, s.adminToken).post(`/api/users/${owner.id}/unlock`).expect(200);
    assert.equal((await attacker.signIn(owner.username, 'the right password')).status, 200);
    assert.ok((await auditEntries(s, 'user.unlocked')).some((e) => e.subject === owner.id));
  });

  it('counts wrong current passwords at a password change like wrong sign-ins', async () => {
    const p = await person(s, 'operator', 'the password to keep');
    const change = (currentPassword: string) =>
      p.browser.call('post', '/api/me/password', {
        currentPassword,
        newPassword: 'a password of my own',
      });
    for (const guess of ['guess one', 'guess two'])
      assert.equal((await change(guess)).body.error, 'WRONG_PASSWORD');
    const held = await change('the password to keep');
    assert.equal(held.status, 429);
    assert.equal(held.body.error, 'ACCOUNT_LOCKED');
    assert.equal(held.headers['retry-after'], '30');
    const signIn = await new Browser(s.url).signIn(p.username, 'the password to keep');
    assert.equal(signIn.body.error, 'ACCOUNT_LOCKED', 'the account is locked for sign-in too');
  });

  it('locks an account against parallel wrong passwords: each counts, few are checked', async () => {
    const p = await person(s, 'operator', 'the parallel password');
    const answers = await Promise.all(
      Array.from({ length: 12 }, (_, i) => new Browser(s.url).signIn(p.username, `guess ${i}`)),
    );
    const wrong = answers.filter((r) => r.status === 401).length;
    for (const r of answers.filter((r) => r.status !== 401)) {
      assert.equal(r.status, 429);
      assert.ok(['ACCOUNT_LOCKED', 'TOO_MANY_SIGN_INS'].includes(r.body.error), r.body.error);
    }
    // At most one more than the free failures: two hash at once, then the lock is seen.
    assert.ok(wrong >= 2 && wrong <= 3, `${wrong} passwords were checked`);
    await s.server.app.get(WriteQueue).drain();
    const row = await s.server.app.get(UsersRepository).findById(p.id);
    assert.equal(row!.failedLogins, wrong, 'every checked failure counted');
    const user = await api(s.url, s.adminToken).get(`/api/users/${p.id}`).expect(200);
    assert.notEqual(user.body.lockedUntil, null);
  });

  it('holds an unknown name exactly like an existing account', async () => {
    const p = await person(s, 'viewer', 'an existing password');
    const tries = async (username: string) => {
      const out = [];
      for (let i = 0; i < 3; i++) {
        const res = await new Browser(s.url).signIn(username, `wrong password ${i}`);
        out.push([res.status, res.body.error, res.headers['retry-after'] ?? null]);
      }
      return out;
    };
    const existing = await tries(p.username);
    assert.deepEqual(existing.at(-1), [429, 'ACCOUNT_LOCKED', '30']);
    assert.deepEqual(await tries(`nobody${p.username}`), existing);
  });

  it('keeps a device cookie per account: people sharing a browser keep their own', async () => {
    const a = await person(s, 'operator', 'password of a');
    const b = await person(s, 'operator', 'password of b');
    const shared = new Browser(s.url);
    assert.equal((await shared.signIn(a.username, 'password of a')).status, 200);
    assert.equal((await shared.signIn(b.username, 'password of b')).status, 200);
    assert.equal(deviceCookies(shared).length, 2);
    const attacker = new Browser(s.url);
    for (const guess of ['guess one', 'guess two']) await attacker.signIn(a.username, guess);
    assert.equal((await attacker.signIn(a.username, 'password of a')).status, 429, 'locked');
    assert.equal((await shared.signIn(a.username, 'password of a')).status, 200);
  });

  it('backs off a known browser by its own failures only', async () => {
    const owner = await person(s, 'operator', 'my own password');
    for (const guess of ['typo one', 'typo two'])
      assert.equal((await owner.browser.signIn(owner.username, guess)).status, 401);
    const slowed = await owner.browser.signIn(owner.username, 'my own password');
    assert.equal(slowed.status, 429);
    assert.equal(slowed.body.error, 'ACCOUNT_LOCKED');
    // Its typos did not lock the account for anyone else.
    assert.equal((await new Browser(s.url).signIn(owner.username, 'my own password')).status, 200);
    const user = await api(s.url, s.adminToken).get(`/api/users/${owner.id}`).expect(200);
    assert.equal(user.body.lockedUntil, null);
  });
});

describe('staff accounts (admin)', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer();
    await api(s.url, s.adminToken)
      .post('/api/towns')
      .send({ code: '611026100', name: '城关镇' })
      .expect(201);
  });
  afterAll(() => s.close());

  it('adds people with a one-time password shown once, and checks roles and towns', async () => {
    const admin = api(s.url, s.adminToken);
    const made = await admin
      .post('/api/users')
      .send({
        username: 'Li.Ming',
        displayName: '李明',
        phone: '+86 138-0000-0001',
        role: 'town_official',
        towns: ['611026100'],
      })
      .expect(201);
    assert.equal(made.body.username, 'li.ming');
    // Written as one number however it was typed: the same-phone rule compares these.
    assert.equal(made.body.phone, '13800000001');
    assert.deepEqual(made.body.towns, ['611026100']);
    assert.equal(made.body.mustChangePassword, true);
    assert.ok(made.body.oneTimePassword.length >= 10);
    const listed = await admin.get('/api/users').expect(200);
    assert.ok(!listed.text.includes(made.body.oneTimePassword));
    assert.ok(!listed.text.includes('passwordHash') && !listed.text.includes('argon2'));

    const taken = await admin
      .post('/api/users')
      .send({ username: 'li.ming', displayName: 'x', role: 'viewer' })
      .expect(409);
    assert.equal(taken.body.error, 'USERNAME_TAKEN');
    const noTown = await admin
      .post('/api/users')
      .send({ username: 'wang', displayName: 'x', role: 'town_official' })
      .expect(400);
    assert.equal(noTown.body.error, 'TOWNS_INVALID');
    const unknownTown = await admin
      .post('/api/users')
      .send({ username: 'wang', displayName: 'x', role: 'town_official', towns: ['611026999'] })
      .expect(400);
    assert.match(unknownTown.body.message, /611026999/);
    const countyWithTowns = await admin
      .post('/api/users')
      .send({ username: 'wang', displayName: 'x', role: 'operator', towns: ['611026100'] })
      .expect(400);
    assert.equal(countyWithTowns.body.error, 'TOWNS_INVALID');
    await admin
      .post('/api/users')
      .send({ username: '-bad', displayName: 'x', role: 'viewer' })
      .expect(400);

    // A town official signs in and acts for their towns only.
    const b = new Browser(s.url);
    assert.equal((await b.signIn('li.ming', made.body.oneTimePassword)).status, 200);
    await b.call('post', '/api/me/password', {
      currentPassword: made.body.oneTimePassword,
      newPassword: 'town official password',
    });
    const session = await b.call('get', '/api/session');
    assert.deepEqual(session.body.user.towns, ['611026100']);
    assert.equal(session.body.user.phone, '13800000001');

    // Their token is a town official's, never more.
    const viewerToken = await admin
      .post('/api/tokens')
      .send({ name: 'x', role: 'viewer', ownerUserId: made.body.id })
      .expect(400);
    assert.equal(viewerToken.body.error, 'TOKEN_OWNER_INVALID');
    await admin
      .post('/api/tokens')
      .send({ name: 'x', role: 'town_official', ownerUserId: made.body.id })
      .expect(201);
    await admin.post('/api/tokens').send({ name: 'y', role: 'town_official' }).expect(400);
  });

  it('resets a password: one-time, sessions end, must change again', async () => {
    const p = await person(s, 'operator', 'operator password 9');
    const reset = await api(s.url, s.adminToken)
      .post(`/api/users/${p.id}/reset-password`)
      .expect(200);
    assert.ok(reset.body.oneTimePassword);
    assert.equal((await p.browser.call('get', '/api/session')).status, 401);
    assert.equal((await new Browser(s.url).signIn(p.username, 'operator password 9')).status, 401);
    const b = new Browser(s.url);
    const again = await b.signIn(p.username, reset.body.oneTimePassword);
    assert.equal(again.body.user.mustChangePassword, true);
    assert.ok(
      (await auditEntries(s, 'user.password.reset')).some(
        (e) => e.subject === p.id && !JSON.stringify(e).includes(reset.body.oneTimePassword),
      ),
    );
  });

  it('ends a person’s other sessions when they change their password', async () => {
    const p = await person(s, 'viewer', 'first password 1');
    const second = new Browser(s.url);
    assert.equal((await second.signIn(p.username, 'first password 1')).status, 200);
    const done = await p.browser.call('post', '/api/me/password', {
      currentPassword: 'first password 1',
      newPassword: 'second password 2',
    });
    assert.equal(done.status, 204);
    assert.equal((await second.call('get', '/api/session')).status, 401);
    assert.equal((await p.browser.call('get', '/api/session')).status, 200, 'this one stays');
  });

  it('never demotes or disables the last enabled admin (409 LAST_ADMIN)', async () => {
    const admin = api(s.url, s.adminToken);
    const list = await admin.get('/api/users').expect(200);
    const first = list.body.items.find((u: { username: string }) => u.username === 'admin');
    const demote = await admin
      .patch(`/api/users/${first.id}`)
      .send({ role: 'operator' })
      .expect(409);
    assert.equal(demote.body.error, 'LAST_ADMIN');
    await admin.patch(`/api/users/${first.id}`).send({ disabled: true }).expect(409);
    const other = await admin
      .post('/api/users')
      .send({ username: 'second.admin', displayName: 'Second', role: 'admin' })
      .expect(201);
    await admin.patch(`/api/users/${first.id}`).send({ disabled: true }).expect(200);
    const last = await admin
      .patch(`/api/users/${other.body.id}`)
      .send({ role: 'viewer' })
      .expect(409);
    assert.equal(last.body.error, 'LAST_ADMIN');
    await admin.patch(`/api/users/${first.id}`).send({ disabled: false }).expect(200);
  });

  it('names the person and the token in audit entries', async () => {
    const member = await staffMember(s, 'operator', [], { username: 'zhao' });
    await api(s.url, member.token)
      .post('/api/towns')
      .send({ code: '611026101', name: '乙镇' })
      .expect(201);
    const byToken = (await auditEntries(s, 'POST /api/towns')).find(
      (e) => e.actorUserId === member.userId,
    );
    assert.ok(byToken, 'an entry names the person');
    assert.equal(byToken.actor, 'Test zhao');
    assert.equal(byToken.viaToken, 'zhao script');

    const p = await person(s, 'operator', 'operator password 7');
    await p.browser.call('post', '/api/towns', { code: '611026102', name: '丙镇' });
    const bySession = (await auditEntries(s, 'POST /api/towns')).find(
      (e) => e.actorUserId === p.id,
    );
    assert.equal(bySession?.viaToken, null);
    assert.equal(bySession?.actor, `Person ${p.username}`);
    const signIns = await auditEntries(s, 'session.signin');
    assert.ok(signIns.some((e) => e.actorUserId === p.id));
  });
});

describe('first-start admin account', () => {
  it('is made once, with a one-time password that is never logged nor made again', async () => {
    const dataDir = tempDir();
    const first = await startTestServer({ dataDir });
    const otp = first.server.generatedAdminPassword;
    try {
      assert.ok(otp);
      assert.ok(!first.rawLogs.join('').includes(otp));
    } finally {
      await first.close();
    }
    const second = await startTestServer({ dataDir });
    try {
      assert.equal(second.server.generatedAdminPassword, undefined);
      assert.equal((await new Browser(second.url).signIn('admin', otp!)).status, 200);
    } finally {
      await second.close();
    }
  });
});
