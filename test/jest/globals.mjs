// What `import … from '@jest/globals'` gives a test file run by file-worker.mjs: the describe/it/hooks
// and expect that Jest's test engine set up for this file.
const globals = globalThis[Symbol.for('dalaba.jest.globals')];
if (!globals) throw new Error('@jest/globals is only available inside a test file run by Jest');

export const {
  describe,
  fdescribe,
  xdescribe,
  it,
  fit,
  xit,
  test,
  xtest,
  beforeAll,
  afterAll,
  beforeEach,
  afterEach,
  expect,
} = globals;
