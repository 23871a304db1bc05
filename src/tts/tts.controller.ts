import { Body, Controller, Get, HttpCode, Post, Query } from '@nestjs/common';
import {
  ApiBearerAuth,
  ApiCreatedResponse,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
} from '@nestjs/swagger';
import { CurrentPrincipal, Principal, RequireRole } from '../auth/auth.decorators.js';
import { ApiErrors } from '../common/api-errors.js';
import { ClipUploadResultDto } from '../clips/dto/clip.dto.js';
import { TtsQuery, TtsRequestDto, TtsStatusDto } from './dto/tts.dto.js';
import { TtsService } from './tts.service.js';

// A literal path beside the clips controller's `/api/clips/:id`: the application registers
// routes by specificity (http-app.ts), so `tts` is never taken for a clip id.
@ApiTags('clips')
@ApiBearerAuth()
@Controller('api/clips/tts')
export class TtsController {
  constructor(private readonly tts: TtsService) {}

  @Post()
  @HttpCode(201)
  @RequireRole('operator')
  @ApiOperation({
    summary: 'Speak a text into a clip (operator)',
    description:
      'The engine (espeak-ng, or a speech server: GET this path to see which) speaks the text; the audio is then checked, ' +
      'normalised and stored like an uploaded recording, and the ready clip is returned (201; `duplicate: true` when the same ' +
      'text, voice and speed made it before). 400 TTS_TEXT_INVALID or TTS_VOICE_UNKNOWN for text or a voice it cannot speak; ' +
      '503 TTS_UNAVAILABLE when no engine is configured or found (the message says why), TTS_ENGINE_FAILED when it failed this time.',
  })
  @ApiCreatedResponse({ type: ClipUploadResultDto, description: 'The clip, ready' })
  @ApiErrors(400, 401, 403, 422, 503)
  speak(
    @Body() body: TtsRequestDto,
    @Query() query: TtsQuery,
    @CurrentPrincipal() principal: Principal,
  ): Promise<ClipUploadResultDto> {
    return this.tts.synthesize(body, principal.name, query.priority);
  }

  @Get()
  @ApiOperation({
    summary: 'Whether text to speech is available: the engine, its voices, or why not',
  })
  @ApiOkResponse({ type: TtsStatusDto })
  @ApiErrors(401)
  status(): Promise<TtsStatusDto> {
    return this.tts.status();
  }
}
