import assert from 'node:assert/strict';
import { request } from 'node:http';
import { describe, it, beforeAll, afterAll } from '@jest/globals';
import { api, startTestServer, TestServer, tempDir, tokenFor } from './support/server.js';

type Route = { method: string; path: string };

/** Every /api route, read from the OpenAPI document, with sample path parameters filled in. */
async function apiRoutes(url: string): Promise<Route[]> {
  const doc = (await api(url).get('/api/docs-json').expect(200)).body as {
    paths: Record<string, Record<string, unknown>>;
  };
  const samples: Record<string, string> = {
    code: '611026100201',
    id: '00000000-0000-4000-8000-000000000000',
  };
  return Object.entries(doc.paths)
    .filter(([path]) => path.startsWith('/api/'))
    .flatMap(([path, ops]) =>
      Object.keys(ops).map((method) => ({
        method,
        path: path
          .replace('/api/towns/{code}', '/api/towns/611026100')
          .replace(/\{(\w+)\}/g, (_, name: string) => samples[name] ?? 'x'),
      })),
    );
}

/**
 * The status of a GET, read from the response head; the body is not awaited, so a stream
 * (GET /api/events never ends) answers like any other route.
 */
function getStatus(url: string, path: string, token: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(new URL(path, url), { headers: { authorization: `Bearer ${token}` } });
    req.on('response', (res) => {
      resolve(res.statusCode ?? 0);
      res.destroy();
    });
    req.on('error', reject);
    req.end();
  });
}

function call(url: string, route: Route, token?: string) {
  const client = api(url, token) as unknown as Record<
    string,
    (p: string) => ReturnType<ReturnType<typeof api>['get']>
  >;
  return client[route.method](route.path);
}

