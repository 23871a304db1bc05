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

  it('lets one address queue at most four (429 TOO_MANY_SIGN_INS), others still queue', async () => {
    const hasher = new PasswordHasher();
    const running = [await hasher.acquire(), await hasher.acquire()];
    const queued = Array.from({ length: 4 }, () => hasher.acquire({ address: '10.0.0.9' }));
    await assert.rejects(hasher.acquire({ address: '10.0.0.9' }), (err: unknown) => {
      assert.ok(err instanceof DomainError);
      assert.equal(err.kind, 'rate_limited');
      assert.equal(err.code, 'TOO_MANY_SIGN_INS');
      return true;
    });
    const other = hasher.acquire({ address: '10.0.0.10' });
    // Each releases its slot when served, so the queue drains behind the two running.
    const served = [...queued, other].map((claim) => claim.then((slot) => slot.release()));
    for (const slot of running) slot.release();
    await Promise.all(served);
    // Its places came back as its claims were served.
    (await hasher.acquire({ address: '10.0.0.9' })).release();
  });

  it('queues a trusted claim past a full queue and serves it first', async () => {
    const hasher = new PasswordHasher();
    const running = [await hasher.acquire(), await hasher.acquire()];
    const served: string[] = [];
    const flood = Array.from({ length: 32 }, (_, i) =>
      hasher.acquire({ address: `10.1.0.${i}` }).then((slot) => {
        served.push('flood');
        slot.release();
      }),
    );
    await assert.rejects(hasher.acquire({ address: '10.2.0.1' }), { code: 'LOGIN_BUSY' });
    const trusted = hasher.acquire({ address: '10.1.0.0', trusted: true }).then((slot) => {
      served.push('trusted');
      slot.release();
    });
    running[0]!.release();
    await trusted;
    assert.equal(served[0], 'trusted', 'ahead of the 32 that queued before it');
    running[1]!.release();
    await Promise.all(flood);
    assert.equal(served.length, 33);
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
