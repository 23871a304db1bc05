#!/usr/bin/env node
// Runs the compiled tests with Node's own test runner: unit specs next to the code
// (dist/src/**/*.spec.js) and integration/end-to-end tests (dist/test/**/*.test.js).
// `npm test -- villages csv` runs only files whose path contains one of the words.
import { spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = new URL('..', import.meta.url).pathname;

function find(dir, suffix) {
  let out = [];
  let entries;
  try {
    entries = readdirSync(dir);
  } catch {
    return out;
  }
  for (const name of entries) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out = out.concat(find(path, suffix));
    else if (name.endsWith(suffix)) out.push(path);
  }
  return out;
}

const filters = process.argv.slice(2);
const files = [
  ...find(join(root, 'dist/src'), '.spec.js'),
  ...find(join(root, 'dist/test'), '.test.js'),
]
  .map((f) => relative(root, f))
  .filter((f) => filters.length === 0 || filters.some((w) => f.includes(w)))
  .sort();

if (files.length === 0) {
  console.error(`No test files match ${filters.join(', ') || '(all)'}; did the build run?`);
  process.exit(1);
}

// Integration tests mostly wait on I/O (SQLite, HTTP, child processes): run a few files at once.
const concurrency = process.env.TEST_CONCURRENCY ?? '3';
// A file that never ends (an unclosed handle, a stream awaited to its end) fails by name after this
// long instead of holding the whole run until CI's own limit. Node applies it to each file and each test.
const timeoutMs = process.env.TEST_TIMEOUT_MS ?? String(15 * 60_000);
const child = spawn(
  process.execPath,
  [
    '--test',
    `--test-concurrency=${concurrency}`,
    `--test-timeout=${timeoutMs}`,
    '--test-reporter=spec',
    ...files,
  ],
  { cwd: root, stdio: 'inherit', env: { ...process.env, NODE_ENV: 'test' } },
);
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
