import { Injectable, Logger, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import type { Subscription } from 'rxjs';
import type { AppConfig } from '../config/app-config.js';
import { InjectConfig } from '../config/config.module.js';
import { Clock } from '../common/clock.js';
import { PROTOCOL_VERSION, type KeysCommand } from '../contract/messages.js';
import { ServerKeys } from '../signing/server-keys.js';
import { DeviceGateway } from './device-gateway.js';
import { PresenceService } from './presence.service.js';

/** A device that says it does not know our key is sent the keys again at most this often. */
export const UNKNOWN_KEY_RESEND_MS = 60_000;

/**
 * Tells devices the server's signing keys (`keys`, protocol section 9.4): before `config` each
 * time a device comes online (DeviceSettings calls {@link keysCommand}), to every online device at
 * once after a rotation or revocation (this process's or, seen by ServerKeys' refresh, another's),
 * and again to a device that refused a command as `unknown_key` (at most once a minute each, so a
 * device that cannot follow the key chain does not make us flood it).
 */
@Injectable()
export class KeyAnnouncer implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger('keys');
  private readonly subscriptions: Subscription[] = [];
  private readonly lastResend = new Map<string, number>();

  constructor(
    private readonly keys: ServerKeys,
    private readonly gateway: DeviceGateway,
    private readonly presence: PresenceService,
    private readonly clock: Clock,
    @InjectConfig() private readonly config: AppConfig,
  ) {}

  get enabled(): boolean {
    return this.config.signing.mode !== 'off';
  }

  onModuleInit(): void {
    if (!this.enabled) return;
    this.subscriptions.push(
      this.keys.changes.subscribe((change) => void this.announceToAllOnline(change.active)),
      this.gateway.events.subscribe(({ deviceId, message, receivedAt }) => {
        if (message.type === 'rejected' && message.reason === 'unknown_key')
          void this.resendAfterUnknownKey(deviceId, receivedAt);
      }),
    );
  }

  onModuleDestroy(): void {
    for (const s of this.subscriptions) s.unsubscribe();
  }

  /** The `keys` command as it stands now (unsigned: the gateway signs it like any command). */
  async keysCommand(): Promise<KeysCommand> {
    const { keys, revoked } = await this.keys.published();
    return {
      v: PROTOCOL_VERSION,
      type: 'keys',
      id: `keys-${randomUUID()}`,
      ts: this.clock.now().getTime(),
      keys,
      revoked,
    };
  }

  private async announceToAllOnline(active: string): Promise<void> {
    try {
      const command = await this.keysCommand();
      const online = this.presence.onlineIds();
      // One turn: their seqs come from one statement.
      await Promise.all(
        online.map((deviceId) =>
          this.gateway
            .sendCommand(deviceId, command)
            .catch((err: Error) =>
              this.logger.warn(`device=${deviceId} keys not sent: ${err.message}`),
            ),
        ),
      );
      this.logger.log(
        `keys changed (active key=${active}): told ${online.length} online device(s)`,
      );
    } catch (err) {
      this.logger.error(`keys announcement failed: ${(err as Error).message}`);
    }
  }

  private async resendAfterUnknownKey(deviceId: string, at: number): Promise<void> {
    const last = this.lastResend.get(deviceId);
    if (last !== undefined && at - last < UNKNOWN_KEY_RESEND_MS) return;
    this.lastResend.set(deviceId, at);
    try {
      await this.gateway.sendCommand(deviceId, await this.keysCommand());
      this.logger.log(`device=${deviceId} did not know the signing key: keys sent again`);
    } catch (err) {
      this.logger.warn(`device=${deviceId} keys not sent: ${(err as Error).message}`);
    }
  }
}
