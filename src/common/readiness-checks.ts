import { Injectable } from '@nestjs/common';

/** A readiness probe: resolves when the dependency works, throws (with a reason) when it does not. */
export type ReadinessCheck = () => Promise<void>;

export interface CheckResult {
  ok: boolean;
  ms: number;
  error?: string;
  /** False for a feature the server can run without (it reports `degraded` instead of not ready). */
  critical: boolean;
}

const CHECK_TIMEOUT_MS = 2000;

/**
 * The seam through which modules add themselves to `/health/ready` (database here; the broker
 * and ffmpeg register later).
 */
@Injectable()
export class ReadinessChecks {
  private readonly checks = new Map<string, { check: ReadinessCheck; critical: boolean }>();

  register(name: string, check: ReadinessCheck, options: { critical?: boolean } = {}): void {
    this.checks.set(name, { check, critical: options.critical ?? true });
  }

  async runAll(): Promise<{
    ready: boolean;
    degraded: boolean;
    checks: Record<string, CheckResult>;
  }> {
    const entries = await Promise.all(
      [...this.checks].map(
        async ([name, { check, critical }]) =>
          [name, { ...(await runOne(check)), critical }] as const,
      ),
    );
    return {
      ready: entries.every(([, r]) => r.ok || !r.critical),
      degraded: entries.some(([, r]) => !r.ok && !r.critical),
      checks: Object.fromEntries(entries),
    };
  }
}

async function runOne(check: ReadinessCheck): Promise<Omit<CheckResult, 'critical'>> {
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      check(),
      new Promise((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`no answer within ${CHECK_TIMEOUT_MS} ms`)),
          CHECK_TIMEOUT_MS,
        );
      }),
    ]);
    return { ok: true, ms: Math.round(performance.now() - started) };
  } catch (err) {
    return {
      ok: false,
      ms: Math.round(performance.now() - started),
      error: (err as Error).message,
    };
  } finally {
    clearTimeout(timer);
  }
}
