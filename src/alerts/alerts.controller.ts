import {
  Body,
  Controller,
  Delete,
  Get,
  HttpCode,
  Param,
  Post,
  Put,
  Query,
  Req,
  Res,
} from '@nestjs/common';
import {
  ApiBearerAuth,
  ApiBody,
  ApiConsumes,
  ApiCreatedResponse,
  ApiNoContentResponse,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
} from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { CurrentPrincipal, Principal, RequireRole } from '../auth/auth.decorators.js';
import { ApiErrors } from '../common/api-errors.js';
import { DomainError } from '../common/domain-error.js';
import { Page } from '../common/pagination.js';
import { uuidParam } from '../common/validation.js';
import type { AlertErrorCode } from './alert-errors.js';
import { AlertsService, toAlertDto } from './alerts.service.js';
import {
  AlertDetailDto,
  AlertDto,
  AlertPageDto,
  AlertQuery,
  AlertSenderDto,
  PickLevelDto,
  PutAlertSenderDto,
} from './dto/alert.dto.js';

const uuid = uuidParam();

/** Content types a CAP message may come as; http-app.ts reads them as raw bytes on /api/alerts. */
export const ALERT_CONTENT_TYPES = ['application/cap+xml', 'application/xml', 'text/xml'];

@ApiTags('alerts')
@ApiBearerAuth()
@Controller('api/alerts')
export class AlertsController {
  constructor(private readonly alerts: AlertsService) {}

  @Post()
  @RequireRole('operator')
  @ApiOperation({
    summary: 'Receive a CAP 1.2 alert (operator, or a feed’s machine token with role operator)',
    description:
      'The body is the CAP XML (Content-Type application/cap+xml, application/xml or text/xml; at most ' +
      'ALERT_MAX_BYTES, 413 beyond). Parsed safely (no DTD, entities or XInclude), validated against the CAP 1.2 ' +
      'schema and rules, its signature checked against the sender’s policy, then mapped (docs/alerts.md): ' +
      'broadcast at once for a trusted sender and severity, else drafted for an operator. 201 with what was done; ' +
      '200 for the same (sender, identifier, sent) again (outcome `duplicate`, nothing changed); 400 ' +
      'ALERT_REFUSED with `details.rule` for every refusal, 422 ALERT_OUT_OF_AREA when it touches no village of ' +
      'this county. Every message is recorded, refused or not.',
  })
  @ApiConsumes(...ALERT_CONTENT_TYPES)
  @ApiBody({ schema: { type: 'string', format: 'xml' } })
  @ApiCreatedResponse({ type: AlertDto })
  @ApiOkResponse({ type: AlertDto, description: 'A duplicate: nothing changed' })
  @ApiErrors(400, 401, 403, 413, 415, 422, 503)
  async receive(
    @Req() req: Request,
    @Res({ passthrough: true }) res: Response,
    @CurrentPrincipal() p: Principal,
  ): Promise<AlertDto> {
    if (!Buffer.isBuffer(req.body))
      throw new DomainError<AlertErrorCode>(
        'unsupported',
        'ALERT_NOT_XML',
        `Send the CAP message as XML (Content-Type ${ALERT_CONTENT_TYPES.join(', ')})`,
      );
    const alert = await this.alerts.receive(req.body, {
      source: 'api',
      ref: p.name,
      by: p.name,
    });
    if (alert.outcome === 'duplicate') res.status(200);
    return toAlertDto(alert);
  }

  @Get()
  @ApiOperation({ summary: 'The alerts inbox, newest first (filter by outcome, source)' })
  @ApiOkResponse({ type: AlertPageDto })
  @ApiErrors(400, 401, 403)
  list(@Query() query: AlertQuery): Promise<Page<AlertDto>> {
    return this.alerts.list(query);
  }

  @Get(':id')
  @ApiOperation({ summary: 'One alert with its XML as received and the villages it touches' })
  @ApiOkResponse({ type: AlertDetailDto })
  @ApiErrors(400, 401, 403, 404)
  get(@Param('id', uuid) id: string): Promise<AlertDetailDto> {
    return this.alerts.get(id);
  }

  @Post(':id/broadcast')
  @HttpCode(200)
  @RequireRole('operator')
  @ApiOperation({
    summary: 'Pick the level of an alert of Unknown severity (operator): its broadcast is made',
    description:
      'Only for outcome `needs_level` (else 409 ALERT_LEVEL_NOT_NEEDED), not once its `expires` has passed ' +
      '(409 ALERT_EXPIRED) nor after an Update or Cancel of its sender referenced it (409 ALERT_SUPERSEDED); ' +
      'either of those settles the alert as `recorded` (the reason says why; a sweep does so every minute too). ' +
      'Sent at once, or drafted by the caller for a second person when the level needs approval ' +
      '(GET /api/approval-policy); expiresAt is the alert’s `expires`.',
  })
  @ApiOkResponse({ type: AlertDetailDto })
  @ApiErrors(400, 401, 403, 404, 409)
  broadcast(
    @Param('id', uuid) id: string,
    @Body() body: PickLevelDto,
    @CurrentPrincipal() p: Principal,
  ): Promise<AlertDetailDto> {
    return this.alerts.broadcastAt(id, body.level, p);
  }
}

@ApiTags('alerts')
@ApiBearerAuth()
@Controller('api/alert-senders')
@RequireRole('admin')
export class AlertSendersController {
  constructor(private readonly alerts: AlertsService) {}

  @Get()
  @ApiOperation({
    summary: 'Senders the station knows: policy, trusted certificates, what goes out alone (admin)',
  })
  @ApiOkResponse({ type: [AlertSenderDto] })
  @ApiErrors(401, 403)
  list(): Promise<AlertSenderDto[]> {
    return this.alerts.senders();
  }

  @Get(':sender')
  @ApiOperation({ summary: 'One sender (admin)' })
  @ApiOkResponse({ type: AlertSenderDto })
  @ApiErrors(401, 403, 404)
  get(@Param('sender') sender: string): Promise<AlertSenderDto> {
    return this.alerts.sender(sender);
  }

  @Put(':sender')
  @ApiOperation({
    summary: 'Create or replace a sender’s policy (admin)',
    description:
      '`sender` is the CAP `sender` exactly. Certificates are PEM X.509 (400 for one that is not). An unknown ' +
      'sender is treated as `accept_unsigned` with nothing sent without a person.',
  })
  @ApiOkResponse({ type: AlertSenderDto })
  @ApiErrors(400, 401, 403)
  put(
    @Param('sender') sender: string,
    @Body() body: PutAlertSenderDto,
    @CurrentPrincipal() p: Principal,
  ): Promise<AlertSenderDto> {
    return this.alerts.putSender(sender, body, p.name);
  }

  @Delete(':sender')
  @HttpCode(204)
  @ApiOperation({
    summary: 'Forget a sender: its alerts are then treated as an unknown sender’s (admin)',
  })
  @ApiNoContentResponse()
  @ApiErrors(401, 403, 404)
  remove(@Param('sender') sender: string, @CurrentPrincipal() p: Principal): Promise<void> {
    return this.alerts.deleteSender(sender, p.name);
  }
}
