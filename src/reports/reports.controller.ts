import { Controller, Get, Header, Param, Query, Req } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiOperation, ApiProduces, ApiTags } from '@nestjs/swagger';
import type { Request } from 'express';
import { ApiErrors } from '../common/api-errors.js';
import { uuidParam } from '../common/validation.js';
import { CAP_CONTENT_TYPE, CapOut, FEED_ENTRIES } from './cap-out.js';
import { BrdLogQuery, TerminalStatesQuery } from './dto/reports.dto.js';
import { ReportDocuments } from './report-documents.js';

const XML = 'application/xml; charset=utf-8';
const ATOM = 'application/atom+xml; charset=utf-8';
const XML_BODY = { description: 'XML', schema: { type: 'string' } };
const GYT_NOTE =
  ' GY/T-style XML (GD/J 079–089-2018 codes; docs/reports.md has every element and code), ' +
  'one element with the XML declaration, no EBD package around it; times in Beijing time.';

@ApiTags('reports')
@ApiBearerAuth()
@Controller('api')
export class ReportsController {
  constructor(
    private readonly cap: CapOut,
    private readonly documents: ReportDocuments,
  ) {}

  @Get('broadcasts/:id/cap')
  @Header('Content-Type', `${CAP_CONTENT_TYPE}; charset=utf-8`)
  @ApiOperation({
    summary: 'A broadcast as a CAP 1.2 message',
    description:
      'identifier in GB/T 35965.1 form, sender STATION_SENDER, status Actual/Test/Exercise from its level and ' +
      'alert, msgType Alert (Cancel, referencing the Alert, once it was cancelled), one zh-CN info, the ' +
      'villages as 12-digit geocodes, the clip as resource (size, SHA-1 digest, its audio URL).',
  })
  @ApiProduces(CAP_CONTENT_TYPE)
  @ApiOkResponse(XML_BODY)
  @ApiErrors(400, 401, 403, 404)
  async capOf(@Param('id', uuidParam('id')) id: string): Promise<string> {
    return (await this.cap.capOf(id)).xml;
  }

  @Get('feeds/alerts.atom')
  @Header('Content-Type', ATOM)
  @ApiOperation({
    summary: "Atom feed of the county's latest broadcasts, each with its CAP inline",
    description:
      `The latest ${FEED_ENTRIES} broadcasts, newest first; each entry carries its CAP message as ` +
      '`<content type="application/cap+xml">` and links to GET /api/broadcasts/{id}/cap. For a feed ' +
      'reader: a viewer token (a machine token with role viewer).',
  })
  @ApiProduces('application/atom+xml')
  @ApiOkResponse(XML_BODY)
  @ApiErrors(401, 403)
  feed(@Req() req: Request): Promise<string> {
    return this.cap.feed(`${req.protocol}://${req.get('host')}${req.originalUrl.split('?')[0]}`);
  }

  @Get('broadcasts/:id/ebm')
  @Header('Content-Type', XML)
  @ApiOperation({
    summary: 'A broadcast as an EBM (emergency-broadcast message)',
    description:
      'MsgType, Severity 1–4 (0 for routine and test), AreaCode (12-digit codes), StartTime/EndTime, the ' +
      'clip as Auxiliary with size and SHA-256 digest.' +
      GYT_NOTE,
  })
  @ApiProduces('application/xml')
  @ApiOkResponse(XML_BODY)
  @ApiErrors(400, 401, 403, 404)
  ebm(@Param('id', uuidParam('id')) id: string): Promise<string> {
    return this.documents.ebm(id);
  }

  @Get('broadcasts/:id/ebm-state')
  @Header('Content-Type', XML)
  @ApiOperation({
    summary: "A broadcast's state (EBMStateResponse)",
    description:
      'BrdStateCode, coverage rate and covered villages (the coverage report’s figures), and each device’s ' +
      'start, end and state.' +
      GYT_NOTE,
  })
  @ApiProduces('application/xml')
  @ApiOkResponse(XML_BODY)
  @ApiErrors(400, 401, 403, 404)
  ebmState(@Param('id', uuidParam('id')) id: string): Promise<string> {
    return this.documents.ebmStateResponse(id);
  }

  @Get('reports/ebm-brd-log')
  @Header('Content-Type', XML)
  @ApiOperation({
    summary: 'The broadcast log of a period (EBMBrdLog)',
    description:
      'Every broadcast starting in [from, to) with its EBM, who sent it, its state and coverage; at most 367 days.' +
      GYT_NOTE,
  })
  @ApiProduces('application/xml')
  @ApiOkResponse(XML_BODY)
  @ApiErrors(400, 401, 403)
  brdLog(@Query() query: BrdLogQuery): Promise<string> {
    return this.documents.ebmBrdLog(query);
  }

  @Get('reports/terminal-states')
  @Header('Content-Type', XML)
  @ApiOperation({
    summary: 'Terminal state reports (EBRDTState) of the device registry',
    description:
      'StateCode per device: 1 online, 2 offline (or disabled), 3 fault, 4 recovered, 5 playing ' +
      '(docs/reports.md says when each applies).' +
      GYT_NOTE,
  })
  @ApiProduces('application/xml')
  @ApiOkResponse(XML_BODY)
  @ApiErrors(400, 401, 403, 404)
  terminalStates(@Query() query: TerminalStatesQuery): Promise<string> {
    return this.documents.terminalStates(query.devices);
  }
}
