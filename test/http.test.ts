import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, it, beforeAll, afterAll } from '@jest/globals';
import { ROOT } from './support/cli.js';
import { api, startTestServer, tempDir, TestServer } from './support/server.js';

interface Operation {
  summary?: string;
  responses: Record<string, unknown>;
}
interface OpenApi {
  paths: Record<string, Record<string, Operation>>;
  components: {
    schemas: Record<
      string,
      {
        properties?: Record<string, { anyOf?: { $ref?: string; pattern?: string }[] }>;
        type?: string;
        enum?: string[];
      }
    >;
  };
}

/** Every .ts file under `dir`, specs left out. */
function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory()
      ? sourceFiles(join(dir, e.name))
      : e.name.endsWith('.ts') && !e.name.endsWith('.spec.ts')
        ? [join(dir, e.name)]
        : [],
  );
}

/**
 * The error codes src/ can answer with, read from its source: the code of every `new
 * DomainError…(kind, 'CODE'` and `new AudioRejected('CODE'`, `WHAT_NOT_FOUND` for every `new
 * NotFoundError('what'`, the codes DomainError subclasses pass to `super`, and every code the
 * exception filter names for errors that are not DomainErrors.
 */
function thrownCodes(): { codes: Map<string, string>; unread: string[] } {
  const codes = new Map<string, string>();
  const unread: string[] = [];
  for (const file of sourceFiles(join(ROOT, 'src'))) {
    const text = readFileSync(file, 'utf8');
    const where = file.slice(ROOT.length);
    const found = (code: string) => codes.set(code, codes.get(code) ?? where);
    for (const m of text.matchAll(/new (DomainError|AudioRejected)\b(?:<[^>(]*>)?\(([^)]*)/g)) {
      const literal = m[2].match(
        m[1] === 'DomainError' ? /^\s*'[a-z_]+',\s*'([A-Z0-9_]+)'/ : /^\s*'([A-Z0-9_]+)'/,
      );
      if (literal) found(literal[1]);
      else unread.push(`${where}: ${m[0].slice(0, 60)}`);
    }
    for (const m of text.matchAll(/new NotFoundError\(\s*'([a-z_]+)'/g))
      found(`${m[1].toUpperCase()}_NOT_FOUND`);
    for (const m of text.matchAll(/super\(\s*'[a-z_]+',\s*'([A-Z0-9_]+)'/g)) found(m[1]);
    if (where.endsWith('/error.filter.ts'))
      for (const m of text.matchAll(/'([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*)'/g)) found(m[1]);
  }
  return { codes, unread };
}

/** Every route Express actually serves, as `METHOD /path/{param}`. */
function servedRoutes(s: TestServer): string[] {
  const express = s.server.app.getHttpAdapter().getInstance() as {
    router: { stack: { route?: { path: string; methods: Record<string, boolean> } }[] };
  };
  return express.router.stack
    .filter((layer) => layer.route)
    .flatMap((layer) =>
      Object.keys(layer.route!.methods).map(
        (m) => `${m.toUpperCase()} ${layer.route!.path.replace(/:(\w+)/g, '{$1}')}`,
      ),
    );
}

describe('HTTP surface', () => {
  let s: TestServer;
  let doc: OpenApi;
  beforeAll(async () => {
    s = await startTestServer({ env: { BODY_LIMIT: '4kb' } });
    doc = (await api(s.url).get('/api/docs-json').expect(200)).body;
  });
  afterAll(() => s.close());

  it('documents every route it serves, each with a summary, a success and its auth errors', () => {
    const documented = new Set(
      Object.entries(doc.paths).flatMap(([path, ops]) =>
        Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`),
      ),
    );
    const served = servedRoutes(s).filter(
      (r) => (r.includes(' /api/') || r.includes(' /health')) && !r.includes(' /api/docs'),
    );
    assert.ok(served.length >= 25, `served: ${served.length}`);
    for (const route of served)
      assert.ok(documented.has(route), `${route} is in the OpenAPI document`);
    for (const [path, ops] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(ops)) {
        const where = `${method.toUpperCase()} ${path}`;
        assert.ok(op.summary, `${where} has a summary`);
        assert.ok(
          Object.keys(op.responses).some((c) => c.startsWith('2')),
          `${where} documents success`,
        );
        if (path.startsWith('/api/')) assert.ok(op.responses['401'], `${where} documents 401`);
      }
    }
  });

  it('describes every schema it references', () => {
    const text = JSON.stringify(doc);
    for (const ref of new Set(text.match(/#\/components\/schemas\/\w+/g))) {
      const name = ref.split('/').pop()!;
      const schema = doc.components.schemas[name];
      assert.ok(schema, `${name} is defined`);
      if (schema.enum) assert.ok(schema.enum.length > 0, `${name} lists its values`);
      else
        assert.ok(
          schema.properties && Object.keys(schema.properties).length > 0,
          `${name} has properties`,
        );
    }
    assert.ok(doc.components.schemas.ErrorBodyDto);
  });

  it('lists every error code thrown in src/, each feature under its own union', () => {
    const { codes, unread } = thrownCodes();
    assert.deepEqual(unread, [], 'every DomainError is built with a literal code');
    for (const code of ['VALIDATION_FAILED', 'VILLAGE_HAS_DEVICES', 'DEVICE_NOT_FOUND', 'INTERNAL'])
      assert.ok(codes.has(code), `the source scan finds ${code}`);
    assert.ok(codes.size >= 60, `codes found in src/: ${codes.size}`);

    const anyOf = doc.components.schemas.ErrorBodyDto.properties!.error.anyOf!;
    const unions = anyOf.filter((r) => r.$ref).map((r) => r.$ref!.split('/').pop()!);
    assert.ok(
      anyOf.some((r) => r.pattern && new RegExp(r.pattern).test('HTTP_413')),
      'the error body may be HTTP_<status>, which the filter answers for statuses no feature names',
    );
    for (const name of ['BroadcastErrorCode', 'VillageErrorCode', 'DeviceErrorCode'])
      assert.ok(unions.includes(name), `the error body's code may be a ${name}`);
    const documented = new Set(unions.flatMap((name) => doc.components.schemas[name].enum ?? []));
    const missing = [...codes].filter(([code]) => !documented.has(code));
    assert.deepEqual(
      missing.map(([code, where]) => `${code} (${where})`),
      [],
      'every code thrown in src/ is in the OpenAPI document',
    );
  });

  it('serves the OpenAPI UI and liveness/readiness without a token', async () => {
    const ui = await api(s.url).get('/api/docs').expect(200);
    assert.match(ui.text, /swagger/i);
    assert.deepEqual(Object.keys((await api(s.url).get('/health').expect(200)).body).sort(), [
      'status',
      'uptimeS',
    ]);
    const ready = await api(s.url).get('/health/ready').expect(200);
    assert.equal(ready.body.status, 'ready');
    assert.equal(ready.body.checks.database.ok, true);
  });

  it('sets security headers', async () => {
    const res = await api(s.url).get('/health');
    assert.equal(res.headers['x-content-type-options'], 'nosniff');
    assert.match(res.headers['content-security-policy'], /default-src 'self'/);
    assert.doesNotMatch(res.headers['content-security-policy'], /upgrade-insecure-requests/);
    assert.equal(res.headers['x-powered-by'], undefined);
  });

  it('gives every request an id, echoes a sane one from the caller, and puts it in errors and logs', async () => {
    const mine = await api(s.url).get('/api/villages').set('X-Request-Id', 'desk-42').expect(401);
    assert.equal(mine.headers['x-request-id'], 'desk-42');
    assert.equal(mine.body.requestId, 'desk-42');
    const insane = await api(s.url).get('/health').set('X-Request-Id', 'a b\tc');
    assert.match(insane.headers['x-request-id'], /^[0-9a-f-]{36}$/);
    const line = s.logs().find((l) => (l.req as { id?: string } | undefined)?.id === 'desk-42');
    assert.ok(line, 'the request log line carries the id');
    assert.equal((line.res as { statusCode: number }).statusCode, 401);
  });

  it('tags the log lines a service writes while serving a request with that request id', async () => {
    await api(s.url, s.adminToken)
      .post('/api/towns')
      .set('X-Request-Id', 'town-create-7')
      .send({ code: '611026777', name: '日志镇' })
      .expect(201);
    const line = s.logs().find((l) => l.context === 'villages' && l.reqId === 'town-create-7');
    assert.ok(line, 'the service log line carries reqId');
    assert.match(line.msg, /town=611026777 created/);
  });

  it('never logs the Authorization header or the token', async () => {
    await api(s.url, s.adminToken).get('/api/villages?limit=1').expect(200);
    const all = s.rawLogs.join('');
    assert.ok(!all.includes(s.adminToken));
    assert.ok(!/authorization/i.test(all));
  });

  it('refuses malformed, oversized and non-object JSON bodies with clear codes', async () => {
    const client = api(s.url, s.adminToken);
    const malformed = await client
      .post('/api/towns')
      .set('Content-Type', 'application/json')
      .send('{"code":')
      .expect(400);
    assert.equal(malformed.body.error, 'MALFORMED_JSON');
    assert.ok(malformed.body.requestId, 'even a body refused by the parser carries the request id');
    const huge = await client
      .post('/api/towns')
      .send({ code: '611026100', name: 'x'.repeat(5000) })
      .expect(413);
    assert.equal(huge.body.error, 'BODY_TOO_LARGE');
    assert.match(huge.body.message, /4096 bytes/);
    for (const [body, type] of [
      ['[1,2]', 'application/json'],
      ['hello', 'text/plain'],
      ['<town/>', 'application/xml'],
    ]) {
      const res = await client.post('/api/towns').set('Content-Type', type).send(body).expect(400);
      assert.equal(res.body.error, 'BODY_NOT_OBJECT', `${type}: ${body}`);
    }
    const none = await client.post('/api/towns').expect(400);
    assert.equal(none.body.error, 'BODY_NOT_OBJECT');
  });

  it('answers unknown paths with a JSON 404', async () => {
    const res = await api(s.url).get('/no/such/page').expect(404);
    assert.equal(res.body.error, 'NOT_FOUND');
  });

  it('serves a landing page at /', async () => {
    const res = await api(s.url).get('/').expect(200);
    assert.match(res.headers['content-type'], /text\/html/);
    assert.match(res.text, /大喇叭/);
  });

  it('serves every module of the dashboard as JavaScript, revalidated on each load', async () => {
    // The dashboard is ES modules with no build step: a browser refuses a module served with any
    // other type, and a module kept from before an upgrade would mix old and new code.
    const client = api(s.url);
    const index = await client.get('/').expect(200);
    const entry = /<script type="module" src="([^"]+)"/.exec(index.text)?.[1];
    assert.ok(entry, 'index.html loads a module');
    const queue = [entry];
    const seen = new Set<string>();
    while (queue.length) {
      const path = queue.shift()!;
      if (seen.has(path)) continue;
      seen.add(path);
      const res = await client.get(path).buffer(true).expect(200);
      assert.match(res.headers['content-type'], /^(text|application)\/javascript\b/, path);
      assert.match(res.headers['cache-control'], /\bmax-age=0\b/, path);
      assert.ok(res.headers.etag, `${path} can be revalidated`);
      const text = res.text ?? String(res.body);
      for (const m of text.matchAll(/^(?:import|export)\s[^;]*?\sfrom\s+'(\.[^']+)'/gm))
        queue.push(new URL(m[1], `http://dashboard${path}`).pathname);
    }
    for (const path of ['/app.js', '/i18n.js', '/lib/contract.js', '/views/board.js'])
      assert.ok(seen.has(path), `${path} is in the module graph`);
  });

  it('never looks up API, media, health or metrics paths among the dashboard files', async () => {
    // A dashboard directory holding files at those paths: the controllers must answer, untouched.
    const dir = tempDir();
    for (const path of ['index.html', 'health', 'metrics', 'api/docs-json', 'media/x.mp3']) {
      mkdirSync(dirname(join(dir, path)), { recursive: true });
      writeFileSync(join(dir, path), `decoy ${path}`);
    }
    const t = await startTestServer({ configure: (c) => (c.http.dashboardDir = dir) });
    try {
      const client = api(t.url);
      assert.equal((await client.get('/').expect(200)).text, 'decoy index.html');
      assert.doesNotMatch((await client.get('/health').expect(200)).text, /decoy/);
      assert.doesNotMatch((await client.get('/metrics').expect(200)).text, /decoy/);
      assert.equal(
        (await client.get('/api/docs-json').expect(200)).body.openapi?.slice(0, 2),
        '3.',
      );
      assert.equal((await client.get('/media/x.mp3').expect(403)).body.error, 'FORBIDDEN');
    } finally {
      await t.close();
    }
  });
});
