import type { EntityManager, EntityMetadata, EntityTarget, ObjectLiteral } from 'typeorm';

type ColumnMetadata = EntityMetadata['columns'][number];

/** Slices rows for multi-row statements that stay under SQLite's bound-parameter limit. */
export function chunks<T>(rows: T[], size = 500): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < rows.length; i += size) out.push(rows.slice(i, i + size));
  return out;
}

/** Bound parameters per statement: SQLite allows 32,766, PostgreSQL 65,535. */
const MAX_PARAMS = 30_000;

const quote = (name: string) => `"${name.replace(/"/g, '""')}"`;

/**
 * What raw SQL needs to name an entity's table and bind values on this connection: the table with
 * its schema (DATABASE_SCHEMA), the placeholder for the i-th parameter (`?` for SQLite, `$i` for
 * PostgreSQL; parameters in the order they appear) and the value as the driver wants it.
 */
export function rawSql<T extends ObjectLiteral>(m: EntityManager, entity: EntityTarget<T>) {
  const md = m.connection.getMetadata(entity);
  const postgres = m.connection.options.type === 'postgres';
  /** The column of an entity property; a property without one is a programming error. */
  const columnOf = (property: string) => {
    const c = md.findColumnWithPropertyName(property);
    if (!c) throw new Error(`${md.name} has no column for ${property}`);
    return c;
  };
  return {
    md,
    table: md.tablePath.split('.').map(quote).join('.'),
    columnOf,
    /** The quoted column name of an entity property. */
    column: (property: string) => quote(columnOf(property).databaseName),
    placeholder: postgres ? (i: number) => `$${i}` : (_i: number) => '?',
    /**
     * `IN` over a list bound as one parameter (the i-th; bind it with `list`), so the statement's
     * text is the same for any number of values and stays in the driver's statement cache.
     */
    inList: postgres
      ? (i: number) => `= ANY($${i})`
      : (_i: number) => 'IN (SELECT value FROM json_each(?))',
    list: postgres ? (values: string[]) => values : (values: string[]) => JSON.stringify(values),
    value: (v: unknown) => (v === undefined ? null : !postgres && typeof v === 'boolean' ? +v : v),
  };
}

/**
 * SQLite: rows bound as one parameter, a JSON array of arrays, and read back as a table of
 * `width` columns (`c0`, `c1`…). The statement's text is then the same for any number of rows, so
 * the driver prepares it once: a multi-row VALUES of a few thousand parameters took longer to
 * prepare than to run, every time, and pushed the hot statements out of the statement cache.
 * (Times, the only numbers written, stay exact in JSON: epoch ms are far below 2^53.)
 */
function jsonRows(width: number): string {
  const columns = Array.from({ length: width }, (_, i) => `json_extract(value, '$[${i}]')`);
  return `SELECT ${columns.join(', ')} FROM json_each(?)`;
}

const isSqlite = (m: EntityManager) => m.connection.options.type !== 'postgres';

/** The SQL type to cast a bound value to, so PostgreSQL knows it inside VALUES (SQLite: affinity). */
function sqlType(column: ColumnMetadata): string {
  const type = typeof column.type === 'string' ? column.type : 'varchar';
  return ['bigint', 'integer', 'boolean', 'double precision'].includes(type) ? type : 'varchar';
}

/** PostgreSQL: a chunk of rows as a `VALUES` list of placeholders and its parameters. */
function valuesList<T extends ObjectLiteral>(
  chunk: Partial<T>[],
  columns: ColumnMetadata[],
  value: (v: unknown) => unknown,
  placeholder: (n: number) => string,
): { params: unknown[]; tuples: string } {
  const params: unknown[] = [];
  const tuples = chunk.map(
    (row) =>
      `(${columns
        .map((c) => {
          params.push(value(row[c.propertyName as keyof T]));
          return placeholder(params.length);
        })
        .join(', ')})`,
  );
  return { params, tuples: tuples.join(', ') };
}

