import { Body, Controller, Get, Headers, HttpCode, Param, Post, Query } from '@nestjs/common';
import {
  ApiBearerAuth,
  ApiCreatedResponse,
  ApiHeader,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
} from '@nestjs/swagger';
import {
  CurrentPrincipal,
  Principal,
  RequireRole,
  TownScoped,
  townsOf,
} from '../auth/auth.decorators.js';
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
  @TownScoped()
  @RequireRole('town_official')
  @ApiOperation({
    summary: 'Create a broadcast (operator; a town official: routine or test within their towns)',
    description:
      'The clip must be ready and the window open. Without startAt it is sent now: the response comes once the ' +
      'deliveries exist and the commands to the devices online are out — or at once, still `scheduled`, when its ' +
      'audio (the clip with its attention tone) is still being made: it goes out the moment that is ready, never ' +
      'waiting behind routine transcoding. Devices offline get it when they come back, ' +
      'until expiresAt (the latest start). Routine and test broadcasts wait for a village’s quiet hours to end; emergencies (I–IV) do not. ' +
      'A town official may send routine and test broadcasts whose whole target lies in their towns; anything else is refused (403 `OUT_OF_SCOPE`). ' +
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
        towns: townsOf(principal),
        actor: {
          actorRole: principal.role,
          actorUserId: principal.userId,
          viaToken: principal.via === 'token' ? principal.tokenName : null,
        },
      },
    );
  }

  @Post('target-preview')
  @TownScoped()
  @RequireRole('town_official')
  @HttpCode(200)
  @ApiOperation({
    summary: 'How many villages and devices a target reaches now, without sending (operator)',
    description:
      'A town official may preview only targets within their towns (else 403 `OUT_OF_SCOPE`).',
  })
  @ApiOkResponse({ type: TargetPreviewDto })
  @ApiErrors(400, 401, 403)
  previewTarget(
    @Body() body: TargetDto,
    @CurrentPrincipal() principal: Principal,
  ): Promise<TargetPreviewDto> {
    return this.broadcasts.previewTarget(body, townsOf(principal));
  }

  @Get()
  @TownScoped()
  @ApiOperation({
    summary: 'List broadcasts, newest first, with delivery counts by state',
    description:
      'A town official sees the broadcasts reaching their towns, with villages and deliveries counted over their villages only.',
  })
  @ApiOkResponse({ type: BroadcastPageDto })
  @ApiErrors(400, 401)
  list(
    @Query() query: BroadcastQuery,
    @CurrentPrincipal() principal: Principal,
  ): Promise<Page<BroadcastDto>> {
    return this.broadcasts.list(query, townsOf(principal));
  }

  @Get(':id')
  @TownScoped()
  @ApiOperation({
    summary: 'Get a broadcast with its delivery counts by state',
    description:
      'For a town official: 404 unless it reaches their towns; counts over their villages only.',
  })
  @ApiOkResponse({ type: BroadcastDto })
  @ApiErrors(400, 401, 404)
  get(
    @Param('id', uuidParam('id')) id: string,
    @CurrentPrincipal() principal: Principal,
  ): Promise<BroadcastDto> {
    return this.broadcasts.get(id, townsOf(principal));
  }

  @Post(':id/cancel')
  @TownScoped()
  @RequireRole('town_official')
  @HttpCode(200)
  @ApiOperation({
    summary:
      'Cancel a broadcast (operator), with a reason: devices are told to stop; open deliveries end cancelled',
    description:
      'The reason and who cancelled are kept (`endReason`, `cancelledBy`). A town official cancels only ' +
      'routine and test broadcasts wholly within their towns (else 403 `OUT_OF_SCOPE`).',
  })
  @ApiOkResponse({ type: BroadcastDto })
  @ApiErrors(400, 401, 403, 404, 409)
  cancel(
    @Param('id', uuidParam('id')) id: string,
    @Body() body: CancelBroadcastDto,
    @CurrentPrincipal() principal: Principal,
  ): Promise<BroadcastDto> {
    return this.broadcasts.cancel(id, body.reason, principal.name, townsOf(principal));
  }

  @Get(':id/deliveries')
  @TownScoped()
  @ApiOperation({
    summary: 'The deliveries of a broadcast, one per device; filter by state or village',
  })
  @ApiOkResponse({ type: DeliveryPageDto })
  @ApiErrors(400, 401, 404)
  deliveries(
    @Param('id', uuidParam('id')) id: string,
    @Query() query: DeliveryQuery,
    @CurrentPrincipal() principal: Principal,
  ): Promise<Page<DeliveryDto>> {
    return this.broadcasts.deliveries(id, query, townsOf(principal));
  }

  @Get(':id/deliveries/:deliveryId/events')
  @TownScoped()
  @ApiOperation({
    summary:
      'Every change of one delivery: from, to, source (mqtt, manual, system), device and server time',
  })
  @ApiOkResponse({ type: [DeliveryEventDto] })
  @ApiErrors(400, 401, 404)
  deliveryEvents(
    @Param('id', uuidParam('id')) id: string,
    @Param('deliveryId', uuidParam('deliveryId')) deliveryId: string,
    @CurrentPrincipal() principal: Principal,
  ): Promise<DeliveryEventDto[]> {
    return this.broadcasts.deliveryEvents(id, deliveryId, townsOf(principal));
  }

  @Post(':id/confirmations')
  @TownScoped()
  @RequireRole('town_official')
  @ApiOperation({
    summary:
      'Confirm by hand that a village (or device) heard it (operator): how, when and who; reported apart from device confirmations',
    description:
      'Refused (409) before it was sent and once it was cancelled. `heardAt` may be neither in the future nor ' +
      'before the broadcast started (a minute of slack each way). A device confirming later does not replace it. ' +
      'A town official confirms villages of their towns only (else 403 `OUT_OF_SCOPE`).',
  })
  @ApiCreatedResponse({ type: ManualConfirmationDto })
  @ApiErrors(400, 401, 403, 404, 409)
  confirm(
    @Param('id', uuidParam('id')) id: string,
    @Body() body: ConfirmationDto,
    @CurrentPrincipal() principal: Principal,
  ): Promise<ManualConfirmationDto> {
    return this.manual.confirm(id, body, principal.name, townsOf(principal));
  }

  @Post(':id/confirmations/:confirmationId/withdraw')
  @HttpCode(200)
  // Scoped for when a town role may withdraw; today the admin role already keeps town officials out.
  @TownScoped()
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
    return this.manual.withdrawConfirmation(
      id,
      confirmationId,
      body.reason,
      principal.name,
      townsOf(principal),
    );
  }

  @Get(':id/confirmations')
  @TownScoped()
  @ApiOperation({
    summary: 'The manual confirmations of a broadcast, withdrawn ones too',
    description: 'A town official sees those of their villages only.',
  })
  @ApiOkResponse({ type: [ManualConfirmationDto] })
  @ApiErrors(400, 401, 404)
  confirmations(
    @Param('id', uuidParam('id')) id: string,
    @CurrentPrincipal() principal: Principal,
  ): Promise<ManualConfirmationDto[]> {
    return this.manual.list(id, townsOf(principal));
  }
}
