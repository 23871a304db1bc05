// Jest runs the compiled tests (`npm test` builds first): unit specs next to the code and the
// integration/end-to-end tests, each file in its own process (test/jest/runner.mjs).
const limitMs = Number(process.env.TEST_TIMEOUT_MS ?? 15 * 60_000);

export default {
  rootDir: '.',
  roots: ['<rootDir>/dist'],
  testMatch: ['<rootDir>/dist/src/**/*.spec.js', '<rootDir>/dist/test/**/*.test.js'],
  // Each file in its own process; one that overruns the limit fails by name and is killed.
  runner: ['<rootDir>/test/jest/runner.mjs', { fileTimeoutMs: limitMs }],
  testEnvironment: 'node',
  transform: {},
  // A test or hook that runs longer fails by name; so does a whole file (the runner's limit).
  testTimeout: limitMs,
  verbose: true,
  reporters: ['default', '<rootDir>/test/jest/closing-line.mjs'],
};
