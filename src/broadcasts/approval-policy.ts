import { Injectable } from '@nestjs/common';
import { AuditService } from '../audit/audit.service.js';
import { Clock } from '../common/clock.js';
import { DomainError } from '../common/domain-error.js';
import { Level, LEVELS } from '../contract/messages.js';
import { ApprovalPolicyRepository } from './approval-policy.repository.js';
import type { ApprovalRuleEntity } from './approval-rule.entity.js';
import type { BroadcastErrorCode } from './broadcast-errors.js';
import type { ApprovalPolicyDto, ApprovalRuleDto } from './dto/approval-policy.dto.js';

/** A level missing from the table (never seeded) needs no approval and waits this long. */
const DEFAULT_MAX_WAIT_S = 900;
/**
 * The rules are read on every create, so they are cached; this server reloads them when it changes
 * them, and another server's change is seen within this long.
 */
const CACHE_MS = 10_000;

interface Rule {
  needsApproval: boolean;
  maxWaitMs: number;
}

/** The station's two-person rule per level (approval_rules). */
@Injectable()
export class ApprovalPolicyService {
  private cache: { at: number; rules: Map<Level, Rule> } | null = null;

  constructor(
    private readonly repo: ApprovalPolicyRepository,
    private readonly audit: AuditService,
    private readonly clock: Clock,
  ) {}

  async get(): Promise<ApprovalPolicyDto> {
    const rules = await this.rules();
    return {
      levels: LEVELS.map((level) => {
        const r = rules.get(level)!;
        return {
          level,
          needsApproval: r.needsApproval,
          maxWaitMin: Math.round(r.maxWaitMs / 60_000),
        };
      }),
    };
  }

  async put(input: ApprovalRuleDto[], by: string): Promise<ApprovalPolicyDto> {
    const now = this.clock.now().getTime();
    const rows: ApprovalRuleEntity[] = input.map((r) => ({
      level: r.level,
      needsApproval: r.needsApproval,
      maxWaitS: r.maxWaitMin * 60,
      updatedBy: by,
      updatedAt: now,
    }));
    await this.repo.save(rows);
    this.cache = null;
    await this.audit.record({
      actor: by,
      action: 'approval-policy.update',
      detail: { levels: input },
    });
    return this.get();
  }

  async needsApproval(level: Level): Promise<boolean> {
    return (await this.rules()).get(level)!.needsApproval;
  }

  /** How long a draft of this level may wait for its second person. */
  async maxWaitMs(level: Level): Promise<number> {
    return (await this.rules()).get(level)!.maxWaitMs;
  }

  /** Refuses (409 APPROVAL_REQUIRED) a `what` of this level sent without a second person. */
  async requireNoApproval(level: Level, what: 'broadcast' | 'schedule'): Promise<void> {
    if (!(await this.needsApproval(level))) return;
    const how =
      what === 'broadcast'
        ? 'submit it as a draft (POST /api/drafts) for a second person to approve, or send it at once with override.reason'
        : 'submit it as a draft (POST /api/drafts with schedule, or scheduleId and changes) for a second person to approve';
    throw new DomainError<BroadcastErrorCode>(
      'conflict',
      'APPROVAL_REQUIRED',
      `A level ${level} ${what} needs a second person's approval: ${how}`,
    );
  }

  private async rules(): Promise<Map<Level, Rule>> {
    const now = this.clock.now().getTime();
    if (this.cache && now - this.cache.at < CACHE_MS && now >= this.cache.at)
      return this.cache.rules;
    const rows = await this.repo.all();
    const rules = new Map<Level, Rule>();
    for (const level of LEVELS) {
      const row = rows.find((r) => r.level === level);
      rules.set(level, {
        needsApproval: row?.needsApproval ?? false,
        maxWaitMs: (row?.maxWaitS ?? DEFAULT_MAX_WAIT_S) * 1000,
      });
    }
    this.cache = { at: now, rules };
    return rules;
  }
}
