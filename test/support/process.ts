import { ChildProcess, spawn } from 'node:child_process';
import { MAIN, ROOT } from './cli.js';

export interface ServerProcess {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  /**
   * Resolves with the first stdout/stderr text matching `pattern` (fails if the process exits
   * first); with `since` (from `position()`), only in what was written after that.
   */
  waitFor(pattern: RegExp, since?: OutputPosition): Promise<RegExpMatchArray>;
  /** How much has been written so far. */
  position(): OutputPosition;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export interface OutputPosition {
  out: number;
  err: number;
}

/** The real server (`node dist/src/main.js`) as a child process, as `npm start` runs it. */
export function spawnServer(env: Record<string, string>): ServerProcess {
  const child = spawn(process.execPath, [MAIN], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH ?? '',
      LOG_FORMAT: 'json',
      MQTT_PORT: '0',
      MQTT_HOST: '127.0.0.1',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  const waiters: {
    pattern: RegExp;
    since: OutputPosition;
    resolve: (m: RegExpMatchArray) => void;
  }[] = [];
  const check = () => {
    for (const w of [...waiters]) {
      const m = (out.slice(w.since.out) + err.slice(w.since.err)).match(w.pattern);
      if (m) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(m);
      }
    }
  };
  child.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
    check();
  });
  child.stderr!.on('data', (d: Buffer) => {
    err += d.toString();
    check();
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  void exited.then(() => process.off('exit', killOnExit));
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    exited,
    position: () => ({ out: out.length, err: err.length }),
    waitFor: (pattern, since = { out: 0, err: 0 }) =>
      new Promise((resolve, reject) => {
        waiters.push({ pattern, since, resolve });
        check();
        void exited.then(({ code, signal }) =>
          reject(
            new Error(
              `server exited (${code ?? signal}) before printing ${pattern}\n${out}\n${err}`,
            ),
          ),
        );
      }),
  };
}
