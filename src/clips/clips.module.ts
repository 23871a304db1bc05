import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AudioProcessor } from './audio-processor.js';
import { ClipEntity, ClipRenditionEntity } from './clip.entity.js';
import { ClipStorage } from './clip-storage.js';
import { ClipUploadInterceptor } from './clip-upload.interceptor.js';
import { ClipsController } from './clips.controller.js';
import { ClipsRepository } from './clips.repository.js';
import { ClipsService } from './clips.service.js';
import { Ffmpeg } from './ffmpeg.js';
import { MediaController } from './media.controller.js';
import { MediaService } from './media.service.js';
import { MediaSigner } from './media-signer.js';

@Module({
  imports: [TypeOrmModule.forFeature([ClipEntity, ClipRenditionEntity])],
  controllers: [ClipsController, MediaController],
  providers: [
    Ffmpeg,
    AudioProcessor,
    ClipStorage,
    ClipsRepository,
    ClipsService,
    MediaSigner,
    MediaService,
    ClipUploadInterceptor,
  ],
  exports: [ClipsService, MediaService],
})
export class ClipsModule {}
