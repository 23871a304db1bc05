import assert from 'node:assert/strict';
import { describe, it } from '@jest/globals';
import { DomainError } from '../common/domain-error.js';
import { generateOneTimePassword, PasswordHasher, passwordProblem } from './password-hasher.js';

describe('PasswordHasher', () => {
  it('stores Argon2id (19 MiB, 2 passes, 1 lane) and verifies only the right password', async () => {
    const hasher = new PasswordHasher();
    const hash = await hasher.hash('correct horse battery');
    assert.match(hash, /^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
    assert.equal(await hasher.verify(hash, 'correct horse battery'), true);
    assert.equal(await hasher.verify(hash, 'correct horse battery!'), false);
    assert.equal(await hasher.verify(null, 'anything'), false, 'no account: still a real check');
  });

  it('runs two at once, queues 32, and refuses the next with 503 LOGIN_BUSY at once', async () => {
    const hasher = new PasswordHasher();
    const accepted = Array.from({ length: 34 }, (_, i) => hasher.hash(`password ${i}`));
    await assert.rejects(hasher.hash('one too many'), (err: unknown) => {
      assert.ok(err instanceof DomainError);
      assert.equal(err.kind, 'unavailable');
      assert.equal(err.code, 'LOGIN_BUSY');
      return true;
    });
    assert.equal((await Promise.all(accepted)).length, 34, 'every queued hash completes');
    // The queue drained: a new request is taken again.
    assert.match(await hasher.hash('after the rush'), /^\$argon2id\$/);
  });
});

describe('password rules', () => {
  it('needs the minimum length, at most 200 characters, and not the username', () => {
    assert.match(passwordProblem('short', 'li', 10)!, /at least 10/);
    assert.match(passwordProblem('x'.repeat(201), 'li', 10)!, /at most 200/);
    assert.match(passwordProblem('Wang.Li.Ming', 'wang.li.ming', 10)!, /username/);
    assert.equal(passwordProblem('a fine long password', 'wang', 10), null);
    assert.equal(passwordProblem(generateOneTimePassword(10), 'admin', 10), null);
  });
});
