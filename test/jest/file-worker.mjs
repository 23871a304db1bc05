// One test file in its own Node process, as `node --test` did: Jest's own test engine (jest-circus:
// hooks, timeouts, expect, the result format its reporters read) on the real global object, with no
// vm context around the file. So the code under test shares this realm with Node itself (an fs
// error is `instanceof Error`, `assert.deepEqual` accepts an array from `readdirSync`), `process` is
// the real one (its 'exit' handlers run, children see `process.env`), and ESM loads natively.
import { createRequire, register } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';

const require = createRequire(import.meta.url);
// Not in jest-circus's export map: Jest's own runner loads it the same way, by file.
const adapter = require(join(dirname(require.resolve('jest-circus')), 'jestAdapterInit.js'));
const GLOBALS = Symbol.for('dalaba.jest.globals');

// `import { it } from '@jest/globals'` resolves to a module that hands out this file's globals.
register('./globals-hooks.mjs', import.meta.url);

function send(message) {
  return new Promise((resolve) => process.send(message, () => resolve()));
}

async function runFile({ testPath, config, globalConfig }) {
  const { globals } = await adapter.initialize({
    config,
    environment: { global: globalThis },
    globalConfig,
    localRequire: require,
    parentProcess: process,
    // Jest's runtime counts time spent in test code for its unhandled-rejection bookkeeping.
    runtime: { enterTestCode() {}, leaveTestCode() {} },
    sendMessageToJest: (event, args) => send({ type: 'event', event, args }),
    setGlobalsForRuntime: (g) => (globalThis[GLOBALS] = g),
    testPath,
  });
  void globals;
  // Tells the parent what is running now, so a file killed at its time limit names the culprit.
  globalThis[Symbol.for('EVENT_HANDLERS')].push((event) => {
    if (event.name === 'hook_start')
      void send({ type: 'running', what: `${event.hook.type} hook of ${path(event.hook.parent)}` });
    else if (event.name === 'test_fn_start') void send({ type: 'running', what: path(event.test) });
    else if (/^(hook|test_fn)_(success|failure)$/.test(event.name)) void send({ type: 'running' });
  });
  for (const path of config.setupFilesAfterEnv) await import(pathToFileURL(path).href);
  await import(pathToFileURL(testPath).href);
  return adapter.runAndTransformResultsToJestFormat({ config, globalConfig, testPath });
}

function path(block) {
  const names = [];
  for (let b = block; b && b.parent; b = b.parent) names.unshift(b.name);
  return names.length ? `"${names.join(' › ')}"` : 'the file';
}

process.once('message', async (job) => {
  try {
    const result = await runFile(job);
    await send({ type: 'result', result: JSON.parse(JSON.stringify(result)) });
  } catch (err) {
    await send({
      type: 'error',
      error: { message: String(err?.message ?? err), stack: String(err?.stack ?? err) },
    });
  }
  // The file is done; the process must now end by itself. What keeps it alive (a server, socket,
  // timer or child process left open) is a leak the parent reports by this file's name.
  process.disconnect();
});
