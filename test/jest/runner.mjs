// Jest runner: each test file in its own Node process (file-worker.mjs), a few at once, with a time
// limit per file. A file that overruns it, or whose process does not end by itself once its tests are
// done, fails by its own name and its process group is killed, so the run goes on; Jest's testTimeout
// alone bounds tests and hooks, not a file (a hung import, a busy loop, a handle left open).
import { fork } from 'node:child_process';
import { relative } from 'node:path';

const WORKER = new URL('./file-worker.mjs', import.meta.url);
const MAX_OUTPUT = 1_000_000;

export default class FileProcessRunner {
  // Jest talks to runners of this kind through events (test-file-start, -success, -failure).
  supportsEventEmitters = true;
  #globalConfig;
  #options;
  #listeners = new Map();
  #children = new Set();

  constructor(globalConfig, _context, options = {}) {
    this.#globalConfig = globalConfig;
    this.#options = {
      fileTimeoutMs: Number(options.fileTimeoutMs ?? 15 * 60_000),
      exitGraceMs: Number(options.exitGraceMs ?? 30_000),
    };
  }

  on(event, listener) {
    if (!this.#listeners.has(event)) this.#listeners.set(event, new Set());
    this.#listeners.get(event).add(listener);
    return () => this.#listeners.get(event).delete(listener);
  }

  async #emit(event, payload) {
    for (const listener of this.#listeners.get(event) ?? []) await listener(payload);
  }

  async runTests(tests, watcher) {
    const killAll = () => {
      for (const child of this.#children) killGroup(child);
    };
    // The files' processes lead their own process groups (so a timeout can end what they
    // started): on Ctrl-C or SIGTERM they must be ended here, the terminal no longer reaches them.
    const onSignal = (signal) => {
      killAll();
      process.kill(process.pid, signal);
    };
    process.on('exit', killAll);
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    try {
      const queue = [...tests];
      const slots = Math.max(1, this.#globalConfig.maxWorkers);
      const lane = async () => {
        for (let test = queue.shift(); test; test = queue.shift()) {
          if (watcher.isInterrupted()) return;
          await this.#emit('test-file-start', [test]);
          try {
            await this.#emit('test-file-success', [test, await this.#runFile(test)]);
          } catch (error) {
            await this.#emit('test-file-failure', [test, error]);
          }
        }
      };
      await Promise.all(Array.from({ length: Math.min(slots, tests.length) }, lane));
    } finally {
      process.off('exit', killAll);
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
  }

  #runFile(test) {
    const { fileTimeoutMs, exitGraceMs } = this.#options;
    const name = relative(this.#globalConfig.rootDir, test.path);
    return new Promise((resolve, reject) => {
      const child = fork(WORKER, [], {
        detached: true,
        stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
        serialization: 'advanced',
        env: { ...process.env, JEST_WORKER_ID: String(this.#children.size + 1) },
      });
      this.#children.add(child);
      let output = '';
      const collect = (chunk) => {
        if (output.length < MAX_OUTPUT) output += chunk;
      };
      child.stdout.setEncoding('utf8').on('data', collect);
      child.stderr.setEncoding('utf8').on('data', collect);

      let running;
      let result;
      let settled = false;
      const finish = (fn) => {
        if (settled) return;
        settled = true;
        clearTimeout(fileTimer);
        clearTimeout(graceTimer);
        this.#children.delete(child);
        fn();
      };
      const fail = (message) => {
        killGroup(child);
        const partial = result ? '' : `\nStill running: ${running ?? 'the loading of the file'}`;
        const cause = result?.error ? `\n${result.error.stack}` : '';
        const error = new Error(`${name}: ${message}${partial}${cause}${tail(output)}`);
        // Jest prints the message, then the stack: the message says it all.
        error.stack = '';
        finish(() => reject(error));
      };

      const fileTimer = setTimeout(
        () => fail(`did not finish within ${fileTimeoutMs / 1000} s (TEST_TIMEOUT_MS); killed`),
        fileTimeoutMs,
      );
      let graceTimer;

      child.on('message', (message) => {
        if (message.type === 'event') {
          void this.#emit(message.event, message.args);
        } else if (message.type === 'running') {
          running = message.what;
        } else if (message.type === 'result' || message.type === 'error') {
          if (message.type === 'result') result = message.result;
          else {
            // The file could not run (an import failed): reported as Jest reports it, by name.
            const error = new Error(message.error.message);
            error.stack = message.error.stack;
            result = { error };
          }
          graceTimer = setTimeout(() => {
            fail(
              `${result.error ? 'it could not run' : 'its tests ended'} but its process was still ` +
                `running ${exitGraceMs / 1000} s later: ` +
                'something is left open (a server, socket, timer or child process); killed',
            );
          }, exitGraceMs);
        }
      });
      child.on('error', (err) => finish(() => reject(err)));
      // 'close', not 'exit': the file's output is all read only once its pipes have closed.
      child.on('close', (code, signal) => {
        if (settled) return;
        if (!result)
          return fail(`its process exited (${signal ?? `code ${code}`}) before reporting`);
        if (result.error) {
          result.error.stack += tail(output);
          return finish(() => reject(result.error));
        }
        // The file's own output, kept together and shown just before its results: the verbose
        // reporter prints none of a result's console (it expects it printed live).
        if (output.trim() && this.#globalConfig.verbose)
          process.stdout.write(`\n${name} printed:\n${output.trimEnd()}\n`);
        else if (output.trim())
          result.console = [{ message: output.trimEnd(), origin: '', type: 'log' }];
        finish(() => resolve(result));
      });
      child.send({
        testPath: test.path,
        config: test.context.config,
        globalConfig: this.#globalConfig,
      });
    });
  }
}

function killGroup(child) {
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

function tail(output) {
  const lines = output.trimEnd().split('\n').slice(-40).join('\n');
  return lines ? `\nIts last output:\n${lines}` : '';
}
