import { Injectable } from '@nestjs/common';
import { DataSource, EntityManager } from 'typeorm';
import { rawSql } from '../database/batch.js';
import type { ChainHead } from './evidence-chain.js';
import { EvidenceEntryEntity } from './evidence-entry.entity.js';
import {
  bodyText,
  cancelBody,
  confirmationBody,
  deliveryEventBody,
  entryHash,
  EVIDENCE_KINDS,
  GENESIS_HASH,
} from './evidence-hash.js';
import { groupBy } from '../common/group-by.js';

/** What to check: everything, one broadcast, and/or the entries written in [from, to). */
export interface VerifyScope {
  broadcastId?: string;
  from?: number;
  to?: number;
}

/** One thing that does not match: the entry (if one is concerned), the table and row, what differs. */
export interface Mismatch {
  seq: number | null;
  table:
    'evidence_entries' | 'delivery_events' | 'deliveries' | 'manual_confirmations' | 'broadcasts';
  rowId: string | null;
  problem: string;
}

export interface VerifyResult {
  ok: boolean;
  /** Entries whose hash and link were recomputed. */
  entries: number;
  /** delivery_events, deliveries, manual_confirmations and broadcasts rows held to their entries. */
  rows: number;
  broadcasts: number;
  /** Broadcasts created before the chain's first entry (an upgrade): nothing proves them. */
  predating: number;
  head: ChainHead | null;
  /** The first mismatch in chain order (one naming no entry comes after those that do). */
  first: Mismatch | null;
  mismatches: number;
}

export type Progress = (phase: 'chain' | 'rows', done: number, total: number) => void;

/** Entries read per page: bounded memory however long the chain. */
const PAGE = 5000;
/** Mismatches kept (the count goes on). */
const KEEP = 1000;

interface EntryRow {
  seq: number;
  at: number;
  kind: string;
  broadcastId: string;
  subject: string;
  body: string;
  prevHash: string;
  hash: string;
}

const num = (v: unknown) => (v === null || v === undefined ? null : Number(v));

/**
 * Recomputes the evidence chain and holds the rows it proves to it (docs/evidence.md). Reads the
 * tables with plain SQL by their names, as an auditor would, rather than through the broadcasts
 * module whose writes it checks.
 */
@Injectable()
export class EvidenceVerifier {
  constructor(private readonly dataSource: DataSource) {}

  async verify(scope: VerifyScope = {}, progress?: Progress): Promise<VerifyResult> {
    const m = this.dataSource.manager;
    const found: Mismatch[] = [];
    let count = 0;
    const report = (x: Mismatch) => {
      count++;
      if (found.length < KEEP) found.push(x);
    };
    const { entries, head } = await this.checkChain(m, scope, report, progress);
    const { rows, broadcasts, predating } = await this.checkRows(m, scope, report, progress);
    found.sort((a, b) => (a.seq ?? Infinity) - (b.seq ?? Infinity));
    return {
      ok: count === 0,
      entries,
      rows,
      broadcasts,
      predating,
      head,
      first: found[0] ?? null,
      mismatches: count,
    };
  }

  // ---- the chain: every hash recomputed, every link followed ----

