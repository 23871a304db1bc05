import { Injectable, Logger } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { Repository } from 'typeorm';
import { Clock } from '../common/clock.js';
import { Page, pageWindow } from '../common/pagination.js';
import { redactUrl } from '../common/redact-url.js';
import { isoTime } from '../common/time.js';
import { WriteQueue } from '../database/write-queue.js';
import { AuditEntity } from './audit.entity.js';

export interface AuditRecord {
  actor: string;
  actorRole?: string | null;
  /** The person who acted, when a person did. */
  actorUserId?: string | null;
  /** The token's name when a machine acted (for a person or for itself). */
  viaToken?: string | null;
  action: string;
  subject?: string | null;
  status?: number | null;
  detail?: unknown;
  requestId?: string | null;
}

export interface AuditDto {
  id: number;
  at: string;
  actor: string;
  actorRole: string | null;
  actorUserId: string | null;
  viaToken: string | null;
  action: string;
  subject: string | null;
  status: number | null;
  detail: unknown;
  requestId: string | null;
}

const SECRET_KEYS = /secret|token|password|authorization/i;
const MAX_DETAIL = 2000;

/** Fields holding a URL, whose query string or userinfo may carry a key (a feed's `?token=`). */
const URL_KEYS = /url$/i;

/**
 * Copies `value` without any field whose name looks like a credential, and with URLs (fields named
 * `…url`) cut to scheme, host and path.
 */
export function withoutSecrets(value: unknown, depth = 0): unknown {
  if (depth > 5 || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.slice(0, 50).map((v) => withoutSecrets(v, depth + 1));
  return Object.fromEntries(
    Object.entries(value as Record<string, unknown>)
      .filter(([k]) => !SECRET_KEYS.test(k))
      .map(([k, v]) => [
        k,
        URL_KEYS.test(k) && typeof v === 'string' ? redactUrl(v) : withoutSecrets(v, depth + 1),
      ]),
  );
}

/** The audit log: the one module that writes and reads `audit_log`. */
@Injectable()
export class AuditService {
  private readonly logger = new Logger('audit');

  constructor(
    @InjectRepository(AuditEntity) private readonly rows: Repository<AuditEntity>,
    private readonly writes: WriteQueue,
    private readonly clock: Clock,
  ) {}

  /** Appends an entry; a failure is logged, never thrown at the caller (the action already happened). */
  async record(entry: AuditRecord): Promise<void> {
    const detail =
      entry.detail === undefined
        ? null
        : JSON.stringify(withoutSecrets(entry.detail)).slice(0, MAX_DETAIL);
    try {
      await this.writes.run((m) =>
        m.insert(AuditEntity, {
          at: this.clock.now().getTime(),
          actor: entry.actor.slice(0, 100),
          actorRole: entry.actorRole ?? null,
          actorUserId: entry.actorUserId ?? null,
          viaToken: entry.viaToken?.slice(0, 100) ?? null,
          action: entry.action.slice(0, 120),
          subject: entry.subject?.slice(0, 120) ?? null,
          status: entry.status ?? null,
          detail,
          requestId: entry.requestId ?? null,
        }),
      );
    } catch (err) {
      this.logger.error(
        `audit entry "${entry.action}" by ${entry.actor} not saved: ${(err as Error).message}`,
      );
    }
  }

  async list(query: {
    actor?: string;
    action?: string;
    from?: string;
    to?: string;
    limit?: number;
    offset?: number;
  }): Promise<Page<AuditDto>> {
    const { limit, offset } = pageWindow(query);
    const q = this.rows.createQueryBuilder('a');
    if (query.actor) q.andWhere('a.actor = :actor', { actor: query.actor });
    if (query.action)
      q.andWhere('a.action LIKE :action', { action: `%${query.action.replace(/[%_\\]/g, '')}%` });
    if (query.from) q.andWhere('a.at >= :from', { from: Date.parse(query.from) });
    if (query.to) q.andWhere('a.at < :to', { to: Date.parse(query.to) });
    const [rows, total] = await q
      .orderBy('a.id', 'DESC')
      .take(limit)
      .skip(offset)
      .getManyAndCount();
    return {
      items: rows.map((r) => ({
        id: r.id,
        at: isoTime(r.at),
        actor: r.actor,
        actorRole: r.actorRole,
        actorUserId: r.actorUserId,
        viaToken: r.viaToken,
        action: r.action,
        subject: r.subject,
        status: r.status,
        detail: r.detail ? (JSON.parse(r.detail) as unknown) : null,
        requestId: r.requestId,
      })),
      total,
      limit,
      offset,
    };
  }
}
