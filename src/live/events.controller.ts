import { Controller, Get, Res } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiOperation, ApiProduces, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import { CurrentPrincipal, Principal, TownScoped } from '../auth/auth.decorators.js';
import { ApiErrors } from '../common/api-errors.js';
import {
  LIVE_COALESCE_MS,
  LiveEvents,
  MAX_LIVE_CLIENTS,
  MAX_STREAMS_PER_TOKEN,
} from './live-events.js';

@ApiTags('coverage')
@ApiBearerAuth()
@Controller('api/events')
export class EventsController {
  constructor(private readonly live: LiveEvents) {}

  @Get()
  @TownScoped()
  @ApiOperation({
    summary: 'Live changes as Server-Sent Events (viewer)',
    description:
      'Authenticate with the Authorization header (read the stream with fetch; a token never goes in the URL). ' +
      'First `event: hello` with `devicesOnline`; then, at most every ' +
      `${LIVE_COALESCE_MS} ms and only when something changed, one \`event: update\` with ` +
      '`{ at, broadcasts: [BroadcastDto of each broadcast that changed], villages: [codes whose presence or latest ' +
      'outcome changed], devicesOnline }`. A comment line every 15 s keeps the connection open. The stream ends when ' +
      "its token is revoked. A town official's stream carries only their villages and the broadcasts reaching their " +
      `towns, and counts their devices. 429 when this token already holds ${MAX_STREAMS_PER_TOKEN} streams; 503 when ` +
      `${MAX_LIVE_CLIENTS} streams are open in all.`,
  })
  @ApiProduces('text/event-stream')
  @ApiOkResponse({ description: 'An event stream', schema: { type: 'string' } })
  @ApiErrors(401, 429, 503)
  events(@Res() res: Response, @CurrentPrincipal() principal: Principal): void {
    this.live.attach(res, principal);
  }
}