  private async checkChain(
    m: EntityManager,
    scope: VerifyScope,
    report: (x: Mismatch) => void,
    progress?: Progress,
  ): Promise<{ entries: number; head: ChainHead | null }> {
    const e = this.entries(m);
    const total = await e.count(scope);
    let checked = 0;
    let head: ChainHead | null = null;
    const owned = new Set<number>();
    /** The entry on its own: a known kind, a canonical body, a hash that recomputes. */
    const checkOwn = (row: EntryRow) => {
      if (owned.has(row.seq)) return;
      owned.add(row.seq);
      const at = { seq: row.seq, table: 'evidence_entries' as const, rowId: String(row.seq) };
      if (!(EVIDENCE_KINDS as readonly string[]).includes(row.kind))
        report({
          ...at,
          problem: `entry seq ${row.seq} has an unknown kind ${JSON.stringify(row.kind)}`,
        });
      if (!isCanonical(row.body))
        report({ ...at, problem: `entry seq ${row.seq} has a body that is not canonical JSON` });
      const hash = entryHash(row.prevHash, row);
      if (hash !== row.hash)
        report({
          ...at,
          problem: `entry seq ${row.seq}: its hash ${row.hash} does not recompute (${hash}); the entry was changed`,
        });
    };
    /** The link: the entry follows `prev` with no gap and holds its hash. */
    const checkLink = (row: EntryRow, prev: { seq: number; hash: string } | null) => {
      const expected = prev?.hash ?? GENESIS_HASH;
      const before = prev?.seq ?? 0;
      if (before !== row.seq - 1)
        report({
          seq: before + 1,
          table: 'evidence_entries',
          rowId: null,
          problem: `entry seq ${before + 1} is missing: ${before ? `seq ${before}` : 'the start of the chain'} is followed by seq ${row.seq}`,
        });
      else if (row.prevHash !== expected)
        report({
          seq: row.seq,
          table: 'evidence_entries',
          rowId: String(row.seq),
          problem: `entry seq ${row.seq}: its prev_hash ${row.prevHash} is not the hash of entry seq ${before} (${expected})`,
        });
    };

    if (scope.broadcastId !== undefined) {
      // A broadcast's entries are spread over the global chain: each is recomputed and linked to
      // the entry before it, which is recomputed too.
      for await (const page of e.pages(scope)) {
        const before = new Map((await e.bySeq(page.map((r) => r.seq - 1))).map((r) => [r.seq, r]));
        for (const row of page) {
          checked++;
          head = { seq: row.seq, hash: row.hash };
          checkOwn(row);
          const p = before.get(row.seq - 1);
          if (p) checkOwn(p);
          if (row.seq === 1) checkLink(row, null);
          else if (!p)
            report({
              seq: row.seq - 1,
              table: 'evidence_entries',
              rowId: null,
              problem: `entry seq ${row.seq - 1} (before seq ${row.seq}) is missing`,
            });
          else checkLink(row, p);
        }
        progress?.('chain', checked, total);
      }
      return { entries: checked, head };
    }
    // The whole chain, or a contiguous run of it: linked from the entry before the first.
    let prev: { seq: number; hash: string } | null = null;
    let first = true;
    for await (const page of e.pages(scope)) {
      for (const row of page) {
        if (first) {
          first = false;
          const period = scope.from !== undefined || scope.to !== undefined;
          if (row.seq !== 1 && period)
            prev = (await e.bySeq([row.seq - 1]))[0] ?? { seq: row.seq - 1, hash: row.prevHash };
        }
        checked++;
        head = { seq: row.seq, hash: row.hash };
        checkOwn(row);
        checkLink(row, prev);
        prev = row;
      }
      owned.clear();
      progress?.('chain', checked, total);
    }
    return { entries: checked, head };
  }

