import assert from 'node:assert/strict';
import { describe, it } from '@jest/globals';
import { ESLint } from 'eslint';
import { ROOT } from './support/cli.js';

async function boundaryErrors(filePath: string, code: string): Promise<string[]> {
  const eslint = new ESLint({ cwd: ROOT });
  const [result] = await eslint.lintText(code, { filePath: `${ROOT}/${filePath}` });
  return result.messages
    .filter((m) => m.ruleId === 'dalaba/import-boundaries')
    .map((m) => m.message);
}

describe('import boundaries (npm run lint)', () => {
  it('keeps the contract free of server imports', async () => {
    const errors = await boundaryErrors(
      'src/contract/topics.ts',
      "import { Clock } from '../common/clock.js';\nexport const c = Clock;\n",
    );
    assert.equal(errors.length, 1);
    assert.match(errors[0], /contract folder imports nothing of the server/);
    assert.deepEqual(
      await boundaryErrors('src/contract/topics.ts', "export * from './device.js';\n"),
      [],
    );
  });

  it('keeps src/ from importing the device agent or tests', async () => {
    const agent = await boundaryErrors(
      'src/devices/x.ts',
      "import { a } from '../../devices/agent.js';\nexport const b = a;\n",
    );
    const tests = await boundaryErrors(
      'src/villages/x.ts',
      "export { x } from '../../test/support/server.js';\n",
    );
    assert.equal(agent.length, 1);
    assert.equal(tests.length, 1);
    assert.deepEqual(
      await boundaryErrors('src/devices/x.ts', "export * from '../villages/admin-codes.js';\n"),
      [],
    );
  });

  it('lets the device agent use only the contract from src/', async () => {
    assert.deepEqual(
      await boundaryErrors('devices/agent.ts', "export * from '../src/contract/device.js';\n"),
      [],
    );
    const server = await boundaryErrors(
      'devices/agent.ts',
      "export * from '../src/devices/devices.service.js';\n",
    );
    assert.equal(server.length, 1);
  });
});

describe('import boundaries: the fleet reads the server settings', () => {
  it('lets devices/main.ts, and no other agent file, import src/config/', async () => {
    const line = "export * from '../src/config/app-config.js';\n";
    assert.deepEqual(await boundaryErrors('devices/main.ts', line), []);
    assert.equal((await boundaryErrors('devices/agent.ts', line)).length, 1);
    assert.equal(
      (await boundaryErrors('src/contract/topics.ts', "export * from '../config/app-config.js';\n"))
        .length,
      1,
    );
  });
});
