import {
  Body,
  Controller,
  Delete,
  Get,
  HttpCode,
  Param,
  Patch,
  PipeTransform,
  Post,
  Query,
  Req,
  Res,
  UploadedFile,
  UseInterceptors,
} from '@nestjs/common';
import {
  ApiAcceptedResponse,
  ApiBearerAuth,
  ApiBody,
  ApiConsumes,
  ApiCreatedResponse,
  ApiNoContentResponse,
  ApiOkResponse,
  ApiOperation,
  ApiParam,
  ApiProduces,
  ApiTags,
} from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { CurrentPrincipal, Principal, RequireRole, TownScoped } from '../auth/auth.decorators.js';
import { ApiErrors } from '../common/api-errors.js';
import { DomainError, ValidationFailedError } from '../common/domain-error.js';
import type { ClipErrorCode } from './clip-errors.js';
import { Page } from '../common/pagination.js';
import { uuidParam } from '../common/validation.js';
import { TONE_FAMILIES, ToneFamily } from './attention-tones.js';
import { ClipUploadInterceptor } from './clip-upload.interceptor.js';
import { ClipsService } from './clips.service.js';
import { MediaService } from './media.service.js';
import {
  ClipDto,
  ClipPageDto,
  ClipQuery,
  ClipUploadResultDto,
  RenameClipDto,
  RenditionDto,
  UploadClipDto,
  UploadQuery,
} from './dto/clip.dto.js';

const uuid = uuidParam();

class TonePipe implements PipeTransform<string, ToneFamily> {
  transform(value: string): ToneFamily {
    if ((TONE_FAMILIES as readonly string[]).includes(value)) return value as ToneFamily;
    throw new ValidationFailedError([
      { field: 'tone', rule: 'isIn', message: `tone must be one of ${TONE_FAMILIES.join(', ')}` },
    ]);
  }
}

@ApiTags('clips')
@ApiBearerAuth()
@Controller('api/clips')
export class ClipsController {
  constructor(
    private readonly clips: ClipsService,
    private readonly media: MediaService,
  ) {}

  // Clips are one library for the whole county (a recording names no place): a town official
  // uploads and plays them; only the broadcasts that send them are limited to their towns.
  @Post()
  @TownScoped()
  @RequireRole('town_official')
  @UseInterceptors(ClipUploadInterceptor)
  @ApiConsumes('multipart/form-data')
  @ApiBody({
    schema: {
      type: 'object',
      required: ['file'],
      properties: {
        file: { type: 'string', format: 'binary', description: 'WAV, MP3, OGG/Opus, M4A/AAC, …' },
        title: { type: 'string', maxLength: 200 },
      },
    },
  })
  @ApiOperation({
    summary: 'Upload a recording (operator or town official)',
    description:
      'The file is checked at once (4xx when it is not usable audio: no audio stream, undecodable, cut short, empty, silent, too long). ' +
      'A recording whose header says it is longer than the limit is refused before it is decoded. ' +
      'It is then transcoded to the delivery format and loudness-normalised in the background (`priority=urgent` goes ahead of all other work), ' +
      'and its attention-tone renditions are made ahead of need: 202 with status `processing` ' +
      '(GET the clip until `ready` or `failed`), or with `wait=true` 201 once done. The same file uploaded again returns the ' +
      'existing clip (200, `duplicate: true`).',
  })
  @ApiAcceptedResponse({ type: ClipUploadResultDto, description: 'Accepted; processing' })
  @ApiCreatedResponse({ type: ClipUploadResultDto, description: 'Processed (wait=true)' })
  @ApiOkResponse({ type: ClipUploadResultDto, description: 'The same file was uploaded before' })
  @ApiErrors(400, 401, 403, 413, 415, 422, 503)
  async upload(
    @UploadedFile() file: Express.Multer.File | undefined,
    @Body() body: UploadClipDto,
    @Query() query: UploadQuery,
    @CurrentPrincipal() principal: Principal,
    @Res({ passthrough: true }) res: Response,
  ): Promise<ClipUploadResultDto> {
    if (!file)
      throw new DomainError<ClipErrorCode>(
        'invalid',
        'FILE_REQUIRED',
        'No file: send the recording in the multipart field "file"',
      );
    const clip = await this.clips.upload(
      { path: file.path, size: file.size, originalName: file.originalname },
      body.title,
      principal.name,
      query.wait ?? false,
      query.priority,
    );
    res.status(clip.duplicate ? 200 : clip.status === 'processing' ? 202 : 201);
    return clip;
  }

  @Get()
  @TownScoped()
  @ApiOperation({ summary: 'List clips, newest first; search by title, filter by status' })
  @ApiOkResponse({ type: ClipPageDto })
  @ApiErrors(400, 401)
  list(@Query() query: ClipQuery): Promise<Page<ClipDto>> {
    return this.clips.list(query);
  }

  @Get(':id')
  @TownScoped()
  @ApiOperation({ summary: 'Get a clip (poll it while it is processing)' })
  @ApiOkResponse({ type: ClipDto })
  @ApiErrors(400, 401, 404)
  get(@Param('id', uuid) id: string): Promise<ClipDto> {
    return this.clips.get(id);
  }

  @Patch(':id')
  @ApiOperation({ summary: 'Rename a clip (operator)' })
  @ApiOkResponse({ type: ClipDto })
  @ApiErrors(400, 401, 403, 404)
  rename(@Param('id', uuid) id: string, @Body() body: RenameClipDto): Promise<ClipDto> {
    return this.clips.rename(id, body.title);
  }

  @Delete(':id')
  @HttpCode(204)
  @ApiOperation({
    summary:
      'Delete a clip (operator); refused (409) while a scheduled or active broadcast uses it',
  })
  @ApiNoContentResponse({ description: 'Deleted' })
  @ApiErrors(400, 401, 403, 404, 409)
  remove(@Param('id', uuid) id: string): Promise<void> {
    return this.clips.remove(id);
  }

  @Get(':id/audio')
  @TownScoped()
  @ApiOperation({ summary: 'Listen to a ready clip (the delivery MP3; Range supported)' })
  @ApiProduces('audio/mpeg')
  @ApiOkResponse({ description: 'MP3', schema: { type: 'string', format: 'binary' } })
  @ApiErrors(400, 401, 404, 409)
  async audio(
    @Param('id', uuid) id: string,
    @Req() req: Request,
    @Res() res: Response,
  ): Promise<void> {
    await this.media.sendClip(id, req, res);
  }

  @Post(':id/renditions/:tone')
  @HttpCode(200)
  @ApiParam({ name: 'tone', enum: TONE_FAMILIES })
  @ApiOperation({
    summary:
      'Render the clip with an attention tone in front, normalised together (operator); made once (normally when the clip is uploaded), then reused',
  })
  @ApiOkResponse({ type: RenditionDto })
  @ApiErrors(400, 401, 403, 404, 409, 503)
  rendition(
    @Param('id', uuid) id: string,
    @Param('tone', TonePipe) tone: ToneFamily,
  ): Promise<RenditionDto> {
    return this.clips.withAttentionTone(id, tone);
  }
}
