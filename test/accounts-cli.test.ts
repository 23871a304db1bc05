import assert from 'node:assert/strict';
import { describe, it } from '@jest/globals';
import { runCli } from './support/cli.js';
import { api, startTestServer, tempDir } from './support/server.js';

const signIn = (url: string, username: string, password: string) =>
  api(url).post('/api/session').send({ username, password });

describe('npm run cli -- users', () => {
  it('adds people, resets a lost password and lifts a lock, printing one-time passwords once', async () => {
    const dataDir = tempDir();
    const env = { DATA_DIR: dataDir, SEED_SAMPLE: 'false', LOGIN_FREE_FAILURES: '1' };
    const s = await startTestServer({ dataDir, env: { LOGIN_FREE_FAILURES: '1' } });
    try {
      const added = await runCli(
        ['users', 'add', '--username', 'Duty.One', '--name', '值班员', '--role', 'operator'],
        env,
      );
      assert.equal(added.code, 0, added.stderr);
      const otp = /password[^\n]*\n(\S+)/.exec(added.stdout)?.[1];
      assert.ok(otp, added.stdout);
      assert.ok(!added.stderr.includes(otp), 'never in the logs');
      assert.equal((await signIn(s.url, 'duty.one', otp)).status, 200);

      const listed = await runCli(['users', 'list'], env);
      assert.equal(listed.code, 0, listed.stderr);
      assert.match(listed.stdout, /duty\.one\s+operator\s+值班员/);
      assert.match(listed.stdout, /^admin\s+admin/m);
      assert.ok(!listed.stdout.includes(otp));

      // The first-start admin password is lost: the server's machine makes a new one.
      const reset = await runCli(['users', 'reset-password', 'admin'], env);
      assert.equal(reset.code, 0, reset.stderr);
      const fresh = /\n(\S+)\n$/.exec(reset.stdout)?.[1];
      assert.ok(fresh, reset.stdout);
      const admin = await signIn(s.url, 'admin', fresh);
      assert.equal(admin.status, 200);
      assert.equal(admin.body.user.mustChangePassword, true);
      assert.equal((await signIn(s.url, 'admin', s.server.generatedAdminPassword!)).status, 401);

      // One wrong password locks duty.one for browsers without its device cookie.
      await signIn(s.url, 'duty.one', 'wrong password 1').expect(401);
      await signIn(s.url, 'duty.one', otp).expect(429);
      const unlocked = await runCli(['users', 'unlock', 'duty.one'], env);
      assert.equal(unlocked.code, 0, unlocked.stderr);
      await signIn(s.url, 'duty.one', otp).expect(200);

      const audit = await api(s.url, s.adminToken).get('/api/audit?actor=cli').expect(200);
      const actions = audit.body.items.map((e: { action: string }) => e.action);
      for (const a of ['user.created', 'user.password.reset', 'user.unlocked'])
        assert.ok(actions.includes(a), `${a} in ${actions.join(', ')}`);

      const unknown = await runCli(['users', 'unlock', 'nobody'], env);
      assert.equal(unknown.code, 1);
      assert.match(unknown.stderr, /User nobody does not exist/);
      const badRole = await runCli(
        ['users', 'add', '--username', 'x1', '--name', 'x', '--role', 'root'],
        env,
      );
      assert.equal(badRole.code, 2);
    } finally {
      await s.close();
    }
  });
});
