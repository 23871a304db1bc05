import {
  Body,
  Controller,
  Get,
  Headers,
  Param,
  Post,
  Query,
  Res,
  StreamableFile,
} from '@nestjs/common';
import {
  ApiBearerAuth,
  ApiCreatedResponse,
  ApiHeader,
  ApiOkResponse,
  ApiOperation,
  ApiProduces,
  ApiTags,
} from '@nestjs/swagger';
import { CurrentPrincipal, Principal, TownScoped, townsOf } from '../auth/auth.decorators.js';
import { BroadcastDto, ResendBroadcastDto } from '../broadcasts/dto/broadcast.dto.js';
import type { Response } from 'express';
import { ApiErrors } from '../common/api-errors.js';
import { uuidParam } from '../common/validation.js';
import { VillageCodePipe } from '../villages/code.pipes.js';
import { CertificateService } from './certificate.service.js';
import { CoverageService, ReportFile } from './coverage.service.js';
import { SignedCertificateDto } from './dto/certificate.dto.js';
import {
  BroadcastCoverageDto,
  CoverageQuery,
  PeriodQuery,
  PeriodReportDto,
  VillageBroadcastDto,
  VillageHistoryQuery,
} from './dto/coverage.dto.js';

const CSV_NOTE =
  ' With `format=csv`: UTF-8 CSV with BOM (Excel shows Chinese), `label,value` lines for the report, period and ' +
  'generation time, an empty line, then the table; Chinese headers and values unless `lang=en` (codes). ' +
  'With `format=xlsx`: the same lines as an Excel workbook whose text cells stay text (village codes are ' +
  'not turned into numbers) and are never run as formulas.';

function sendFile(res: Response, file: ReportFile): string | StreamableFile {
  res.setHeader('Content-Type', file.contentType);
  res.setHeader('Content-Disposition', `attachment; filename="${file.filename}"`);
  // Nest would send a Buffer as JSON; a StreamableFile goes out as the bytes.
  return typeof file.body === 'string' ? file.body : new StreamableFile(file.body);
}

const XLSX = 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet';

@ApiTags('coverage')
@ApiBearerAuth()
@Controller('api')
export class CoverageController {
  constructor(
    private readonly coverage: CoverageService,
    private readonly certificates: CertificateService,
  ) {}

  @Get('broadcasts/:id/coverage')
  @TownScoped()
  @ApiOperation({
    summary: 'Which targeted villages heard a broadcast, and why the others did not',
    description:
      'Covered (a device reported played, or staff confirmed by hand: counted apart), partial (a device started, ' +
      'none finished) or uncovered with a reason: no_device, failed, all_offline, pending, expired, cancelled. ' +
      'By town and by device type, delivery counts by state, first play per village and the time to 50%, 90% ' +
      'and 100% of villages. A town official gets their villages only, every figure over them (404 for a ' +
      'broadcast reaching none of their towns).' +
      CSV_NOTE,
  })
  @ApiProduces('application/json', 'text/csv', XLSX)
  @ApiOkResponse({ type: BroadcastCoverageDto })
  @ApiErrors(400, 401, 404)
  async broadcast(
    @Param('id', uuidParam('id')) id: string,
    @Query() query: CoverageQuery,
    @Res({ passthrough: true }) res: Response,
    @CurrentPrincipal() principal: Principal,
  ): Promise<BroadcastCoverageDto | string | StreamableFile> {
    const towns = townsOf(principal);
    if (query.format === 'csv' || query.format === 'xlsx')
      return sendFile(
        res,
        await this.coverage.broadcastFile(id, query.lang ?? 'zh', query.format, towns),
      );
    return this.coverage.broadcast(id, query, towns);
  }

  @Get('broadcasts/:id/certificate')
  @ApiOperation({
    summary: "A broadcast's coverage certificate, signed by the server key",
    description:
      "The coverage summary, each village's outcome and time to first sound (the same figures as the " +
      'coverage report), which villages a device confirmed with its own signature (with the proofs and ' +
      "the device keys), and the evidence chain head, signed by the server's active key: `signature` is " +
      'over the RFC 8785 canonical JSON of `certificate`. Check it offline with ' +
      '`node scripts/verify-certificate.mjs` or openssl (docs/certificates.md).',
  })
  @ApiOkResponse({ type: SignedCertificateDto })
  @ApiErrors(400, 401, 404)
  certificate(@Param('id', uuidParam('id')) id: string): Promise<SignedCertificateDto> {
    return this.certificates.certificate(id);
  }

