import { Module } from '@nestjs/common';
import { ClipsModule } from '../clips/clips.module.js';
import { TtsController } from './tts.controller.js';
import { TtsService } from './tts.service.js';

/** Text to speech into clips. */
@Module({
  imports: [ClipsModule],
  controllers: [TtsController],
  providers: [TtsService],
  exports: [TtsService],
})
export class TtsModule {}