describe('operator authentication', () => {
  let s: TestServer;
  let routes: Route[];
  beforeAll(async () => {
    // Many deliberate wrong-token calls below: lift the per-address limit (tested on its own further down).
    s = await startTestServer({ env: { AUTH_FAIL_LIMIT: '100000' } });
    routes = await apiRoutes(s.url);
  });
  afterAll(() => s.close());

  it('knows a healthy number of /api routes to check', () => {
    assert.ok(routes.length >= 20, `found ${routes.length}`);
  });

  it('refuses every /api route without a token, or with a wrong one, with the same 401', async () => {
    // Signing in is the one /api route that takes neither: it is how a person gets a session.
    const signIn = routes.filter((r) => r.method === 'post' && r.path === '/api/session');
    assert.equal(signIn.length, 1, 'POST /api/session exists');
    for (const route of routes.filter((r) => !signIn.includes(r))) {
      const none = await call(s.url, route);
      const wrong = await call(s.url, route, 'dlb_not-a-real-token-000000000000000000000000');
      for (const res of [none, wrong]) {
        assert.equal(res.status, 401, `${route.method} ${route.path}`);
        assert.equal(res.body.error, 'UNAUTHORIZED');
        assert.equal(res.headers['www-authenticate'], 'Bearer');
      }
      assert.equal(none.body.message, wrong.body.message, 'the answer does not say which');
    }
  });

  it('lets viewers read and nothing else (403)', async () => {
    const viewer = await tokenFor(s, 'viewer');
    // A person's own session and password are theirs whatever the role; a token has neither.
    const own = (r: Route) => r.path === '/api/session' || r.path === '/api/me/password';
    for (const route of routes.filter((r) => r.method !== 'get')) {
      const res = await call(s.url, route, viewer);
      if (own(route)) {
        // Sign-in validates its body (400); the rest need a session, which a token is not.
        assert.ok([400, 403].includes(res.status), `${route.method} ${route.path}`);
        continue;
      }
      assert.equal(res.status, 403, `${route.method} ${route.path}`);
      assert.equal(res.body.error, 'FORBIDDEN');
    }
    const adminOnly = (path: string) =>
      path.startsWith('/api/tokens') ||
      path.startsWith('/api/audit') ||
      path.startsWith('/api/users') ||
      // Senders' certificates, feed URLs (which often carry an access key) and the packages
      // exchanged with the superior platform are for admins.
      path.startsWith('/api/alert-senders') ||
      path.startsWith('/api/alert-feeds') ||
      path.startsWith('/api/superior/packages');
    // A provisioning bundle is what an installer puts into a device: operators only.
    const operatorRead = (path: string) => path.endsWith('/provisioning');
    for (const route of routes.filter((r) => r.method === 'get')) {
      const status = await getStatus(s.url, route.path, viewer);
      // 400: a read whose query needs parameters (schedule preview); the role was accepted.
      const allowed =
        adminOnly(route.path) || operatorRead(route.path) || route.path === '/api/session'
          ? [403]
          : [200, 400, 404];
      assert.ok(allowed.includes(status), `${route.path} gave ${status}`);
    }
  });

  it('keeps token and staff management and the audit log to admins (operators get 403)', async () => {
    const operator = await tokenFor(s, 'operator');
    for (const route of routes.filter(
      (r) =>
        r.path.startsWith('/api/tokens') ||
        r.path.startsWith('/api/audit') ||
        r.path.startsWith('/api/users'),
    )) {
      assert.equal(
        (await call(s.url, route, operator)).status,
        403,
        `${route.method} ${route.path}`,
      );
    }
    await api(s.url, operator)
      .post('/api/towns')
      .send({ code: '611026999', name: '操作员镇' })
      .expect(201);
  });

  it('shows a new token once; lists show only its prefix; revoking it locks it out', async () => {
    const admin = api(s.url, s.adminToken);
    const created = await admin
      .post('/api/tokens')
      .send({ name: 'duty desk', role: 'operator' })
      .expect(201);
    const token = created.body.token as string;
    assert.match(token, /^dlb_[A-Za-z0-9_-]{43}$/);
    assert.equal(created.body.tokenPrefix, token.slice(0, 12));

    const me = await api(s.url, token).get('/api/me').expect(200);
    assert.deepEqual(me.body, {
      credentialId: created.body.id,
      via: 'token',
      name: 'duty desk',
      role: 'operator',
      userId: null,
      username: null,
      phone: null,
      tokenName: 'duty desk',
      towns: null,
    });
    assert.equal(created.body.ownerUserId, null);
    assert.equal(created.body.ownerName, null);

    const list = await admin.get('/api/tokens').expect(200);
    assert.ok(!list.text.includes(token), 'the token is never listed');
    assert.ok(!list.text.includes('tokenHash') && !list.text.includes('token_hash'));
    assert.ok(list.body.items.some((t: { id: string }) => t.id === created.body.id));

    const revoked = await admin.delete(`/api/tokens/${created.body.id}`).expect(200);
    assert.ok(revoked.body.revokedAt);
    await api(s.url, token).get('/api/me').expect(401);
    const active = await admin.get('/api/tokens').expect(200);
    assert.ok(
      !active.body.items.some((t: { id: string }) => t.id === created.body.id),
      'revoked tokens are hidden by default',
    );
    const all = await admin.get('/api/tokens?includeRevoked=true').expect(200);
    assert.ok(all.body.items.some((t: { id: string }) => t.id === created.body.id));
  });

  it('validates token requests', async () => {
    const admin = api(s.url, s.adminToken);
    const bad = await admin.post('/api/tokens').send({ name: '', role: 'root' }).expect(400);
    assert.deepEqual(bad.body.details.map((d: { field: string }) => d.field).sort(), [
      'name',
      'role',
    ]);
    await admin.delete('/api/tokens/not-a-uuid').expect(400);
    await admin.delete('/api/tokens/00000000-0000-4000-8000-000000000000').expect(404);
  });
});