  private entries(m: EntityManager) {
    const { table, column, placeholder } = rawSql(m, EvidenceEntryEntity);
    const select = ['seq', 'at', 'kind', 'broadcastId', 'subject', 'body', 'prevHash', 'hash']
      .map((p) => `${column(p)} AS "${p}"`)
      .join(', ');
    const toRow = (r: Record<string, unknown>): EntryRow => ({
      seq: Number(r.seq),
      at: Number(r.at),
      kind: String(r.kind),
      broadcastId: String(r.broadcastId),
      subject: String(r.subject),
      body: String(r.body),
      prevHash: String(r.prevHash),
      hash: String(r.hash),
    });
    const where = (scope: VerifyScope, params: unknown[]) => {
      const parts: string[] = [];
      if (scope.broadcastId !== undefined) {
        params.push(scope.broadcastId);
        parts.push(`${column('broadcastId')} = ${placeholder(params.length)}`);
      }
      if (scope.from !== undefined) {
        params.push(scope.from);
        parts.push(`${column('at')} >= ${placeholder(params.length)}`);
      }
      if (scope.to !== undefined) {
        params.push(scope.to);
        parts.push(`${column('at')} < ${placeholder(params.length)}`);
      }
      return parts.length ? ` AND ${parts.join(' AND ')}` : '';
    };
    return {
      count: async (scope: VerifyScope) => {
        const params: unknown[] = [];
        const rows: { n: unknown }[] = await m.query(
          `SELECT COUNT(*) AS "n" FROM ${table} WHERE 1 = 1${where(scope, params)}`,
          params,
        );
        return Number(rows[0].n);
      },
      /** Pages in seq order, by keyset (seq > last), so memory and each query stay small. */
      pages: async function* (scope: VerifyScope): AsyncGenerator<EntryRow[]> {
        let after = 0;
        for (;;) {
          const params: unknown[] = [after];
          const rows: Record<string, unknown>[] = await m.query(
            `SELECT ${select} FROM ${table} WHERE ${column('seq')} > ${placeholder(1)}${where(scope, params)} ORDER BY ${column('seq')} LIMIT ${PAGE}`,
            params,
          );
          if (!rows.length) return;
          const page = rows.map(toRow);
          yield page;
          after = page[page.length - 1].seq;
        }
      },
      bySeq: async (seqs: number[]): Promise<EntryRow[]> => {
        const wanted = seqs.filter((s) => s >= 1);
        if (!wanted.length) return [];
        const rows: Record<string, unknown>[] = await m.query(
          `SELECT ${select} FROM ${table} WHERE ${column('seq')} IN (${wanted.map((_, i) => placeholder(i + 1)).join(', ')})`,
          wanted,
        );
        return rows.map(toRow);
      },
      ofBroadcast: async (broadcastId: string): Promise<EntryRow[]> => {
        const rows: Record<string, unknown>[] = await m.query(
          `SELECT ${select} FROM ${table} WHERE ${column('broadcastId')} = ${placeholder(1)} ORDER BY ${column('seq')}`,
          [broadcastId],
        );
        return rows.map(toRow);
      },
      firstAt: async (): Promise<number | null> => {
        const rows: { at: unknown }[] = await m.query(
          `SELECT ${column('at')} AS "at" FROM ${table} ORDER BY ${column('seq')} LIMIT 1`,
        );
        return rows.length ? Number(rows[0].at) : null;
      },
      broadcastsIn: async (scope: VerifyScope): Promise<string[]> => {
        const params: unknown[] = [];
        const rows: { id: string }[] = await m.query(
          `SELECT DISTINCT ${column('broadcastId')} AS "id" FROM ${table} WHERE 1 = 1${where(scope, params)}`,
          params,
        );
        return rows.map((r) => r.id);
      },
    };
  }

  // ---- the rows: each held to its entries, each entry to its row ----

