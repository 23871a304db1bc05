#!/usr/bin/env node
// Runs the compiled tests with Jest (jest.config.mjs). `npm test -- villages csv` runs only the
// files whose path contains one of the words; arguments starting with `-` go to Jest as they are.
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';

const root = new URL('..', import.meta.url).pathname;
const jest = createRequire(import.meta.url).resolve('jest/bin/jest');

const args = process.argv.slice(2);
const words = args.filter((a) => !a.startsWith('-'));
const flags = args.filter((a) => a.startsWith('-'));
// Jest takes path patterns as regular expressions: a word matches only itself.
const patterns = words.map((w) => w.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
// Integration tests mostly wait on I/O (SQLite, HTTP, child processes): run a few files at once.
const workers = process.env.TEST_CONCURRENCY ?? '3';

const child = spawn(process.execPath, [jest, `--maxWorkers=${workers}`, ...flags, ...patterns], {
  cwd: root,
  stdio: 'inherit',
  env: { ...process.env, NODE_ENV: 'test' },
});
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
