import { Injectable } from '@nestjs/common';
import type { AppConfig } from '../config/app-config.js';
import { InjectConfig } from '../config/config.module.js';
import { Clock } from '../common/clock.js';
import type { MessagesByKind } from '../contract/messages.js';
import { signCommand } from '../contract/signing.js';
import { SequenceAllocator } from './sequence-allocator.js';
import { ServerKeys } from './server-keys.js';

type Command = MessagesByKind['cmd'];

/**
 * Adds the signature fields to every command (protocol section 9): `to`, a fresh `seq`, `exp` =
 * now + COMMAND_TTL_S, `kid`, and `sig` by the active key. A resend is signed again (new `seq`,
 * `exp`, `sig`). With COMMAND_SIGNING=off the command goes out as it is.
 */
@Injectable()
export class CommandSigner {
  constructor(
    private readonly keys: ServerKeys,
    private readonly sequences: SequenceAllocator,
    private readonly clock: Clock,
    @InjectConfig() private readonly config: AppConfig,
  ) {}

  get enabled(): boolean {
    return this.config.signing.mode !== 'off';
  }

  async sign<T extends Command>(deviceId: string, message: T): Promise<T> {
    if (!this.enabled) return message;
    // The seq first, the key after: every request then takes the same steps after its seq is
    // handed out, so a device's commands leave in the order of their seqs.
    const seq = await this.sequences.next(deviceId);
    const key = await this.keys.active();
    const exp = this.clock.now().getTime() + this.config.signing.ttlMs;
    // A `keys` command lists the keys as they are now, with nothing awaited since the signing
    // key was picked: a rotation while it waited for its seq would otherwise leave it signed by
    // a key it does not carry, which no device could check.
    const body = message.type === 'keys' ? { ...message, ...this.keys.publishedNow() } : message;
    return signCommand(body, { to: deviceId, seq, exp }, key);
  }
}