  @Post('broadcasts/:id/resend')
  @ApiTags('broadcasts')
  @ApiOperation({
    summary: 'Resend a broadcast to the villages it did not cover (operator)',
    description:
      'Creates a NEW broadcast (`resendOf` names the original) with the same clip, level, repeat, volume and ' +
      'attention tone and a fresh window, targeting exactly the villages of the original that are uncovered ' +
      'because their devices failed, were offline, or its window closed (`failed`, `all_offline`, `expired`, ' +
      '`cancelled`, and `quiet_hours` once the original ended), keeping its device types (a village reached ' +
      'only through named devices gets just those devices). Villages covered, ' +
      'playing (partial), still being delivered (`pending`) or without a device are left out. ' +
      'Refused with 409: `BROADCAST_NOT_SENT` (never dispatched), `BROADCAST_CANCELLED`, `RESEND_OPEN` (a resend ' +
      'of it is still scheduled, being sent or playing), `NOTHING_UNCOVERED`, ' +
      '`CLIP_GONE` (its clip was deleted).',
  })
  @ApiHeader({
    name: 'Idempotency-Key',
    required: false,
    description:
      'As for POST /api/broadcasts: the same key again answers with the resend it made, never a second one',
  })
  @ApiCreatedResponse({ type: BroadcastDto })
  @ApiErrors(400, 401, 403, 404, 409)
  resend(
    @Param('id', uuidParam('id')) id: string,
    @Body() body: ResendBroadcastDto,
    @CurrentPrincipal() principal: Principal,
    @Headers('idempotency-key') idempotencyKey?: string,
  ): Promise<BroadcastDto> {
    return this.coverage.resend(
      id,
      { expiresAt: body.expiresAt ? Date.parse(body.expiresAt) : undefined },
      principal.name,
      idempotencyKey === undefined
        ? undefined
        : { key: idempotencyKey, owner: principal.credentialId },
    );
  }

  @Get('villages/:code/coverage')
  @TownScoped()
  @ApiOperation({
    summary: 'The latest broadcasts that targeted a village and what came of each there',
    description: 'For a town official: 404 for a village outside their towns.',
  })
  @ApiOkResponse({ type: [VillageBroadcastDto] })
  @ApiErrors(400, 401, 404)
  village(
    @Param('code', VillageCodePipe) code: string,
    @Query() query: VillageHistoryQuery,
    @CurrentPrincipal() principal: Principal,
  ): Promise<VillageBroadcastDto[]> {
    return this.coverage.village(code, query.limit ?? 10, townsOf(principal));
  }

  @Get('reports/coverage')
  @TownScoped()
  @ApiOperation({
    summary:
      'Coverage over a period: by level, mean and worst, per village, availability, usage rate',
    description:
      'Broadcasts starting in [from, to). Coverage counts broadcasts that were dispatched and not cancelled. ' +
      'Per village: covered / targeted, flagged below `threshold`; availability is the mean share of the period ' +
      '(up to now) its enabled devices were online. Usage rate: villages whose devices played at least one ' +
      'broadcast in the period / all villages.' +
      CSV_NOTE +
      " `table=broadcasts` gives the per-broadcast table instead of the per-village one. A town official's " +
      "report is over their towns' villages and the broadcasts reaching them, every figure over those villages.",
  })
  @ApiProduces('application/json', 'text/csv', XLSX)
  @ApiOkResponse({ type: PeriodReportDto })
  @ApiErrors(400, 401)
  async period(
    @Query() query: PeriodQuery,
    @Res({ passthrough: true }) res: Response,
    @CurrentPrincipal() principal: Principal,
  ): Promise<PeriodReportDto | string | StreamableFile> {
    const towns = townsOf(principal);
    if (query.format === 'csv' || query.format === 'xlsx')
      return sendFile(res, await this.coverage.periodFile(query, query.format, towns));
    return this.coverage.period(query, towns);
  }
}