/**
 * INSERT of many rows in as few statements as the parameter limit allows, as plain SQL: TypeORM's
 * `insert()` builds and escapes each row through its query builder, which dominates a large
 * fan-out (docs/performance.md). Generated columns are left out.
 */
export async function insertMany<T extends ObjectLiteral>(
  m: EntityManager,
  entity: EntityTarget<T>,
  rows: Partial<T>[],
): Promise<void> {
  if (!rows.length) return;
  const { md, table, placeholder, value } = rawSql(m, entity);
  const columns = md.columns.filter((c) => !c.isGenerated);
  const names = columns.map((c) => quote(c.databaseName)).join(', ');
  if (isSqlite(m)) {
    for (const chunk of chunks(rows, Math.floor(MAX_PARAMS / columns.length))) {
      const tuples = chunk.map((row) => columns.map((c) => value(row[c.propertyName as keyof T])));
      await m.query(`INSERT INTO ${table} (${names}) ${jsonRows(columns.length)}`, [
        JSON.stringify(tuples),
      ]);
    }
    return;
  }
  for (const chunk of chunks(rows, Math.floor(MAX_PARAMS / columns.length))) {
    const { params, tuples } = valuesList(chunk, columns, value, placeholder);
    await m.query(`INSERT INTO ${table} (${names}) VALUES ${tuples}`, params);
  }
}

export interface GuardedUpdate<T> {
  /** Primary key value. */
  key: string;
  /** The row is updated only while each of these columns still holds its value here. */
  guard: Partial<T>;
  patch: Partial<T>;
}

/**
 * Many guarded single-row updates (`SET patch WHERE key = ? AND guard columns = ?`) in one statement
 * per shape (the patched and guarded columns): `WITH v AS (VALUES …) UPDATE … FROM v … RETURNING
 * key`, which SQLite (3.35+) and PostgreSQL both run. Returns the keys of the rows that were updated.
 * On PostgreSQL the rows are locked first, in key order.
 */
