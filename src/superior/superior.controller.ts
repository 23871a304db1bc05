import { Controller, Get, HttpCode, Post, Query, Req, Res } from '@nestjs/common';
import {
  ApiBearerAuth,
  ApiBody,
  ApiConsumes,
  ApiOkResponse,
  ApiOperation,
  ApiProduces,
  ApiTags,
} from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { Public, RequireRole } from '../auth/auth.decorators.js';
import { ApiErrors } from '../common/api-errors.js';
import type { Page } from '../common/pagination.js';
import {
  SuperiorPackageDto,
  SuperiorPackagePageDto,
  SuperiorPackageQuery,
  SuperiorStatusDto,
} from './dto/superior.dto.js';
import { packageFileName } from './ebd-package.js';
import { readPackageBody } from './package-body.js';
import { INBOUND_MAX_BYTES, SuperiorInbound } from './superior-inbound.js';
import { SuperiorLink } from './superior-link.js';

@ApiTags('superior')
@Controller('api/superior')
export class SuperiorController {
  constructor(private readonly link: SuperiorLink) {}

  @Get('packages')
  @ApiBearerAuth()
  @RequireRole('admin')
  @ApiOperation({
    summary:
      'Packages exchanged with the superior platform, newest first, with their receipts (admin)',
    description:
      'Outgoing state reports (EBMStateResponse, EBRDTState) with their attempts and receipts, and inbound packages ' +
      '(EBMs) with the receipt answered. Heartbeats either way and refused inbound packages are not stored (see the status).',
  })
  @ApiOkResponse({ type: SuperiorPackagePageDto })
  @ApiErrors(400, 401, 403)
  list(@Query() query: SuperiorPackageQuery): Promise<Page<SuperiorPackageDto>> {
    return this.link.list(query);
  }

  @Get('status')
  @ApiBearerAuth()
  @ApiOperation({
    summary: 'The superior link: on or off, up or backing off, the key it signs with, what waits',
  })
  @ApiOkResponse({ type: SuperiorStatusDto })
  @ApiErrors(401)
  status(): Promise<SuperiorStatusDto> {
    return this.link.status();
  }
}

/**
 * The package endpoint the superior platform posts to. It sits outside /api because it takes no
 * token: the package's own signature is the credential (checked before anything is acted on).
 */
@ApiTags('superior')
@Controller('superior')
export class SuperiorEbdController {
  constructor(private readonly inbound: SuperiorInbound) {}

  @Post('ebd')
  @Public()
  @HttpCode(200)
  @ApiOperation({
    summary: 'Receive an EBD package from the superior platform (its signature is the credential)',
    description:
      'The package (`EBDT_<EBDID>.tar` with `EBDB_<EBDID>.xml` and its signature file) as the one file of a ' +
      'multipart/form-data upload or as the raw body (application/x-tar). It must verify against ' +
      'SUPERIOR_PUBLIC_KEY (checked before the EBDB is parsed) and come from SUPERIOR_EBR_ID to EBR_ID with an ' +
      'EBDTime within 24 h, else it is refused (ResultCode 4 or 2, an unsigned receipt), logged and counted, ' +
      'never stored. An EBM becomes an alert (source `superior`); an EBMStateRequest or an OMDRequest (EBRDTState, ' +
      'EBMBrdLog) queues the report asked for, sent up through the outbox. The answer is a signed EBDResponse package; ' +
      'the same EBDID again gets the same receipt. 404 SUPERIOR_LINK_OFF without SUPERIOR_URL; 503 when the ' +
      'station cannot sign; 413 over 8 MiB; 400 PACKAGE_UNREADABLE when no receipt can be made (not a tar, ' +
      'no EBDB). See docs/superior.md.',
  })
  @ApiConsumes('multipart/form-data', 'application/x-tar', 'application/octet-stream')
  @ApiBody({ schema: { type: 'string', format: 'binary' } })
  @ApiProduces('application/x-tar')
  @ApiOkResponse({
    description: 'The signed EBDResponse package',
    schema: { type: 'string', format: 'binary' },
  })
  @ApiErrors(400, 404, 413, 503)
  async receive(@Req() req: Request, @Res() res: Response): Promise<void> {
    const signer = await this.inbound.ready();
    const body = await readPackageBody(req, res, INBOUND_MAX_BYTES);
    const answer = await this.inbound.receive(body, signer);
    res
      .status(200)
      .type('application/x-tar')
      .set('Content-Disposition', `attachment; filename="${packageFileName(answer.ebdId)}"`)
      .set('X-EBD-Result-Code', answer.resultCode)
      .send(answer.tar);
  }
}
