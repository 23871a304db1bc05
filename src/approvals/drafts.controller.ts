import { Body, Controller, Get, HttpCode, Param, Post, Query } from '@nestjs/common';
import {
  ApiBearerAuth,
  ApiCreatedResponse,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
} from '@nestjs/swagger';
import { CurrentPrincipal, Principal } from '../auth/auth.decorators.js';
import { ApiErrors } from '../common/api-errors.js';
import { Page } from '../common/pagination.js';
import { uuidParam } from '../common/validation.js';
import { DraftsService } from './drafts.service.js';
import {
  ApprovedDraftDto,
  CreateDraftDto,
  DraftDto,
  DraftPageDto,
  DraftQuery,
  RejectDraftDto,
} from './dto/draft.dto.js';

const uuid = uuidParam();

@ApiTags('approvals')
@ApiBearerAuth()
@Controller('api/drafts')
export class DraftsController {
  constructor(private readonly drafts: DraftsService) {}

  @Post()
  @ApiOperation({
    summary: 'Submit a broadcast or schedule for a second person’s approval (operator)',
    description:
      'Give exactly one of `broadcast`, `schedule`, or `scheduleId` with `changes`. It is checked exactly as sending or ' +
      'saving it would be (400 otherwise) and refused (409 APPROVAL_NOT_NEEDED) when its level needs no approval. It ' +
      'waits until the level’s maxWaitMin (a broadcast: never past its own expiresAt), then expires.',
  })
  @ApiCreatedResponse({ type: DraftDto })
  @ApiErrors(400, 401, 403, 404, 409)
  create(@Body() body: CreateDraftDto, @CurrentPrincipal() p: Principal): Promise<DraftDto> {
    return this.drafts.create(body, p);
  }

  @Get()
  @ApiOperation({
    summary: 'Drafts, newest first: pending ones (default) or all',
    description: 'County operators and admins see everyone’s; anyone else only their own.',
  })
  @ApiOkResponse({ type: DraftPageDto })
  @ApiErrors(400, 401)
  list(@Query() query: DraftQuery, @CurrentPrincipal() p: Principal): Promise<Page<DraftDto>> {
    return this.drafts.list(query, p);
  }

  @Get(':id')
  @ApiOperation({
    summary: 'A draft with its clip, who it reaches now, and whether the caller may approve it',
  })
  @ApiOkResponse({ type: DraftDto })
  @ApiErrors(400, 401, 404)
  get(@Param('id', uuid) id: string, @CurrentPrincipal() p: Principal): Promise<DraftDto> {
    return this.drafts.get(id, p);
  }

  @Post(':id/approve')
  @HttpCode(200)
  @ApiOperation({
    summary: 'Approve a draft (operator, a person other than the drafter): it is sent or saved now',
    description:
      'Refused (403 SELF_APPROVAL) to the drafter and to any account with the drafter’s phone, and (403 ' +
      'APPROVER_NOT_A_PERSON) to tokens no person owns. The broadcast names the drafter as createdBy and the approver in `approval`.',
  })
  @ApiOkResponse({ type: ApprovedDraftDto })
  @ApiErrors(400, 401, 403, 404, 409)
  approve(
    @Param('id', uuid) id: string,
    @CurrentPrincipal() p: Principal,
  ): Promise<ApprovedDraftDto> {
    return this.drafts.approve(id, p);
  }

  @Post(':id/reject')
  @HttpCode(200)
  @ApiOperation({
    summary: 'Reject a draft with a reason (operator, a person other than the drafter)',
  })
  @ApiOkResponse({ type: DraftDto })
  @ApiErrors(400, 401, 403, 404, 409)
  reject(
    @Param('id', uuid) id: string,
    @Body() body: RejectDraftDto,
    @CurrentPrincipal() p: Principal,
  ): Promise<DraftDto> {
    return this.drafts.reject(id, body.reason, p);
  }

  @Post(':id/withdraw')
  @HttpCode(200)
  @ApiOperation({ summary: 'Withdraw one’s own pending draft' })
  @ApiOkResponse({ type: DraftDto })
  @ApiErrors(400, 401, 403, 404, 409)
  withdraw(@Param('id', uuid) id: string, @CurrentPrincipal() p: Principal): Promise<DraftDto> {
    return this.drafts.withdraw(id, p);
  }
}
