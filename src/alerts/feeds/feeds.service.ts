import { Injectable, Logger } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { AuditService } from '../../audit/audit.service.js';
import type { Principal } from '../../auth/auth.decorators.js';
import { Clock } from '../../common/clock.js';
import { DomainError, NotFoundError } from '../../common/domain-error.js';
import { Page, PageQuery, pageWindow } from '../../common/pagination.js';
import { redactUrl } from '../../common/redact-url.js';
import type { AlertFeedEntity } from '../alert.entity.js';
import { CapFeedsService } from './cap-feeds.service.js';
import {
  DEFAULT_INTERVAL_S,
  toFeedDto,
  type CreateFeedDto,
  type FeedDto,
  type UpdateFeedDto,
} from './dto/feed.dto.js';
import { nextPollDelayMs } from './feed-backoff.js';
import type { FeedErrorCode } from './feeds-errors.js';
import { FeedsRepository } from './feeds.repository.js';

/** Who acted, as an audit entry names them: the person, and the token when a machine acted. */
function actorOf(p: Principal) {
  return {
    actor: p.name,
    actorRole: p.role,
    actorUserId: p.userId,
    viaToken: p.via === 'token' ? p.tokenName : null,
  };
}

/**
 * The CAP feeds an admin configures: adding, changing and removing them, each audited. Logs and
 * audit entries name a feed's URL without its query string or userinfo (publishers put keys
 * there); the API still gives admins the whole URL.
 */
@Injectable()
export class FeedsService {
  private readonly logger = new Logger('alert-feeds');

  constructor(
    private readonly repo: FeedsRepository,
    private readonly poller: CapFeedsService,
    private readonly audit: AuditService,
    private readonly clock: Clock,
  ) {}

  async list(query: PageQuery): Promise<Page<FeedDto>> {
    const { limit, offset } = pageWindow(query);
    const [rows, total] = await this.repo.list(limit, offset);
    return { items: rows.map(toFeedDto), total, limit, offset };
  }

  async get(id: string): Promise<FeedDto> {
    return toFeedDto(await this.found(id));
  }

  async create(input: CreateFeedDto, p: Principal): Promise<FeedDto> {
    await this.refuseTakenUrl(input.url, null);
    const now = this.clock.now().getTime();
    const row: AlertFeedEntity = {
      id: randomUUID(),
      name: input.name,
      url: input.url,
      intervalS: input.intervalS ?? DEFAULT_INTERVAL_S,
      enabled: input.enabled ?? true,
      etag: null,
      lastModified: null,
      // Due at once: a new feed is read at the next tick, not an interval later.
      nextPollAt: now,
      lastPolledAt: null,
      lastOkAt: null,
      failures: 0,
      lastError: null,
      createdBy: p.name,
      createdAt: now,
      updatedAt: now,
    };
    await this.repo.insert(row);
    this.logger.log(`feed=${row.id} added: ${JSON.stringify(row.name)} ${redactUrl(row.url)}`);
    await this.audit.record({
      ...actorOf(p),
      action: 'alert-feed.create',
      subject: row.id,
      detail: {
        name: row.name,
        url: redactUrl(row.url),
        intervalS: row.intervalS,
        enabled: row.enabled,
      },
    });
    return toFeedDto(row);
  }

  async update(id: string, input: UpdateFeedDto, p: Principal): Promise<FeedDto> {
    const row = await this.found(id);
    const now = this.clock.now().getTime();
    const patch: Partial<AlertFeedEntity> = { updatedAt: now };
    if (input.name !== undefined) patch.name = input.name;
    if (input.intervalS !== undefined && input.intervalS !== row.intervalS) {
      patch.intervalS = input.intervalS;
      // A shorter interval applies now, not after the wait the old one set.
      patch.nextPollAt = Math.min(
        row.nextPollAt,
        now + nextPollDelayMs(input.intervalS, row.failures),
      );
    }
    if (input.url !== undefined && input.url !== row.url) {
      await this.refuseTakenUrl(input.url, id);
      // Another document: its validators, failures and entries say nothing about the new one.
      Object.assign(patch, { url: input.url, etag: null, lastModified: null, failures: 0 });
      Object.assign(patch, { lastError: null, nextPollAt: now });
      this.poller.forget(id);
    }
    if (input.enabled !== undefined && input.enabled !== row.enabled) {
      patch.enabled = input.enabled;
      // Switched back on by a person who expects it read now, whatever its back-off was.
      if (input.enabled) Object.assign(patch, { nextPollAt: now, failures: 0 });
    }
    await this.repo.update(id, patch);
    const after = { ...row, ...patch };
    await this.audit.record({
      ...actorOf(p),
      action: 'alert-feed.update',
      subject: id,
      detail: { ...input, ...(input.url !== undefined ? { url: redactUrl(input.url) } : {}) },
    });
    return toFeedDto(after);
  }

  async remove(id: string, p: Principal): Promise<void> {
    const row = await this.found(id);
    if (!(await this.repo.remove(id))) throw new NotFoundError('feed', id);
    this.poller.forget(id);
    this.logger.log(`feed=${id} removed: ${JSON.stringify(row.name)}`);
    await this.audit.record({
      ...actorOf(p),
      action: 'alert-feed.delete',
      subject: id,
      detail: { name: row.name, url: redactUrl(row.url) },
    });
  }

  private async found(id: string): Promise<AlertFeedEntity> {
    const row = await this.repo.find(id);
    if (!row) throw new NotFoundError('feed', id);
    return row;
  }

  private async refuseTakenUrl(url: string, except: string | null): Promise<void> {
    const other = await this.repo.findByUrl(url);
    if (other && other.id !== except)
      throw new DomainError<FeedErrorCode>(
        'conflict',
        'FEED_URL_TAKEN',
        `Feed ${other.id} (${other.name}) already polls ${url}`,
      );
  }
}
