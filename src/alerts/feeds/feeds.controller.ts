import { Body, Controller, Delete, Get, HttpCode, Param, Patch, Post, Query } from '@nestjs/common';
import {
  ApiBearerAuth,
  ApiCreatedResponse,
  ApiNoContentResponse,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
} from '@nestjs/swagger';
import { CurrentPrincipal, Principal, RequireRole } from '../../auth/auth.decorators.js';
import { ApiErrors } from '../../common/api-errors.js';
import { Page, PageQuery } from '../../common/pagination.js';
import { uuidParam } from '../../common/validation.js';
import { CapFeedsService } from './cap-feeds.service.js';
import { FeedsService } from './feeds.service.js';
import { CreateFeedDto, FeedDto, FeedPageDto, FeedPollDto, UpdateFeedDto } from './dto/feed.dto.js';

const uuid = uuidParam();

// Admin only, reads included: a feed's URL may carry the publisher's access key.
@ApiTags('alerts')
@ApiBearerAuth()
@RequireRole('admin')
@Controller('api/alert-feeds')
export class FeedsController {
  constructor(
    private readonly feeds: FeedsService,
    private readonly poller: CapFeedsService,
  ) {}

  @Get()
  @ApiOperation({ summary: 'CAP feeds the server polls, with their state (admin)' })
  @ApiOkResponse({ type: FeedPageDto })
  @ApiErrors(400, 401, 403)
  list(@Query() query: PageQuery): Promise<Page<FeedDto>> {
    return this.feeds.list(query);
  }

  @Post()
  @ApiOperation({
    summary: 'Add a CAP feed: an Atom or RSS 2.0 feed of CAP 1.2 entries (admin)',
    description:
      'Polled at the next tick, then every intervalS seconds with If-None-Match / If-Modified-Since. Each new ' +
      'entry’s CAP (inline, or linked and fetched) goes through the same intake as POST /api/alerts. A feed that ' +
      'fails waits intervalS × 2^failures (at most an hour) before the next try. 409 FEED_URL_TAKEN when another ' +
      'feed polls that URL.',
  })
  @ApiCreatedResponse({ type: FeedDto })
  @ApiErrors(400, 401, 403, 409)
  create(@Body() body: CreateFeedDto, @CurrentPrincipal() p: Principal): Promise<FeedDto> {
    return this.feeds.create(body, p);
  }

  @Get(':id')
  @ApiOperation({ summary: 'One CAP feed and its state (admin)' })
  @ApiOkResponse({ type: FeedDto })
  @ApiErrors(400, 401, 403, 404)
  get(@Param('id', uuid) id: string): Promise<FeedDto> {
    return this.feeds.get(id);
  }

  @Patch(':id')
  @ApiOperation({
    summary: 'Rename, re-point, re-time, enable or disable a CAP feed (admin)',
    description: 'A new URL, or enabling it, has it polled at the next tick with a clean slate.',
  })
  @ApiOkResponse({ type: FeedDto })
  @ApiErrors(400, 401, 403, 404, 409)
  update(
    @Param('id', uuid) id: string,
    @Body() body: UpdateFeedDto,
    @CurrentPrincipal() p: Principal,
  ): Promise<FeedDto> {
    return this.feeds.update(id, body, p);
  }

  @Delete(':id')
  @HttpCode(204)
  @ApiOperation({ summary: 'Stop polling and forget a CAP feed (admin); its alerts stay' })
  @ApiNoContentResponse({ description: 'Deleted' })
  @ApiErrors(400, 401, 403, 404)
  remove(@Param('id', uuid) id: string, @CurrentPrincipal() p: Principal): Promise<void> {
    return this.feeds.remove(id, p);
  }

  @Post(':id/poll')
  @HttpCode(200)
  @ApiOperation({
    summary: 'Poll a CAP feed now and answer what was found (admin)',
    description:
      'Even when disabled or backing off. Answers the feed’s status (ok, not-modified, failed), each entry not seen ' +
      'before with what the intake made of it (alert outcome, or the refusal’s rule), and the feed’s new state. ' +
      'A poll already under way on this server is joined.',
  })
  @ApiOkResponse({ type: FeedPollDto })
  @ApiErrors(400, 401, 403, 404)
  poll(@Param('id', uuid) id: string): Promise<FeedPollDto> {
    return this.poller.pollNow(id);
  }
}
