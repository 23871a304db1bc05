import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsBoolean, IsIn, IsOptional } from 'class-validator';
import { PageMetaDto, PageQuery } from '../../common/pagination.js';
import { toBoolean, trimToUndefined } from '../../common/query.js';
import { IsDisplayName } from '../../common/validators.js';
import { CLIP_STATUSES, ClipStatus } from '../clip.entity.js';
import { TONE_FAMILIES, ToneFamily } from '../attention-tones.js';

export const UPLOAD_PRIORITIES = ['urgent', 'routine'] as const;
export type UploadPriority = (typeof UPLOAD_PRIORITIES)[number];

const trim = ({ value }: { value: unknown }) => (typeof value === 'string' ? value.trim() : value);

export class UploadClipDto {
  @ApiPropertyOptional({
    description: 'Defaults to the file name (without extension)',
    maxLength: 200,
  })
  @IsOptional()
  @Transform(trim)
  @IsDisplayName(200)
  title?: string;
}

export class UploadQuery {
  @ApiPropertyOptional({
    description: 'Answer only when processing has finished (201), instead of at once (202)',
    default: false,
  })
  @IsOptional()
  @Transform(toBoolean)
  @IsBoolean()
  wait?: boolean;

  @ApiPropertyOptional({
    enum: UPLOAD_PRIORITIES,
    default: 'routine',
    description:
      '`urgent` (an emergency recording): transcoded ahead of all other work. Routine recordings up to 2 minutes go ahead of longer ones',
  })
  @IsOptional()
  @IsIn(UPLOAD_PRIORITIES)
  priority?: UploadPriority;
}

export class RenameClipDto {
  @ApiProperty({ maxLength: 200 })
  @Transform(trim)
  @IsDisplayName(200)
  title!: string;
}

export class ClipQuery extends PageQuery {
  @ApiPropertyOptional({ description: 'Part of the title' })
  @IsOptional()
  @Transform(trimToUndefined)
  @IsDisplayName(200)
  q?: string;

  @ApiPropertyOptional({ enum: CLIP_STATUSES })
  @IsOptional()
  @IsIn(CLIP_STATUSES)
  status?: ClipStatus;
}

export class ClipDto {
  @ApiProperty({ format: 'uuid' }) id!: string;
  @ApiProperty({ example: '防汛紧急通知' }) title!: string;
  @ApiProperty({
    enum: CLIP_STATUSES,
    description: 'processing → ready, or failed (with failureReason)',
  })
  status!: ClipStatus;
  @ApiProperty({ type: String, nullable: true }) failureReason!: string | null;
  @ApiProperty({ type: String, nullable: true, description: 'SHA-256 of the delivery MP3' })
  sha256!: string | null;
  @ApiProperty({ type: Number, nullable: true }) bytes!: number | null;
  @ApiProperty({ type: Number, nullable: true }) durationMs!: number | null;
  @ApiProperty({
    type: Number,
    nullable: true,
    description: 'Integrated loudness of the upload, LUFS',
  })
  loudnessBeforeLufs!: number | null;
  @ApiProperty({
    type: Number,
    nullable: true,
    description: 'Integrated loudness of the delivery MP3, LUFS',
  })
  loudnessAfterLufs!: number | null;
  @ApiProperty({ type: Number, nullable: true, description: 'True peak of the delivery MP3, dBTP' })
  truePeakAfterDb!: number | null;
  @ApiProperty({ type: String, nullable: true, description: 'The uploaded file name, as a label' })
  originalName!: string | null;
  @ApiProperty({ type: String, nullable: true, example: 'wav pcm_s16le 48000 Hz stereo' })
  originalFormat!: string | null;
  @ApiProperty() originalBytes!: number;
  @ApiProperty({ description: 'Delivery format', example: 'mp3, mono, 44.1 kHz, 64 kbit/s' })
  deliveryFormat!: string;
  @ApiProperty() createdBy!: string;
  @ApiProperty({ format: 'date-time' }) createdAt!: string;
  @ApiProperty({ format: 'date-time' }) updatedAt!: string;
}

export class ClipUploadResultDto extends ClipDto {
  @ApiProperty({
    description: 'True when this exact file was uploaded before: the existing clip is returned',
  })
  duplicate!: boolean;
}

export class ClipPageDto extends PageMetaDto {
  @ApiProperty({ type: [ClipDto] }) items!: ClipDto[];
}

export class RenditionDto {
  @ApiProperty({ enum: TONE_FAMILIES }) tone!: ToneFamily;
  @ApiProperty() sha256!: string;
  @ApiProperty() bytes!: number;
  @ApiProperty() durationMs!: number;
}
