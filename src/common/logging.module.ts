import { DynamicModule, Global, Module } from '@nestjs/common';
import type { DestinationStream } from 'pino';
import type { AppConfig } from '../config/app-config.js';
import { AppLogger, createRootLogger } from './logging.js';

@Global()
@Module({})
export class LoggingModule {
  static forRoot(config: AppConfig, destination?: DestinationStream): DynamicModule {
    return {
      module: LoggingModule,
      providers: [
        { provide: AppLogger, useValue: new AppLogger(createRootLogger(config, destination)) },
      ],
      exports: [AppLogger],
    };
  }
}
