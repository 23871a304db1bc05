import { Body, Controller, Get, Headers, HttpCode, Param, Post, Query } from '@nestjs/common';
import {
  ApiBearerAuth,
  ApiCreatedResponse,
  ApiHeader,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
} from '@nestjs/swagger';
import { CurrentPrincipal, Principal, RequireRole } from '../auth/auth.decorators.js';
import { ApiErrors } from '../common/api-errors.js';
import { Page } from '../common/pagination.js';
import { uuidParam } from '../common/validation.js';
import { BroadcastsService } from './broadcasts.service.js';
import { ConfirmationsService } from './confirmations.service.js';
import {
  BroadcastDto,
  BroadcastPageDto,
  BroadcastQuery,
  CancelBroadcastDto,
  ConfirmationDto,
  CreateBroadcastDto,
  DeliveryDto,
  DeliveryEventDto,
  DeliveryPageDto,
  DeliveryQuery,
  ManualConfirmationDto,
  TargetDto,
  TargetPreviewDto,
  WithdrawConfirmationDto,
} from './dto/broadcast.dto.js';

@ApiTags('broadcasts')
@ApiBearerAuth()
@Controller('api/broadcasts')
export class BroadcastsController {
  constructor(
    private readonly broadcasts: BroadcastsService,
    private readonly manual: ConfirmationsService,
  ) {}

  @Post()
  @ApiOperation({
    summary: 'Create a broadcast (operator)',
    description:
      'The clip must be ready and the window open. Without startAt it is sent now: the response comes once the ' +
      'deliveries exist and the commands to the devices online are out — or at once, still `scheduled`, when its ' +
      'audio (the clip with its attention tone) is still being made: it goes out the moment that is ready, never ' +
      'waiting behind routine transcoding. Devices offline get it when they come back, ' +
      'until expiresAt (the latest start). Routine and test broadcasts wait for a village’s quiet hours to end; emergencies (I–IV) do not. ' +
      'A level that needs a second person (GET /api/approval-policy) is refused (409 APPROVAL_REQUIRED): submit it as a draft ' +
      '(POST /api/drafts), or send it at once with `override.reason` (flagged on the broadcast, its report and in the audit log).',
  })
  @ApiHeader({
    name: 'Idempotency-Key',
    required: false,
    description:
      'Any 1–100 visible ASCII characters, new for each broadcast. Sending the same request again with the same key ' +
      '(the first got no answer) answers with the broadcast it created instead of a second one; the same key with a ' +
      'different request is refused (409).',
  })
  @ApiCreatedResponse({ type: BroadcastDto })
  @ApiErrors(400, 401, 403, 409)
  create(
    @Body() body: CreateBroadcastDto,
    @CurrentPrincipal() principal: Principal,
    @Headers('idempotency-key') idempotencyKey?: string,
  ): Promise<BroadcastDto> {
    const { override, ...request } = body;
    return this.broadcasts.create(
      {
        ...request,
        startAt: request.startAt ? Date.parse(request.startAt) : undefined,
        expiresAt: request.expiresAt ? Date.parse(request.expiresAt) : undefined,
      },
      principal.name,
      {
        override,
        idempotency:
          idempotencyKey === undefined
            ? undefined
            : { key: idempotencyKey, owner: principal.credentialId },
      },
    );
  }

  @Post('target-preview')
  @HttpCode(200)
  @ApiOperation({
    summary: 'How many villages and devices a target reaches now, without sending (operator)',
  })
  @ApiOkResponse({ type: TargetPreviewDto })
  @ApiErrors(400, 401, 403)
  previewTarget(@Body() body: TargetDto): Promise<TargetPreviewDto> {
    return this.broadcasts.previewTarget(body);
  }

  @Get()
  @ApiOperation({ summary: 'List broadcasts, newest first, with delivery counts by state' })
  @ApiOkResponse({ type: BroadcastPageDto })
  @ApiErrors(400, 401)
  list(@Query() query: BroadcastQuery): Promise<Page<BroadcastDto>> {
    return this.broadcasts.list(query);
  }

