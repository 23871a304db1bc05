import assert from 'node:assert/strict';
import { describe, it } from '@jest/globals';
import { runCli } from './support/cli.js';
import { api, startTestServer, tempDir } from './support/server.js';

describe('npm run cli -- tokens', () => {
  it('creates a token that the API accepts, lists it without the token, and revokes it', async () => {
    const dataDir = tempDir();
    const env = { DATA_DIR: dataDir, SEED_SAMPLE: 'false' };
    const created = await runCli(
      ['tokens', 'create', '--role', 'viewer', '--name', '值班 tablet', '--json'],
      env,
    );
    assert.equal(created.code, 0, created.stderr);
    const token = JSON.parse(created.stdout) as {
      id: string;
      token: string;
      role: string;
      name: string;
    };
    assert.equal(token.role, 'viewer');
    assert.equal(token.name, '值班 tablet');

    const listed = await runCli(['tokens', 'list'], env);
    assert.equal(listed.code, 0);
    assert.match(listed.stdout, new RegExp(`${token.id}\\s+viewer`));
    assert.ok(!listed.stdout.includes(token.token), 'the list never shows a token');
    assert.ok(
      !created.stderr.includes(token.token) && !listed.stderr.includes(token.token),
      'nor do the logs',
    );

    const s = await startTestServer({ dataDir });
    try {
      assert.equal((await api(s.url, token.token).get('/api/me').expect(200)).body.role, 'viewer');
      const revoked = await runCli(['tokens', 'revoke', token.id], env);
      assert.equal(revoked.code, 0, revoked.stderr);
      await api(s.url, token.token).get('/api/me').expect(401);
    } finally {
      await s.close();
    }
  });

  it('prints usage for bad commands and options, and refuses unknown roles and ids', async () => {
    const env = { DATA_DIR: tempDir() };
    const none = await runCli([], env);
    assert.equal(none.code, 2);
    assert.match(none.stdout, /Usage: npm run cli/);
    const unknown = await runCli(['tokens', 'frobnicate'], env);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /unknown command/);
    const role = await runCli(['tokens', 'create', '--role', 'root', '--name', 'x'], env);
    assert.equal(role.code, 2);
    assert.match(role.stderr, /--role must be one of viewer, town_official, operator, admin/);
    const option = await runCli(['tokens', 'list', '--colour'], env);
    assert.equal(option.code, 2);
    assert.match(option.stderr, /Unknown option '--colour'/);
    assert.match(option.stderr, /Usage: npm run cli/);
    const noValue = await runCli(['tokens', 'create', '--name', 'x', '--role'], env);
    assert.equal(noValue.code, 2);
    assert.match(noValue.stderr, /--role <value>' argument missing/);
    const missing = await runCli(['tokens', 'revoke', '00000000-0000-4000-8000-000000000000'], env);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /Token 00000000-0000-4000-8000-000000000000 does not exist/);
  });
});
