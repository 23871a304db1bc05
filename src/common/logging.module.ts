import { DynamicModule, Global, Module } from '@nestjs/common';
import { AppLogger } from './logging.js';

/** Makes the process's {@link AppLogger} (built before Nest starts) injectable. */
@Global()
@Module({})
export class LoggingModule {
  static forRoot(logger: AppLogger): DynamicModule {
    return {
      module: LoggingModule,
      providers: [{ provide: AppLogger, useValue: logger }],
      exports: [AppLogger],
    };
  }
}
