import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { CommandSigner } from './command-signer.js';
import { KeysController } from './keys.controller.js';
import { SequenceAllocator } from './sequence-allocator.js';
import { ServerKeysRepository } from './server-keys.repository.js';
import { ServerKeys } from './server-keys.js';
import { CommandSequenceEntity, ServerKeyEntity } from './signing.entity.js';

/** Signed commands: the server's keys, per-device sequence numbers, the signer. */
@Module({
  imports: [TypeOrmModule.forFeature([ServerKeyEntity, CommandSequenceEntity])],
  controllers: [KeysController],
  providers: [ServerKeysRepository, ServerKeys, SequenceAllocator, CommandSigner],
  exports: [ServerKeys, SequenceAllocator, CommandSigner],
})
export class SigningModule {}
