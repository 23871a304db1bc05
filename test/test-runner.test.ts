import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from '@jest/globals';
import { ROOT } from './support/cli.js';
import { tempDir } from './support/server.js';

interface Run {
  code: number;
  out: string;
  ms: number;
}

function run(args: string[], env: Record<string, string> = {}): Promise<Run> {
  const started = Date.now();
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      args,
      { cwd: ROOT, env: { ...process.env, ...env }, timeout: 300_000 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
        resolve({ code, out: stdout + stderr, ms: Date.now() - started });
      },
    );
  });
}

/** Whether a process runs: a killed one whose parent died stays a zombie until init reaps it. */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

describe('the test runner (Jest with test/jest/runner.mjs)', () => {
  it('fails a hung file and a file that leaves a handle open by name, kills what they started, and runs the rest on Node’s own realm', async () => {
    const pidFile = join(tempDir(), 'sleep.pid');
    const config = {
      rootDir: join(ROOT, 'test/jest/fixtures'),
      testMatch: ['<rootDir>/*.fixture.mjs'],
      runner: [join(ROOT, 'test/jest/runner.mjs'), { fileTimeoutMs: 10_000, exitGraceMs: 3_000 }],
      transform: {},
      verbose: true,
      reporters: ['default', join(ROOT, 'test/jest/closing-line.mjs')],
    };
    const r = await run(
      [join(ROOT, 'node_modules/jest/bin/jest.js'), '--config', JSON.stringify(config)],
      { FIXTURE_PID_FILE: pidFile },
    );
    assert.equal(r.code, 1, r.out);
    assert.match(
      r.out,
      /hangs\.fixture\.mjs: did not finish within 10 s \(TEST_TIMEOUT_MS\); killed/,
    );
    assert.match(r.out, /Still running: beforeAll hook of the file/);
    assert.match(
      r.out,
      /leaks\.fixture\.mjs: its tests ended but its process was still running 3 s later/,
    );
    // No vm context: an fs error is an Error here and a Node array deep-equals a literal.
    assert.match(r.out, /✓ sees Node errors and arrays as its own/);
    assert.match(r.out, /✕ fails with the assertion message/);
    assert.match(r.out, /one is not two/);
    // A file's own output is shown with it.
    assert.match(r.out, /passes\.fixture\.mjs printed:\nrealm checked/);
    assert.match(r.out, /^jest: 1 passed, 3 failed$/m);
    // Killed at its limit, not left to hold the run until the hook's own 10 minutes.
    assert.ok(r.ms < 300_000, `the run took ${r.ms} ms`);
    const sleeper = Number(readFileSync(pidFile, 'utf8'));
    assert.equal(alive(sleeper), false, 'the hung file’s child process was killed with it');
  });

  it('`npm test -- words` runs the files whose path contains a word, taken literally', async () => {
    const r = await run([
      join(ROOT, 'scripts/test.mjs'),
      'cron.spec',
      'csv-encoding',
      '--listTests',
    ]);
    assert.equal(r.code, 0, r.out);
    const files = r.out
      .split('\n')
      .filter((l) => l.endsWith('.js'))
      .map((l) => l.slice(ROOT.length))
      .sort();
    assert.deepEqual(files, [
      'dist/src/common/csv-encoding.spec.js',
      'dist/src/schedules/cron.spec.js',
    ]);
    // Unescaped, "cron.spe." would match cron.spec.js as a regular expression.
    const none = await run([join(ROOT, 'scripts/test.mjs'), 'cron.spe.', '--listTests']);
    assert.doesNotMatch(none.out, /\.js$/m, 'a dot in a word is a dot, not any character');
  });
});
