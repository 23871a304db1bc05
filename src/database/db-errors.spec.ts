import assert from 'node:assert/strict';
import { describe, it } from '@jest/globals';
import { QueryFailedError } from 'typeorm';
import { isTransientFailure } from './db-errors.js';

const pgError = (code: string, message = 'x') =>
  new QueryFailedError('UPDATE …', [], Object.assign(new Error(message), { code }));

describe('isTransientFailure', () => {
  it('runs again what lost on timing: deadlock, serialization failure, a lost connection', () => {
    assert.equal(isTransientFailure(pgError('40P01', 'deadlock detected')), true);
    assert.equal(isTransientFailure(pgError('40001')), true);
    assert.equal(isTransientFailure(pgError('57P01', 'terminating connection')), true);
    assert.equal(isTransientFailure(pgError('08006')), true);
    assert.equal(
      isTransientFailure(Object.assign(new Error('read'), { code: 'ECONNRESET' })),
      true,
    );
    assert.equal(isTransientFailure(new Error('Connection terminated unexpectedly')), true);
  });

  it('does not repeat what would fail again: constraints, bad SQL, programming errors', () => {
    assert.equal(isTransientFailure(pgError('23505', 'duplicate key')), false);
    assert.equal(isTransientFailure(pgError('23503')), false);
    assert.equal(isTransientFailure(pgError('42P01', 'relation does not exist')), false);
    assert.equal(isTransientFailure(new TypeError('x is undefined')), false);
    assert.equal(isTransientFailure(undefined), false);
  });
});
