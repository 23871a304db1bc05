import { Body, Controller, Get, Put } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { CurrentPrincipal, Principal, RequireRole, TownScoped } from '../auth/auth.decorators.js';
import { ApiErrors } from '../common/api-errors.js';
import { ApprovalPolicyService } from './approval-policy.js';
import { ApprovalPolicyDto } from './dto/approval-policy.dto.js';

@ApiTags('approvals')
@ApiBearerAuth()
@Controller('api/approval-policy')
export class ApprovalPolicyController {
  constructor(private readonly policy: ApprovalPolicyService) {}

  @Get()
  // The same rules for everyone, no town's data: the form needs them to label its button.
  @TownScoped()
  @ApiOperation({
    summary: 'Which levels need a second person’s approval, and how long drafts wait',
  })
  @ApiOkResponse({ type: ApprovalPolicyDto })
  @ApiErrors(401)
  get(): Promise<ApprovalPolicyDto> {
    return this.policy.get();
  }

  @Put()
  @RequireRole('admin')
  @ApiOperation({ summary: 'Change which levels need approval and how long drafts wait (admin)' })
  @ApiOkResponse({ type: ApprovalPolicyDto })
  @ApiErrors(400, 401, 403)
  put(
    @Body() body: ApprovalPolicyDto,
    @CurrentPrincipal() principal: Principal,
  ): Promise<ApprovalPolicyDto> {
    return this.policy.put(body.levels, principal.name);
  }
}
