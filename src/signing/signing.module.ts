// STAND-IN: replaced by h17-sign at merge
import { Module } from '@nestjs/common';
import { ServerKeys } from './server-keys.js';

@Module({ providers: [ServerKeys], exports: [ServerKeys] })
export class SigningModule {}
