import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsIn, IsNumber, IsOptional, IsString, Matches, Max, Min } from 'class-validator';
import { UPLOAD_PRIORITIES, type UploadPriority } from '../../clips/dto/clip.dto.js';
import { TTS_VOICE } from '../../config/app-config.js';
import { IsDisplayName } from '../../common/validators.js';
import { MAX_SPEED, MIN_SPEED, type TtsRequest, type TtsStatus } from '../tts.service.js';
import { TTS_MAX_CHARS } from '../tts-text.js';

const trim = ({ value }: { value: unknown }) => (typeof value === 'string' ? value.trim() : value);

export class TtsRequestDto implements TtsRequest {
  @ApiProperty({
    description: `What to say: 1 to ${TTS_MAX_CHARS} characters after trimming; line breaks and tabs allowed, other control characters not (400 TTS_TEXT_INVALID)`,
    example: '各位村民请注意：今天夜间有暴雨，请不要靠近河道。',
  })
  @IsString()
  text!: string;

  @ApiPropertyOptional({
    description:
      'A voice of the engine (GET /api/clips/tts lists them); absent: its default (espeak-ng: `cmn`, Mandarin)',
    example: 'cmn',
  })
  @IsOptional()
  @IsString()
  @Matches(TTS_VOICE, { message: 'voice must be a voice name such as cmn' })
  voice?: string;

  @ApiPropertyOptional({
    description: 'Relative speed: 1 is the engine’s normal rate',
    minimum: MIN_SPEED,
    maximum: MAX_SPEED,
    default: 1,
  })
  @IsOptional()
  @IsNumber({ allowNaN: false, allowInfinity: false })
  @Min(MIN_SPEED)
  @Max(MAX_SPEED)
  speed?: number;

  @ApiPropertyOptional({
    description: 'The clip’s title; absent: the beginning of the text',
    maxLength: 200,
  })
  @IsOptional()
  @Transform(trim)
  @IsDisplayName(200)
  title?: string;
}

export class TtsQuery {
  @ApiPropertyOptional({
    enum: UPLOAD_PRIORITIES,
    default: 'routine',
    description:
      '`urgent` (an emergency): spoken and transcoded ahead of other text and other recordings',
  })
  @IsOptional()
  @IsIn(UPLOAD_PRIORITIES)
  priority?: UploadPriority;
}

export class TtsStatusDto implements TtsStatus {
  @ApiProperty({
    type: String,
    nullable: true,
    enum: ['espeak-ng', 'http'],
    description: 'The engine TTS_ENGINE chose; null when there is none (turned off or not found)',
  })
  engine!: string | null;
  @ApiProperty({ description: 'Whether POST /api/clips/tts can speak now' })
  available!: boolean;
  @ApiProperty({
    type: String,
    nullable: true,
    description: 'Why it cannot, and what to do about it (null when available)',
    example:
      'text to speech is turned off (TTS_ENGINE=none); set TTS_ENGINE=auto, espeak-ng or http to turn it on',
  })
  reason!: string | null;
  @ApiProperty({
    type: [String],
    description:
      'Voices a request may name, the default first (empty: the engine does not list them)',
    example: ['cmn', 'cmn-latn-pinyin', 'yue'],
  })
  voices!: string[];
  @ApiProperty({ type: String, nullable: true, example: 'cmn' })
  defaultVoice!: string | null;
}