  private async checkRows(
    m: EntityManager,
    scope: VerifyScope,
    report: (x: Mismatch) => void,
    progress?: Progress,
  ): Promise<{ rows: number; broadcasts: number; predating: number }> {
    const e = this.entries(m);
    const t = (name: string) => rawSql(m, name).table;
    const p = rawSql(m, EvidenceEntryEntity).placeholder;
    const since = await e.firstAt();
    // Which broadcasts: the one asked for; those with entries or rows in the period; or all.
    let ids: string[];
    if (scope.broadcastId !== undefined) ids = [scope.broadcastId];
    else if (scope.from !== undefined || scope.to !== undefined) {
      const from = scope.from ?? 0;
      const to = scope.to ?? Number.MAX_SAFE_INTEGER;
      const touched: { id: string }[] = await m.query(
        `SELECT d.broadcast_id AS "id" FROM ${t('delivery_events')} e JOIN ${t('deliveries')} d ON d.id = e.delivery_id WHERE e.server_ts >= ${p(1)} AND e.server_ts < ${p(2)} ` +
          `UNION SELECT broadcast_id FROM ${t('manual_confirmations')} WHERE created_at >= ${p(3)} AND created_at < ${p(4)} ` +
          `UNION SELECT id FROM ${t('broadcasts')} WHERE status = 'cancelled' AND ended_at >= ${p(5)} AND ended_at < ${p(6)}`,
        [from, to, from, to, from, to],
      );
      ids = [...new Set([...(await e.broadcastsIn(scope)), ...touched.map((r) => r.id)])];
    } else {
      const all: { id: string }[] = await m.query(`SELECT id AS "id" FROM ${t('broadcasts')}`);
      ids = [...new Set([...all.map((r) => r.id), ...(await e.broadcastsIn({}))])];
    }
    ids.sort();
    let rows = 0;
    let predating = 0;
    let done = 0;
    for (const id of ids) {
      const [b] = (await m.query(
        `SELECT id AS "id", status AS "status", end_reason AS "endReason", cancelled_by AS "cancelledBy", ended_at AS "endedAt", created_at AS "createdAt" FROM ${t('broadcasts')} WHERE id = ${p(1)}`,
        [id],
      )) as {
        id: string;
        status: string;
        endReason: string | null;
        cancelledBy: string | null;
        endedAt: unknown;
        createdAt: unknown;
      }[];
      const entries = await e.ofBroadcast(id);
      if (b && !entries.length && (since === null || Number(b.createdAt) < since)) {
        predating++; // written before the chain began: nothing to hold it to
        continue;
      }
      rows += await this.checkBroadcast(m, id, b ?? null, entries, report);
      if (++done % 50 === 0) progress?.('rows', done, ids.length);
    }
    progress?.('rows', done, ids.length);
    return { rows, broadcasts: done, predating };
  }