  @Get(':id')
  @ApiOperation({ summary: 'Get a broadcast with its delivery counts by state' })
  @ApiOkResponse({ type: BroadcastDto })
  @ApiErrors(400, 401, 404)
  get(@Param('id', uuidParam('id')) id: string): Promise<BroadcastDto> {
    return this.broadcasts.get(id);
  }

  @Post(':id/cancel')
  @HttpCode(200)
  @ApiOperation({
    summary:
      'Cancel a broadcast (operator), with a reason: devices are told to stop; open deliveries end cancelled',
    description: 'The reason and who cancelled are kept (`endReason`, `cancelledBy`).',
  })
  @ApiOkResponse({ type: BroadcastDto })
  @ApiErrors(400, 401, 403, 404, 409)
  cancel(
    @Param('id', uuidParam('id')) id: string,
    @Body() body: CancelBroadcastDto,
    @CurrentPrincipal() principal: Principal,
  ): Promise<BroadcastDto> {
    return this.broadcasts.cancel(id, body.reason, principal.name);
  }

  @Get(':id/deliveries')
  @ApiOperation({
    summary: 'The deliveries of a broadcast, one per device; filter by state or village',
  })
  @ApiOkResponse({ type: DeliveryPageDto })
  @ApiErrors(400, 401, 404)
  deliveries(
    @Param('id', uuidParam('id')) id: string,
    @Query() query: DeliveryQuery,
  ): Promise<Page<DeliveryDto>> {
    return this.broadcasts.deliveries(id, query);
  }

  @Get(':id/deliveries/:deliveryId/events')
  @ApiOperation({
    summary:
      'Every change of one delivery: from, to, source (mqtt, manual, system), device and server time',
  })
  @ApiOkResponse({ type: [DeliveryEventDto] })
  @ApiErrors(400, 401, 404)
  deliveryEvents(
    @Param('id', uuidParam('id')) id: string,
    @Param('deliveryId', uuidParam('deliveryId')) deliveryId: string,
  ): Promise<DeliveryEventDto[]> {
    return this.broadcasts.deliveryEvents(id, deliveryId);
  }

  @Post(':id/confirmations')
  @ApiOperation({
    summary:
      'Confirm by hand that a village (or device) heard it (operator): how, when and who; reported apart from device confirmations',
    description:
      'Refused (409) before it was sent and once it was cancelled. `heardAt` may be neither in the future nor ' +
      'before the broadcast started (a minute of slack each way). A device confirming later does not replace it.',
  })
  @ApiCreatedResponse({ type: ManualConfirmationDto })
  @ApiErrors(400, 401, 403, 404, 409)
  confirm(
    @Param('id', uuidParam('id')) id: string,
    @Body() body: ConfirmationDto,
    @CurrentPrincipal() principal: Principal,
  ): Promise<ManualConfirmationDto> {
    return this.manual.confirm(id, body, principal.name);
  }

  @Post(':id/confirmations/:confirmationId/withdraw')
  @HttpCode(200)
  @RequireRole('admin')
  @ApiOperation({
    summary: 'Withdraw a manual confirmation that did not hold up (admin), with a reason',
    description:
      'It stays on record with who withdrew it, when and why (and in the audit log); coverage and the ' +
      'outcome go back to what the devices and the other confirmations say.',
  })
  @ApiOkResponse({ type: ManualConfirmationDto })
  @ApiErrors(400, 401, 403, 404, 409)
  withdraw(
    @Param('id', uuidParam('id')) id: string,
    @Param('confirmationId', uuidParam('confirmationId')) confirmationId: string,
    @Body() body: WithdrawConfirmationDto,
    @CurrentPrincipal() principal: Principal,
  ): Promise<ManualConfirmationDto> {
    return this.manual.withdrawConfirmation(id, confirmationId, body.reason, principal.name);
  }

  @Get(':id/confirmations')
  @ApiOperation({ summary: 'The manual confirmations of a broadcast, withdrawn ones too' })
  @ApiOkResponse({ type: [ManualConfirmationDto] })
  @ApiErrors(400, 401, 404)
  confirmations(@Param('id', uuidParam('id')) id: string): Promise<ManualConfirmationDto[]> {
    return this.manual.list(id);
  }
}