export async function updateManyGuarded<T extends ObjectLiteral>(
  m: EntityManager,
  entity: EntityTarget<T>,
  keyProperty: keyof T & string,
  updates: GuardedUpdate<T>[],
): Promise<Set<string>> {
  const updated = new Set<string>();
  if (!updates.length) return updated;
  const { table, columnOf: column, placeholder, value } = rawSql(m, entity);
  const keyColumn = column(keyProperty);
  // Every writer takes its row locks in key order, so two servers' batches over the same rows
  // queue behind each other instead of deadlocking. An UPDATE … FROM locks in whatever order its
  // join plan visits the rows: PostgreSQL locks them first, sorted; SQLite has one writer anyway.
  const sorted = [...updates].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  if (m.connection.options.type === 'postgres') {
    const keys = [...new Set(sorted.map((u) => u.key))];
    for (const chunk of chunks(keys, MAX_PARAMS)) {
      const k = quote(keyColumn.databaseName);
      await m.query(
        `SELECT ${k} FROM ${table} WHERE ${k} IN (${chunk.map((_, i) => placeholder(i + 1)).join(', ')}) ORDER BY ${k} FOR UPDATE`,
        chunk,
      );
    }
  }
  const groups = new Map<string, GuardedUpdate<T>[]>();
  for (const u of sorted) {
    const shape = `${Object.keys(u.guard).sort().join(',')}|${Object.keys(u.patch).sort().join(',')}`;
    const group = groups.get(shape);
    if (group) group.push(u);
    else groups.set(shape, [u]);
  }
  for (const [shape, group] of groups) {
    const [guardShape, patchShape] = shape.split('|');
    const guards = guardShape ? guardShape.split(',') : [];
    const props = patchShape ? patchShape.split(',') : [];
    if (!guards.length) throw new Error('updateManyGuarded: every update needs a guard');
    const guardColumns = guards.map(column);
    const columns = props.map(column);
    const width = 1 + guards.length + columns.length;
    const types = [keyColumn, ...guardColumns, ...columns].map(sqlType);
    const vNames = ['k', ...guards.map((_, i) => `g${i}`), ...columns.map((_, i) => `c${i}`)];
    for (const chunk of chunks(group, Math.floor(MAX_PARAMS / width))) {
      const params: unknown[] = [];
      const tuples = chunk.map((u) => [
        u.key,
        ...guards.map((g) => u.guard[g as keyof T]),
        ...props.map((p) => u.patch[p as keyof T]),
      ]);
      const source = isSqlite(m)
        ? (params.push(JSON.stringify(tuples.map((t) => t.map(value)))), jsonRows(width))
        : `VALUES ${tuples
            .map(
              (values) =>
                `(${values
                  .map((v, i) => {
                    params.push(value(v));
                    return `CAST(${placeholder(params.length)} AS ${types[i]})`;
                  })
                  .join(', ')})`,
            )
            .join(', ')}`;
      const set = columns.length
        ? columns.map((c, i) => `${quote(c.databaseName)} = v.c${i}`).join(', ')
        : `${quote(guardColumns[0].databaseName)} = v.g0`;
      const where = guardColumns
        .map((c, i) => `t.${quote(c.databaseName)} = v.g${i}`)
        .join(' AND ');
      const sql =
        `WITH v (${vNames.join(', ')}) AS (${source}) ` +
        `UPDATE ${table} AS t SET ${set} FROM v ` +
        `WHERE t.${quote(keyColumn.databaseName)} = v.k AND ${where} ` +
        `RETURNING ${quote(keyColumn.databaseName)} AS k`;
      const result = (await m.query(sql, params)) as unknown;
      // SQLite answers the rows; TypeORM's PostgreSQL runner answers [rows, count] for an UPDATE.
      const rows = (Array.isArray(result) && Array.isArray(result[0]) ? result[0] : result) as {
        k: string;
      }[];
      for (const r of rows) updated.add(String(r.k));
    }
  }
  return updated;
}

/**
 * INSERT … ON CONFLICT (key) DO UPDATE of many rows as plain SQL (SQLite and PostgreSQL both run
 * it): every column but the key takes the new row's value. TypeORM's `upsert()` builds each row
 * through its query builder, a long block of the event loop for thousands of rows.
 */
export async function upsertMany<T extends ObjectLiteral>(
  m: EntityManager,
  entity: EntityTarget<T>,
  keyProperty: keyof T & string,
  rows: Partial<T>[],
): Promise<void> {
  if (!rows.length) return;
  const { md, table, columnOf, placeholder, value } = rawSql(m, entity);
  const columns = md.columns.filter((c) => !c.isGenerated);
  const key = quote(columnOf(keyProperty).databaseName);
  const names = columns.map((c) => quote(c.databaseName));
  const set = names
    .filter((n) => n !== key)
    .map((n) => `${n} = excluded.${n}`)
    .join(', ');
  if (isSqlite(m)) {
    for (const chunk of chunks(rows, Math.floor(MAX_PARAMS / columns.length))) {
      const tuples = chunk.map((row) => columns.map((c) => value(row[c.propertyName as keyof T])));
      // `WHERE true`: without it SQLite reads ON CONFLICT as part of the SELECT's join.
      await m.query(
        `INSERT INTO ${table} (${names.join(', ')}) ${jsonRows(columns.length)} WHERE true ON CONFLICT (${key}) DO UPDATE SET ${set}`,
        [JSON.stringify(tuples)],
      );
    }
    return;
  }
  for (const chunk of chunks(rows, Math.floor(MAX_PARAMS / columns.length))) {
    const { params, tuples } = valuesList(chunk, columns, value, placeholder);
    await m.query(
      `INSERT INTO ${table} (${names.join(', ')}) VALUES ${tuples} ON CONFLICT (${key}) DO UPDATE SET ${set}`,
      params,
    );
  }
}
