import { Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { TypeOrmModule } from '@nestjs/typeorm';
import { ApiTokenEntity } from './api-token.entity.js';
import { ApiTokensRepository } from './api-tokens.repository.js';
import { ApiTokensService } from './api-tokens.service.js';
import { AuthFailureLimiter } from './auth-failure-limiter.js';
import { PasswordHasher } from './password-hasher.js';
import { SessionsRepository } from './sessions.repository.js';
import { SessionsService } from './sessions.service.js';
import { TokenGuard } from './token.guard.js';
import { SessionEntity, UserEntity, UserTownEntity } from './user.entity.js';
import { UsersRepository } from './users.repository.js';
import { TokensController } from './tokens.controller.js';

@Module({
  imports: [TypeOrmModule.forFeature([ApiTokenEntity, UserEntity, UserTownEntity, SessionEntity])],
  controllers: [TokensController],
  providers: [
    ApiTokensRepository,
    ApiTokensService,
    AuthFailureLimiter,
    PasswordHasher,
    SessionsRepository,
    SessionsService,
    UsersRepository,
    { provide: APP_GUARD, useClass: TokenGuard },
  ],
  // The staff module manages people: it reads and writes users through UsersRepository.
  exports: [ApiTokensService, AuthFailureLimiter, PasswordHasher, SessionsService, UsersRepository],
})
export class AuthModule {}
