import { Controller, Get, Param, Query, Req, Res } from '@nestjs/common';
import {
  ApiForbiddenResponse,
  ApiOkResponse,
  ApiOperation,
  ApiProduces,
  ApiQuery,
  ApiTags,
} from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { Public } from '../auth/auth.decorators.js';
import { MAX_RANGES } from './media-response.js';
import { MediaService } from './media.service.js';

@ApiTags('media')
@Public()
@Controller('media')
export class MediaController {
  constructor(private readonly media: MediaService) {}

  @Get(':file')
  @ApiOperation({
    summary: 'Clip download for devices (no token: the link is signed for one device and expires)',
    description:
      'ETag is the sha256; Range (206, 416) lets a device resume; If-None-Match gives 304. ' +
      `At most ${MAX_RANGES} ranges, none overlapping (416 otherwise); ranges that are not one ` +
      'run of bytes get the whole file (200).',
  })
  @ApiQuery({ name: 'd', description: 'Device id the link was signed for' })
  @ApiQuery({ name: 'exp', description: 'Expiry, Unix seconds' })
  @ApiQuery({ name: 'sig', description: 'Signature' })
  @ApiProduces('audio/mpeg')
  @ApiOkResponse({
    description: 'MP3 (206 for a range)',
    schema: { type: 'string', format: 'binary' },
  })
  @ApiForbiddenResponse({ description: 'Tampered, expired or malformed link' })
  async download(
    @Param('file') file: string,
    @Query() query: Record<string, unknown>,
    @Req() req: Request,
    @Res() res: Response,
  ): Promise<void> {
    await this.media.sendSigned(file, query, req, res);
  }
}
