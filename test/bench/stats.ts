/** Small statistics and formatting helpers for the benchmarks. */

export function median(values: number[]): number {
  if (!values.length) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** The value below which `p` (0–1) of the values fall (nearest rank). */
export function percentile(values: number[], p: number): number {
  if (!values.length) return NaN;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1))];
}

export function fmtMs(ms: number): string {
  if (!Number.isFinite(ms)) return '—';
  if (ms >= 10_000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms >= 100) return `${Math.round(ms)} ms`;
  return `${ms.toFixed(1)} ms`;
}

export function fmtNum(n: number): string {
  return Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '—';
}

/** A plain-text table (also valid Markdown). */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    `| ${cells.map((c, i) => (c ?? '').padEnd(widths[i])).join(' | ')} |`;
  return [
    line(header),
    `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`,
    ...rows.map(line),
  ].join('\n');
}

/** One column of an ours-against-baseline table: its header, a cell, and optionally a ratio. */
export interface AbColumn<R> {
  header: string;
  cell: (r: R) => string;
  ratio?: (ours: R, baseline: R) => string;
}

/** The table every A/B scenario prints: a row for ours, one for the baseline, one of ratios. */
export function abTable<R>(
  title: string,
  labels: [ours: string, baseline: string],
  columns: AbColumn<R>[],
  ours: R,
  baseline: R,
): string {
  return table(
    [title, ...columns.map((c) => c.header)],
    [
      [labels[0], ...columns.map((c) => c.cell(ours))],
      [labels[1], ...columns.map((c) => c.cell(baseline))],
      ['ratio', ...columns.map((c) => c.ratio?.(ours, baseline) ?? '')],
    ],
  );
}

/**
 * Runs `ours` and `baseline` alternately (A B A B…): one warm-up each, then `rounds` each. A
 * round that fails (say, devices that never confirm in time) is recorded in `failures` and the
 * run goes on: the figures are the medians of the rounds that completed.
 */
export async function alternate<T>(
  rounds: number,
  ours: () => Promise<T>,
  baseline: (() => Promise<T>) | null,
  progress: (line: string) => void,
): Promise<{ ours: T[]; baseline: T[]; failures: string[] }> {
  const r = await rotate<T>(
    rounds,
    baseline
      ? [
          ['ours', ours],
          ['baseline', baseline],
        ]
      : [['ours', ours]],
    progress,
  );
  return { ours: r.results[0], baseline: r.results[1] ?? [], failures: r.failures };
}

/**
 * Rounds of several variants in turn (A B C A B C…), after one warm-up of each: what `alternate`
 * does for two. A round that throws is a failure, named with its label, and the rest go on.
 */
export async function rotate<T>(
  rounds: number,
  variants: [label: string, run: () => Promise<T>][],
  progress: (line: string) => void,
): Promise<{ results: T[][]; failures: string[] }> {
  const out = { results: variants.map(() => [] as T[]), failures: [] as string[] };
  const attempt = async (label: string, run: () => Promise<T>, into: T[] | null) => {
    try {
      const value = await run();
      into?.push(value);
    } catch (err) {
      // fetch() says only "fetch failed"; the reason (refused, reset…) is in its cause.
      const cause = (err as Error).cause as { code?: string; message?: string } | undefined;
      const why = cause ? ` (${cause.code ?? cause.message ?? String(cause)})` : '';
      const line = `${label}: ${(err as Error).message}${why}`;
      progress(`FAILED ${line}`);
      out.failures.push(line);
    }
  };
  progress('warm-up');
  for (const [label, run] of variants) await attempt(`${label} warm-up`, run, null);
  for (let i = 0; i < rounds; i++) {
    progress(`round ${i + 1}/${rounds}`);
    for (const [k, [label, run]] of variants.entries())
      await attempt(`${label} round ${i + 1}`, run, out.results[k]);
  }
  return out;
}