describe('failed token attempts', () => {
  it('are limited per address (429 with Retry-After), and never keep out a valid token from that address', async () => {
    const s = await startTestServer({ env: { AUTH_FAIL_LIMIT: '3', AUTH_FAIL_WINDOW_S: '60' } });
    try {
      const operator = await tokenFor(s, 'operator');
      await api(s.url).get('/api/villages').expect(401); // no token: not counted as a guess
      for (let i = 0; i < 3; i++)
        await api(s.url, `dlb_guess${i}xxxxxxxxxxxxxxxxxxxx`).get('/api/villages').expect(401);
      const blocked = await api(s.url, 'dlb_guess-again-xxxxxxxxxxxxxxxx')
        .get('/api/villages')
        .expect(429);
      assert.equal(blocked.body.error, 'TOO_MANY_FAILED_ATTEMPTS');
      assert.ok(Number(blocked.headers['retry-after']) > 0);
      // The station's office shares the address: the admin and the operators keep working.
      await api(s.url, s.adminToken).get('/api/villages').expect(200);
      await api(s.url, operator)
        .post('/api/towns')
        .send({ code: '611026998', name: '同址镇' })
        .expect(201);
      await api(s.url, 'dlb_and-another-guess-xxxxxxxxxx').get('/api/villages').expect(429);
      await api(s.url).get('/health').expect(200);
    } finally {
      await s.close();
    }
  });

  const guessFrom = (url: string, forwardedFor: string, i: number) =>
    api(url, `dlb_guess${i}xxxxxxxxxxxxxxxxxxxx`)
      .get('/api/villages')
      .set('X-Forwarded-For', forwardedFor);

  for (const trustProxy of ['1', '127.0.0.1']) {
    it(`behind a proxy (TRUST_PROXY=${trustProxy}) count the address the proxy saw, not one the client wrote`, async () => {
      const s = await startTestServer({
        env: { AUTH_FAIL_LIMIT: '3', AUTH_FAIL_WINDOW_S: '60', TRUST_PROXY: trustProxy },
      });
      try {
        // This test is the proxy (127.0.0.1): it appends the address it saw, 203.0.113.7, to
        // whatever the client wrote, a new made-up address each time.
        for (let i = 0; i < 3; i++)
          await guessFrom(s.url, `198.51.100.${i}, 203.0.113.7`, i).expect(401);
        const blocked = await guessFrom(s.url, '198.51.100.99, 203.0.113.7', 9).expect(429);
        assert.equal(blocked.body.error, 'TOO_MANY_FAILED_ATTEMPTS');
        // Nor can a client pin its guesses on someone else: another client behind the proxy.
        await guessFrom(s.url, '203.0.113.8', 10).expect(401);
        const admin = await api(s.url, s.adminToken)
          .get('/api/villages')
          .set('X-Forwarded-For', '203.0.113.7');
        assert.equal(admin.status, 200);
      } finally {
        await s.close();
      }
    });
  }
});

describe('bootstrap admin token', () => {
  it('is generated once on first start without ADMIN_TOKEN, works, and is never logged', async () => {
    const dataDir = tempDir();
    const first = await startTestServer({ dataDir, env: { ADMIN_TOKEN: '' } });
    let token: string;
    try {
      token = first.server.generatedAdminToken!;
      assert.match(token, /^dlb_/);
      const me = await api(first.url, token).get('/api/me').expect(200);
      assert.equal(me.body.role, 'admin');
      assert.ok(!first.rawLogs.join('').includes(token), 'the token is not in the logs');
    } finally {
      await first.close();
    }
    const second = await startTestServer({ dataDir, env: { ADMIN_TOKEN: '' } });
    try {
      assert.equal(second.server.generatedAdminToken, undefined, 'not generated again');
      await api(second.url, token).get('/api/me').expect(200);
    } finally {
      await second.close();
    }
  });

  it('takes ADMIN_TOKEN from the environment', async () => {
    const s = await startTestServer({ adminToken: 'env-admin-token-0123456789abcdef' });
    try {
      assert.equal(s.server.generatedAdminToken, undefined);
      const me = await api(s.url, 'env-admin-token-0123456789abcdef').get('/api/me').expect(200);
      assert.equal(me.body.role, 'admin');
    } finally {
      await s.close();
    }
  });
});
