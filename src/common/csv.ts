import { parse, type CsvError } from 'csv-parse';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { stringify } from 'csv-stringify/sync';
import { decodeCsvBytes, EncodingSource } from './csv-encoding.js';
import type { FieldProblem } from './domain-error.js';

/** One data line of a CSV upload, values keyed by column name. `line` is 1-based; 1 is the header. */
export interface CsvRow {
  line: number;
  values: Record<string, string>;
}

export interface CsvSpec {
  required: readonly string[];
  optional: readonly string[];
  maxRows: number;
}

export interface ParsedCsv {
  /** The columns present in the header, in file order. */
  columns: string[];
  rows: CsvRow[];
  problems: FieldProblem[];
}

/** An uploaded CSV file as received: its bytes and what the request says about them. */
export interface CsvUpload {
  bytes: Buffer;
  /** `charset=` of the Content-Type, when given. */
  charset?: string;
  /** `?encoding=` of the request, when given. */
  encoding?: string;
}

export interface ReadCsv extends ParsedCsv {
  /** The encoding the file was read in; null when it could not be read with confidence. */
  encoding: string | null;
  encodingSource: EncodingSource | null;
}

/** Decodes an upload (see {@link decodeCsvBytes}) and parses it; an unreadable file is one problem. */
export async function readCsv(upload: CsvUpload, spec: CsvSpec): Promise<ReadCsv> {
  const decoded = decodeCsvBytes(upload.bytes, {
    charset: upload.charset,
    parameter: upload.encoding,
  });
  if ('message' in decoded) {
    return {
      columns: [],
      rows: [],
      problems: [{ line: 1, field: 'file', rule: 'encoding', message: decoded.message }],
      encoding: null,
      encodingSource: null,
    };
  }
  return {
    ...(await parseCsv(decoded.text, spec)),
    encoding: decoded.encoding,
    encodingSource: decoded.source,
  };
}

/** Data lines a dry run shows as read, so the uploader sees the text came out right. */
export const PREVIEW_ROWS = 5;

/** The part of an import report that says how the file was read. */
export function readingReport(read: ReadCsv, dryRun: boolean) {
  return {
    rows: read.rows.length,
    encoding: read.encoding,
    encodingSource: read.encodingSource,
    ...(dryRun ? { preview: read.rows.slice(0, PREVIEW_ROWS) } : {}),
  };
}

/** Text parsed between two turns of the event loop (about 500 lines of a villages file). */
const PARSE_CHUNK = 16 * 1024;

/** Rows checked between two turns of the event loop, so a 100,000-line import never holds it long. */
export const ROWS_PER_TURN = 200;

/** Lets the event loop serve others every {@link ROWS_PER_TURN} rows. */
export async function yieldEvery(i: number): Promise<void> {
  if (i > 0 && i % ROWS_PER_TURN === 0) await nextTurn();
}

type CsvRecord = { record: string[]; info: { lines: number } };

/**
 * csv-parse fed in chunks with a turn of the event loop between them, stopping after `maxRecords`
 * (so a file over the limit is not read to its end).
 */
async function parseRecords(text: string, maxRecords: number): Promise<CsvRecord[]> {
  const parser = parse({
    bom: true,
    info: true,
    relax_column_count: true,
    skip_empty_lines: true,
    to: maxRecords,
  });
  const records: CsvRecord[] = [];
  let error: CsvError | undefined;
  parser.on('data', (r: CsvRecord) => records.push(r));
  parser.on('error', (e: CsvError) => (error = e));
  const ended = new Promise<void>((resolve) => {
    parser.once('end', resolve);
    parser.once('close', resolve);
  });
  for (let i = 0; i < text.length && !error && !parser.writableEnded; i += PARSE_CHUNK) {
    parser.write(text.slice(i, i + PARSE_CHUNK));
    await nextTurn();
  }
  if (!error && !parser.writableEnded) parser.end();
  await ended;
  if (error) throw error;
  return records;
}

/** Characters that make a spreadsheet treat a cell as a formula. */
const FORMULA_START = /^[=+\-@\t\r]/;

/**
 * Parses CSV text with a header line (a leading BOM is ignored). Problems come back per
 * line instead of stopping at the first, so one dry run shows everything to fix.
 */
