import { Body, Controller, Delete, Get, HttpCode, Param, Patch, Post, Query } from '@nestjs/common';
import {
  ApiBearerAuth,
  ApiCreatedResponse,
  ApiNoContentResponse,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
} from '@nestjs/swagger';
import { CurrentPrincipal, Principal } from '../auth/auth.decorators.js';
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

@ApiTags('schedules')
@ApiBearerAuth()
@Controller('api/schedules')
export class SchedulesController {
  constructor(private readonly schedules: SchedulesService) {}

  @Get()
  @ApiOperation({ summary: 'List schedules with their next firing' })
  @ApiOkResponse({ type: SchedulePageDto })
  @ApiErrors(400, 401)
  list(@Query() query: FiringQuery): Promise<Page<ScheduleDto>> {
    return this.schedules.list(query);
  }

  @Post()
  @ApiOperation({
    summary: 'Create a schedule (operator): cron + time zone + the broadcast each firing creates',
    description:
      'A level that needs a second person (GET /api/approval-policy) is refused (409 APPROVAL_REQUIRED): submit it as a ' +
      'draft (POST /api/drafts with schedule); once approved its firings go out without asking again',
  })
  @ApiCreatedResponse({ type: ScheduleDto })
  @ApiErrors(400, 401, 403, 409)
  create(
    @Body() body: CreateScheduleDto,
    @CurrentPrincipal() principal: Principal,
  ): Promise<ScheduleDto> {
    return this.schedules.create(body, principal.name);
  }

  @Get('preview')
  @ApiOperation({ summary: 'The next firing times of a cron expression, before saving it' })
  @ApiOkResponse({ type: PreviewDto })
  @ApiErrors(400, 401)
  previewCron(@Query() query: CronPreviewQuery): PreviewDto {
    return this.schedules.preview(query.cron, query.timeZone, query.count);
  }

  @Post('quiet-preview')
  @HttpCode(200)
  @ApiOperation({
    summary:
      'The villages whose quiet hours would hold back the next firings of a schedule, before saving it (operator)',
  })
  @ApiOkResponse({ type: QuietPreviewDto })
  @ApiErrors(400, 401, 403)
  quietPreview(@Body() body: QuietPreviewRequestDto): Promise<QuietPreviewDto> {
    return this.schedules.quietPreview(body);
  }

  @Get(':id')
  @ApiOperation({ summary: 'Get a schedule' })
  @ApiOkResponse({ type: ScheduleDto })
  @ApiErrors(400, 401, 404)
  get(@Param('id', uuid) id: string): Promise<ScheduleDto> {
    return this.schedules.get(id);
  }

  @Patch(':id')
  @ApiOperation({
    summary: 'Change, enable or disable a schedule (operator)',
    description:
      'A schedule whose level needs a second person is changed through a draft (POST /api/drafts with scheduleId and changes): ' +
      'here only disabling it is allowed (409 APPROVAL_REQUIRED otherwise)',
  })
  @ApiOkResponse({ type: ScheduleDto })
  @ApiErrors(400, 401, 403, 404, 409)
  update(@Param('id', uuid) id: string, @Body() body: UpdateScheduleDto): Promise<ScheduleDto> {
    return this.schedules.update(id, body);
  }

  @Delete(':id')
  @HttpCode(204)
  @ApiOperation({ summary: 'Delete a schedule (operator); broadcasts it created stay' })
  @ApiNoContentResponse({ description: 'Deleted' })
  @ApiErrors(400, 401, 403, 404)
  remove(@Param('id', uuid) id: string): Promise<void> {
    return this.schedules.remove(id);
  }

  @Get(':id/preview')
  @ApiOperation({ summary: 'The next firing times of a schedule' })
  @ApiOkResponse({ type: PreviewDto })
  @ApiErrors(400, 401, 404)
  preview(@Param('id', uuid) id: string, @Query() query: PreviewQuery): Promise<PreviewDto> {
    return this.schedules.previewOf(id, query.count);
  }

  @Get(':id/firings')
  @ApiOperation({
    summary: 'Past firings of a schedule: fired (with its broadcast), missed or failed',
  })
  @ApiOkResponse({ type: [FiringDto] })
  @ApiErrors(400, 401, 404)
  firings(@Param('id', uuid) id: string, @Query() query: FiringQuery): Promise<Page<FiringDto>> {
    return this.schedules.firings(id, query);
  }
}
