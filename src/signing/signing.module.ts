// STAND-IN: replaced by h17-sign at merge
import { Module } from '@nestjs/common';
import { ServerKeys } from './server-keys.js';

/** STAND-IN: replaced by h17-sign at merge. The server's signing keys. */
@Module({ providers: [ServerKeys], exports: [ServerKeys] })
export class SigningModule {}