export async function parseCsv(text: string, spec: CsvSpec): Promise<ParsedCsv> {
  const problems: FieldProblem[] = [];
  const fail = (line: number, field: string, rule: string, message: string): ParsedCsv => {
    problems.push({ line, field, rule, message });
    return { columns: [], rows: [], problems };
  };

  const replaced = text.indexOf('\uFFFD');
  if (replaced >= 0) {
    // U+FFFD is what a wrong decoding leaves behind: the file was damaged before it got here.
    const line = text.slice(0, replaced).split('\n').length;
    return fail(
      line,
      'file',
      'encoding',
      `Line ${line} contains \uFFFD, the mark of text already damaged by a wrong encoding; fix that text, save the file as "CSV UTF-8" and upload again`,
    );
  }

  let records: CsvRecord[];
  try {
    // The header, the most lines allowed, and one more to know there are too many.
    records = await parseRecords(text, spec.maxRows + 2);
  } catch (err) {
    const e = err as { lines?: number; message: string; code?: string };
    return fail(e.lines ?? 1, 'file', 'csvSyntax', `Malformed CSV: ${e.message}`);
  }
  if (records.length === 0)
    return fail(1, 'file', 'required', 'The file is empty: expected a header line');

  const header = records[0].record.map((c) => c.trim().toLowerCase());
  const allowed = new Set([...spec.required, ...spec.optional]);
  for (const column of header) {
    if (!allowed.has(column)) {
      problems.push({
        line: 1,
        field: column || '(empty)',
        rule: 'unknownColumn',
        message: `Unknown column "${column}"; the columns are ${[...allowed].join(', ')}`,
      });
    }
  }
  for (const column of new Set(header.filter((c, i) => header.indexOf(c) !== i))) {
    problems.push({
      line: 1,
      field: column,
      rule: 'duplicateColumn',
      message: `Column "${column}" appears twice`,
    });
  }
  for (const column of spec.required) {
    if (!header.includes(column)) {
      problems.push({
        line: 1,
        field: column,
        rule: 'required',
        message: `Missing required column "${column}"`,
      });
    }
  }
  if (problems.length > 0) return { columns: header, rows: [], problems };

  const dataRecords = records.slice(1);
  if (dataRecords.length > spec.maxRows) {
    return fail(
      1,
      'file',
      'maxRows',
      `Too many lines: more than ${spec.maxRows}; at most ${spec.maxRows} per upload`,
    );
  }

  const rows: CsvRow[] = [];
  for (const [i, { record, info }] of dataRecords.entries()) {
    await yieldEvery(i);
    if (record.length !== header.length) {
      problems.push({
        line: info.lines,
        field: 'line',
        rule: 'columnCount',
        message: `Line ${info.lines} has ${record.length} value(s); the header has ${header.length}`,
      });
      continue;
    }
    const values: Record<string, string> = {};
    header.forEach((column, i) => (values[column] = unescapeFormula(record[i].trim())));
    rows.push({ line: info.lines, values });
  }
  return { columns: header, rows, problems };
}

/** Reverses {@link escapeFormula}, so an export imports back unchanged. */
function unescapeFormula(value: string): string {
  return value.startsWith("'") && FORMULA_START.test(value.slice(1)) ? value.slice(1) : value;
}

/** A text cell a spreadsheet would run as a formula gets a leading apostrophe (CSV injection). */
export function escapeFormula(value: string): string {
  return FORMULA_START.test(value) ? `'${value}` : value;
}

/** CSV text with a UTF-8 BOM (so Excel shows Chinese correctly) and CRLF line ends. */
export function toCsv(
  columns: readonly string[],
  rows: (string | number | boolean | null)[][],
): string {
  return stringify(rows, {
    bom: true,
    header: true,
    columns: [...columns],
    record_delimiter: 'windows',
  });
}

export type CsvCell = string | number | boolean | null;

/**
 * A report as CSV: `label,value` lines first (what, period, generated when), an empty line, then
 * the table with its header. UTF-8 with BOM and CRLF, like {@link toCsv}; every text cell is
 * guarded against formula injection.
 */
export function toCsvReport(
  preamble: [string, CsvCell][],
  columns: readonly string[],
  rows: CsvCell[][],
): string {
  const guard = (c: CsvCell) => (typeof c === 'string' ? escapeFormula(c) : c);
  const head = stringify(
    preamble.map(([k, v]) => [guard(k), guard(v)]),
    { bom: true, record_delimiter: 'windows' },
  );
  const table = stringify(
    rows.map((r) => r.map(guard)),
    { header: true, columns: columns.map((c) => guard(c) as string), record_delimiter: 'windows' },
  );
  return `${head}\r\n${table}`;
}
