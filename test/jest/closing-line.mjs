import { writeSync } from 'node:fs';

// Ends the run with one plain line, "jest: N passed, N failed", which CI reads as the verdict.
// A file that failed before or beyond its tests (a time limit, a crash, an import error) counts as
// a failure too, though it has no failed test of its own.
export default class ClosingLine {
  onRunComplete(_contexts, results) {
    const failed = results.numFailedTests + results.numRuntimeErrorTestSuites;
    // After Jest's own summary, which its default reporter prints later in this same call.
    process.once('exit', () =>
      writeSync(1, `jest: ${results.numPassedTests} passed, ${failed} failed\n`),
    );
  }
}
