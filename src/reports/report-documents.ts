import { Injectable } from '@nestjs/common';
import { Clock } from '../common/clock.js';
import { ValidationFailedError } from '../common/domain-error.js';
import { raw, xmlDocument } from '../common/xml-writer.js';
import { parseBound } from '../common/zoned-time.js';
import type { BrdLogQuery } from './dto/reports.dto.js';
import { GytReports } from './gyt-reports.js';

const DAY_MS = 86_400_000;
/** A log spans at most this long, as period reports do. */
const MAX_LOG_MS = 367 * DAY_MS;
/** Days in a query are Beijing's days, as the report's times are. */
const BEIJING = 'Asia/Shanghai';

/** The GY/T elements as documents for the API (the superior link takes the elements themselves). */
@Injectable()
export class ReportDocuments {
  constructor(
    private readonly gyt: GytReports,
    private readonly clock: Clock,
  ) {}

  async ebm(id: string): Promise<string> {
    return xmlDocument(raw(await this.gyt.ebm(id)));
  }

  async ebmStateResponse(id: string): Promise<string> {
    return xmlDocument(raw(await this.gyt.ebmStateResponse(id)));
  }

  async terminalStates(deviceIds?: string[]): Promise<string> {
    return xmlDocument(raw(await this.gyt.terminalStates(deviceIds)));
  }

  /** 400 for a bound that is neither a day nor an instant with a zone, from ≥ to, or over 367 days. */
  async ebmBrdLog(query: BrdLogQuery): Promise<string> {
    const problem = (field: string, rule: string, message: string) =>
      new ValidationFailedError([{ field, rule, message }]);
    const now = this.clock.now().getTime();
    const to = query.to === undefined ? now : parseBound(query.to, BEIJING, true);
    if (to === null)
      throw problem(
        'to',
        'dayOrInstant',
        'to: give a day (2026-11-30) or an ISO 8601 time with a zone',
      );
    const from = query.from === undefined ? to - DAY_MS : parseBound(query.from, BEIJING, false);
    if (from === null)
      throw problem(
        'from',
        'dayOrInstant',
        'from: give a day (2026-11-01) or an ISO 8601 time with a zone',
      );
    if (from >= to) throw problem('from', 'beforeTo', 'from must be before to');
    if (to - from > MAX_LOG_MS)
      throw problem('to', 'maxSpan', 'A log spans at most 367 days; ask for one year at a time');
    return xmlDocument(raw(await this.gyt.ebmBrdLog(from, to)));
  }
}
