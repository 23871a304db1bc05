import { Body, Controller, Delete, Get, HttpCode, Param, Patch, Post, Query } from '@nestjs/common';
import {
  ApiBearerAuth,
  ApiCreatedResponse,
  ApiNoContentResponse,
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
import {
  CreateScheduleDto,
  CronPreviewQuery,
  FiringDto,
  FiringQuery,
  PreviewDto,
  PreviewQuery,
  QuietPreviewDto,
  QuietPreviewRequestDto,
  ScheduleDto,
  SchedulePageDto,
  UpdateScheduleDto,
} from './dto/schedule.dto.js';
import { SchedulesService } from './schedules.service.js';

const uuid = uuidParam();

// Every route limits itself to a town official's towns (reads: schedules whose target reaches
// them; writes: routine or test wholly inside them, else 403 OUT_OF_SCOPE).
@ApiTags('schedules')
@ApiBearerAuth()
@TownScoped()
@Controller('api/schedules')
export class SchedulesController {
  constructor(private readonly schedules: SchedulesService) {}

  @Get()
  @ApiOperation({
    summary: 'List schedules with their next firing (a town official: those reaching their towns)',
  })
  @ApiOkResponse({ type: SchedulePageDto })
  @ApiErrors(400, 401)
  list(@Query() query: FiringQuery, @CurrentPrincipal() p: Principal): Promise<Page<ScheduleDto>> {
    return this.schedules.list(query, townsOf(p));
  }

  @Post()
  @RequireRole('town_official')
  @ApiOperation({
    summary: 'Create a schedule (operator): cron + time zone + the broadcast each firing creates',
    description:
      'A town official may create routine and test schedules aimed wholly at their towns (else 403 OUT_OF_SCOPE). ' +
      'A level that needs a second person (GET /api/approval-policy) is refused (409 APPROVAL_REQUIRED): submit it as a ' +
      'draft (POST /api/drafts with schedule); once approved its firings go out without asking again',
  })
  @ApiCreatedResponse({ type: ScheduleDto })
  @ApiErrors(400, 401, 403, 409)
  create(
    @Body() body: CreateScheduleDto,
    @CurrentPrincipal() principal: Principal,
  ): Promise<ScheduleDto> {
    return this.schedules.create(body, principal.name, { towns: townsOf(principal) });
  }

  @Get('preview')
  @ApiOperation({ summary: 'The next firing times of a cron expression, before saving it' })
  @ApiOkResponse({ type: PreviewDto })
  @ApiErrors(400, 401)
  previewCron(@Query() query: CronPreviewQuery): PreviewDto {
    return this.schedules.preview(query.cron, query.timeZone, query.count);
  }

  @Post('quiet-preview')
  @RequireRole('town_official')
  @HttpCode(200)
  @ApiOperation({
    summary:
      'The villages whose quiet hours would hold back the next firings of a schedule, before saving it (operator)',
  })
  @ApiOkResponse({ type: QuietPreviewDto })
  @ApiErrors(400, 401, 403)
  quietPreview(
    @Body() body: QuietPreviewRequestDto,
    @CurrentPrincipal() p: Principal,
  ): Promise<QuietPreviewDto> {
    return this.schedules.quietPreview(body, townsOf(p));
  }

  @Get(':id')
  @ApiOperation({ summary: 'Get a schedule' })
  @ApiOkResponse({ type: ScheduleDto })
  @ApiErrors(400, 401, 404)
  get(@Param('id', uuid) id: string, @CurrentPrincipal() p: Principal): Promise<ScheduleDto> {
    return this.schedules.get(id, townsOf(p));
  }

  @Patch(':id')
  @RequireRole('town_official')
  @ApiOperation({
    summary: 'Change, enable or disable a schedule (operator)',
    description:
      'A schedule whose level needs a second person is changed through a draft (POST /api/drafts with scheduleId and changes): ' +
      'here only disabling it is allowed (409 APPROVAL_REQUIRED otherwise)',
  })
  @ApiOkResponse({ type: ScheduleDto })
  @ApiErrors(400, 401, 403, 404, 409)
  update(
    @Param('id', uuid) id: string,
    @Body() body: UpdateScheduleDto,
    @CurrentPrincipal() p: Principal,
  ): Promise<ScheduleDto> {
    return this.schedules.update(id, body, { towns: townsOf(p) });
  }

  @Delete(':id')
  @RequireRole('town_official')
  @HttpCode(204)
  @ApiOperation({ summary: 'Delete a schedule (operator); broadcasts it created stay' })
  @ApiNoContentResponse({ description: 'Deleted' })
  @ApiErrors(400, 401, 403, 404)
  remove(@Param('id', uuid) id: string, @CurrentPrincipal() p: Principal): Promise<void> {
    return this.schedules.remove(id, townsOf(p));
  }

  @Get(':id/preview')
  @ApiOperation({ summary: 'The next firing times of a schedule' })
  @ApiOkResponse({ type: PreviewDto })
  @ApiErrors(400, 401, 404)
  preview(
    @Param('id', uuid) id: string,
    @Query() query: PreviewQuery,
    @CurrentPrincipal() p: Principal,
  ): Promise<PreviewDto> {
    return this.schedules.previewOf(id, query.count, townsOf(p));
  }

  @Get(':id/firings')
  @ApiOperation({
    summary: 'Past firings of a schedule: fired (with its broadcast), missed or failed',
  })
  @ApiOkResponse({ type: [FiringDto] })
  @ApiErrors(400, 401, 404)
  firings(
    @Param('id', uuid) id: string,
    @Query() query: FiringQuery,
    @CurrentPrincipal() p: Principal,
  ): Promise<Page<FiringDto>> {
    return this.schedules.firings(id, query, townsOf(p));
  }
}
