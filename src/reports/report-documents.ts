import { Injectable } from '@nestjs/common';
import { Clock } from '../common/clock.js';
import { raw, xmlDocument } from '../common/xml-writer.js';
import { parsePeriod } from '../common/period.js';
import type { BrdLogQuery } from './dto/reports.dto.js';
import { GytReports } from './gyt-reports.js';

const DAY_MS = 86_400_000;
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
    const { from, to } = parsePeriod(query, {
      now: this.clock.now().getTime(),
      timeZone: BEIJING,
      defaultSpanMs: DAY_MS,
      what: 'A log',
    });
    return xmlDocument(raw(await this.gyt.ebmBrdLog(from, to)));
  }
}
