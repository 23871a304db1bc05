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

describe('import boundaries: src/ folders are layered', () => {
  it('refuses a lower layer importing a higher one, naming both folders and the order', async () => {
    const errors = await boundaryErrors(
      'src/villages/x.ts',
      "import { BroadcastsService } from '../broadcasts/broadcasts.service.js';\nexport const b = BroadcastsService;\n",
    );
    assert.equal(errors.length, 1);
    assert.match(errors[0], /src\/villages\/ is below src\/broadcasts\/ and may not import it/);
    assert.match(errors[0], /villages < staff < mqtt < devices < clips < tts < broadcasts </);
    // A file the folder gains later (as a split of the dispatcher would add) is held the same.
    const later = await boundaryErrors(
      'src/broadcasts/delivery-sender.ts',
      "export * from '../coverage/coverage.service.js';\n",
    );
    assert.equal(later.length, 1);
    assert.match(later[0], /src\/broadcasts\/ is below src\/coverage\//);
    assert.equal(
      (
        await boundaryErrors(
          'src/database/x.ts',
          "export * from '../villages/village.entity.js';\n",
        )
      ).length,
      1,
    );
    assert.equal(
      (await boundaryErrors('src/mqtt/x.ts', "export * from '../devices/device-gateway.js';\n"))
        .length,
      1,
    );
  });

  it('accepts imports of lower layers, of its own folder, and from the app root', async () => {
    for (const [file, line] of [
      ['src/broadcasts/delivery-sender.ts', "export * from '../villages/villages.service.js';\n"],
      ['src/broadcasts/delivery-sender.ts', "export * from './dispatcher.js';\n"],
      ['src/devices/device-gateway.ts', "export * from '../mqtt/transport.js';\n"],
      ['src/status/x.ts', "export * from '../coverage/coverage.service.js';\n"],
      ['src/villages/dto/x.ts', "export * from '../../common/clock.js';\n"],
      ['src/entities.ts', "export * from './schedules/schedule.entity.js';\n"],
      ['src/cli/main.ts', "export * from '../app.module.js';\n"],
    ])
      assert.deepEqual(await boundaryErrors(file, line), [], `${file}: ${line}`);
  });

  it('allows within a layer only the imports it names', async () => {
    assert.deepEqual(
      await boundaryErrors('src/audit/x.ts', "export * from '../auth/auth.decorators.js';\n"),
      [],
    );
    const back = await boundaryErrors(
      'src/auth/x.ts',
      "export * from '../audit/audit.service.js';\n",
    );
    assert.equal(back.length, 1);
    assert.match(back[0], /src\/auth\/ and src\/audit\/ share a layer/);
    const sideways = await boundaryErrors(
      'src/coverage/x.ts',
      "export * from '../live/live-events.js';\n",
    );
    assert.equal(sideways.length, 1);
    assert.match(sideways[0], /src\/coverage\/ and src\/live\/ share a layer/);
    assert.equal(
      (await boundaryErrors('src/config/x.ts', "export * from '../common/clock.js';\n")).length,
      1,
    );
  });

  it('asks for a layer for a folder it does not know', async () => {
    const errors = await boundaryErrors(
      'src/villages/x.ts',
      "export * from '../gadgets/gadget.js';\n",
    );
    assert.equal(errors.length, 1);
    assert.match(errors[0], /src\/gadgets\/ has no layer/);
  });
});