  private async checkBroadcast(
    m: EntityManager,
    id: string,
    b: {
      status: string;
      endReason: string | null;
      cancelledBy: string | null;
      endedAt: unknown;
    } | null,
    entries: EntryRow[],
    report: (x: Mismatch) => void,
  ): Promise<number> {
    const t = (name: string) => rawSql(m, name).table;
    const p = rawSql(m, EvidenceEntryEntity).placeholder;
    let rows = 0;
    const byKind = (kind: string) => entries.filter((x) => x.kind === kind);
    if (!b && entries.length)
      report({
        seq: entries[0].seq,
        table: 'broadcasts',
        rowId: id,
        problem: `entry seq ${entries[0].seq} is of broadcast ${id}, which does not exist`,
      });

    // delivery_events: per delivery, its rows (by id) and its entries (by seq) in the same order.
    const events: Record<string, unknown>[] = await m.query(
      `SELECT e.id AS "id", e.delivery_id AS "deliveryId", d.device_id AS "deviceId", d.village_code AS "villageCode", e.from_state AS "fromState", e.to_state AS "toState", e.source AS "source", e.device_ts AS "deviceTs", e.server_ts AS "serverTs", e.reason AS "reason", e.anomaly AS "anomaly", e.device_proof AS "deviceProof" ` +
        `FROM ${t('delivery_events')} e JOIN ${t('deliveries')} d ON d.id = e.delivery_id WHERE d.broadcast_id = ${p(1)} ORDER BY e.id`,
      [id],
    );
    const rowsOf = groupBy(events, (r) => String(r.deliveryId));
    const entriesOf = groupBy(byKind('delivery_event'), (x) => x.subject);
    for (const delivery of new Set([...rowsOf.keys(), ...entriesOf.keys()])) {
      const rs = rowsOf.get(delivery) ?? [];
      const es = entriesOf.get(delivery) ?? [];
      rows += rs.length;
      const text = (r: Record<string, unknown>) =>
        bodyText(
          deliveryEventBody({
            deliveryId: String(r.deliveryId),
            deviceId: String(r.deviceId),
            villageCode: String(r.villageCode),
            fromState: String(r.fromState),
            toState: String(r.toState),
            source: String(r.source),
            deviceTs: num(r.deviceTs),
            serverTs: Number(r.serverTs),
            reason: r.reason === null ? null : String(r.reason),
            anomaly: r.anomaly === null ? null : String(r.anomaly),
            deviceProof: r.deviceProof === null ? null : String(r.deviceProof),
          }),
        );
      // Paired in order; one step of look-ahead tells a missing row or entry from a changed one.
      let i = 0;
      let j = 0;
      while (i < es.length || j < rs.length) {
        const x = es[i];
        const r = rs[j];
        const tr = r && text(r);
        if (x && r && x.body === tr) {
          i++;
          j++;
        } else if (x && r && rs[j + 1] && x.body === text(rs[j + 1])) {
          report({
            seq: null,
            table: 'delivery_events',
            rowId: String(r.id),
            problem: `delivery_events row ${String(r.id)} of delivery ${delivery} has no entry: ${describe(tr!)}`,
          });
          j++;
        } else if (x && (!r || es[i + 1]?.body === tr)) {
          report({
            seq: x.seq,
            table: 'delivery_events',
            rowId: null,
            problem: `entry seq ${x.seq} proves a delivery_events row of delivery ${delivery} that is not there: ${describe(x.body)}`,
          });
          i++;
        } else if (!x) {
          report({
            seq: null,
            table: 'delivery_events',
            rowId: String(r.id),
            problem: `delivery_events row ${String(r.id)} of delivery ${delivery} has no entry: ${describe(tr!)}`,
          });
          j++;
        } else {
          report({
            seq: x.seq,
            table: 'delivery_events',
            rowId: String(r.id),
            problem: `delivery_events row ${String(r.id)} differs from entry seq ${x.seq}: ${differences(x.body, tr!)}`,
          });
          i++;
          j++;
        }
      }
    }

    // deliveries: the state (and play times) their entries say.
    const deliveries: { id: string; state: string; startedAt: unknown; playedAt: unknown }[] =
      await m.query(
        `SELECT id AS "id", state AS "state", started_at AS "startedAt", played_at AS "playedAt" FROM ${t('deliveries')} WHERE broadcast_id = ${p(1)}`,
        [id],
      );
    for (const d of deliveries) {
      rows++;
      const es = (entriesOf.get(d.id) ?? []).map((x) => ({
        seq: x.seq,
        body: JSON.parse(x.body) as { toState: string; serverTs: number },
      }));
      const last = es[es.length - 1];
      const expected = last ? last.body.toState : 'pending';
      const whose = last ? `its last entry (seq ${last.seq})` : 'it has no entry, so it';
      if (d.state !== expected) {
        report({
          seq: last?.seq ?? null,
          table: 'deliveries',
          rowId: d.id,
          problem: `delivery ${d.id} is '${d.state}' but ${whose} says '${expected}'`,
        });
        continue;
      }
      const playing = es.find((x) => x.body.toState === 'playing');
      const played = [...es].reverse().find((x) => x.body.toState === 'played');
      if (num(d.startedAt) !== (playing?.body.serverTs ?? null))
        report({
          seq: playing?.seq ?? last?.seq ?? null,
          table: 'deliveries',
          rowId: d.id,
          problem: `delivery ${d.id} started_at is ${String(d.startedAt)} but its entries say ${playing?.body.serverTs ?? null}`,
        });
      if (num(d.playedAt) !== (played?.body.serverTs ?? null))
        report({
          seq: played?.seq ?? last?.seq ?? null,
          table: 'deliveries',
          rowId: d.id,
          problem: `delivery ${d.id} played_at is ${String(d.playedAt)} but its entries say ${played?.body.serverTs ?? null}`,
        });
    }

    // manual_confirmations: each as its last entry says.
    const confirmations: Record<string, unknown>[] = await m.query(
      `SELECT id AS "id", village_code AS "villageCode", device_id AS "deviceId", confirmed_at AS "confirmedAt", confirmed_by AS "confirmedBy", note AS "note", method AS "method", recorded_by AS "recordedBy", withdrawn_at AS "withdrawnAt", withdrawn_by AS "withdrawnBy", withdraw_reason AS "withdrawReason", created_at AS "createdAt" FROM ${t('manual_confirmations')} WHERE broadcast_id = ${p(1)}`,
      [id],
    );
    const confirmationEntries = groupBy(byKind('manual_confirmation'), (x) => x.subject);
    const seen = new Set<string>();
    for (const c of confirmations) {
      rows++;
      const cid = String(c.id);
      seen.add(cid);
      const es = confirmationEntries.get(cid) ?? [];
      const last = es[es.length - 1];
      const str = (v: unknown) => (v === null ? null : String(v));
      const text = bodyText(
        confirmationBody({
          id: cid,
          villageCode: String(c.villageCode),
          deviceId: str(c.deviceId),
          confirmedAt: Number(c.confirmedAt),
          confirmedBy: String(c.confirmedBy),
          note: str(c.note),
          method: str(c.method),
          recordedBy: str(c.recordedBy),
          withdrawnAt: num(c.withdrawnAt),
          withdrawnBy: str(c.withdrawnBy),
          withdrawReason: str(c.withdrawReason),
          createdAt: Number(c.createdAt),
        }),
      );
      if (!last)
        report({
          seq: null,
          table: 'manual_confirmations',
          rowId: cid,
          problem: `manual confirmation ${cid} has no entry: ${describe(text)}`,
        });
      else if (last.body !== text)
        report({
          seq: last.seq,
          table: 'manual_confirmations',
          rowId: cid,
          problem: `manual confirmation ${cid} differs from entry seq ${last.seq}: ${differences(last.body, text)}`,
        });
    }
    for (const [cid, es] of confirmationEntries)
      if (!seen.has(cid))
        report({
          seq: es[0].seq,
          table: 'manual_confirmations',
          rowId: cid,
          problem: `entry seq ${es[0].seq} proves manual confirmation ${cid}, which is not there`,
        });

    // The cancel: a cancelled broadcast has its entry, and an entry's broadcast is cancelled so.
    const cancels = byKind('cancel');
    if (b) {
      rows++;
      const text = bodyText(
        cancelBody({ endReason: b.endReason, cancelledBy: b.cancelledBy, endedAt: num(b.endedAt) }),
      );
      const x = cancels[cancels.length - 1];
      if (b.status === 'cancelled' && !x)
        report({
          seq: null,
          table: 'broadcasts',
          rowId: id,
          problem: `broadcast ${id} is cancelled but no entry records its cancel`,
        });
      else if (x && b.status !== 'cancelled')
        report({
          seq: x.seq,
          table: 'broadcasts',
          rowId: id,
          problem: `broadcast ${id} is '${b.status}' but entry seq ${x.seq} records its cancel`,
        });
      else if (x && x.body !== text)
        report({
          seq: x.seq,
          table: 'broadcasts',
          rowId: id,
          problem: `broadcast ${id}'s cancel differs from entry seq ${x.seq}: ${differences(x.body, text)}`,
        });
    }
    return rows;
  }
}

/** Whether a body is JSON in its canonical form (what the hash was computed over). */
function isCanonical(body: string): boolean {
  try {
    return bodyText(JSON.parse(body) as Record<string, unknown>) === body;
  } catch {
    return false;
  }
}

/** A body in a line: `fromState=sent toState=received serverTs=…`. */
function describe(body: string): string {
  return Object.entries(JSON.parse(body) as Record<string, unknown>)
    .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
    .join(' ');
}

/** The fields that differ: `serverTs: entry 1765… row 1764…`. */
function differences(entryBody: string, rowBody: string): string {
  const a = JSON.parse(entryBody) as Record<string, unknown>;
  const b = JSON.parse(rowBody) as Record<string, unknown>;
  return [...new Set([...Object.keys(a), ...Object.keys(b)])]
    .filter((k) => JSON.stringify(a[k]) !== JSON.stringify(b[k]))
    .map((k) => `${k}: entry ${JSON.stringify(a[k])}, row ${JSON.stringify(b[k])}`)
    .join('; ');
}
