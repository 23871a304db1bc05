import { Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { TypeOrmModule } from '@nestjs/typeorm';
import { ApiTokenEntity } from './api-token.entity.js';
import { ApiTokensRepository } from './api-tokens.repository.js';
import { ApiTokensService } from './api-tokens.service.js';
import { AuthFailureLimiter } from './auth-failure-limiter.js';
import { TokenGuard } from './token.guard.js';
import { TokensController } from './tokens.controller.js';

@Module({
  imports: [TypeOrmModule.forFeature([ApiTokenEntity])],
  controllers: [TokensController],
  providers: [
    ApiTokensRepository,
    ApiTokensService,
    AuthFailureLimiter,
    { provide: APP_GUARD, useClass: TokenGuard },
  ],
  exports: [ApiTokensService],
})
export class AuthModule {}
