import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { Repository } from 'typeorm';
import { WriteQueue } from '../database/write-queue.js';
import { ApprovalRuleEntity } from './approval-rule.entity.js';

/** The only file that speaks TypeORM for approval_rules. */
@Injectable()
export class ApprovalPolicyRepository {
  constructor(
    @InjectRepository(ApprovalRuleEntity) private readonly rules: Repository<ApprovalRuleEntity>,
    private readonly writes: WriteQueue,
  ) {}

  all(): Promise<ApprovalRuleEntity[]> {
    return this.rules.find();
  }

  async save(rows: ApprovalRuleEntity[]): Promise<void> {
    await this.writes.run(async (m) => {
      for (const row of rows) await m.save(ApprovalRuleEntity, row);
    });
  }
}
