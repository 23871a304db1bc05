import assert from 'node:assert/strict';
import { describe, it } from '@jest/globals';
import { roleAllows } from './roles.js';

describe('roles', () => {
  it('orders viewer < town official < operator < admin', () => {
    assert.equal(roleAllows('admin', 'operator'), true);
    assert.equal(roleAllows('operator', 'operator'), true);
    assert.equal(roleAllows('operator', 'admin'), false);
    assert.equal(roleAllows('viewer', 'operator'), false);
    assert.equal(roleAllows('viewer', 'viewer'), true);
    assert.equal(roleAllows('town_official', 'viewer'), true);
    assert.equal(roleAllows('town_official', 'operator'), false);
    assert.equal(roleAllows('operator', 'town_official'), true);
  });
});
