import { Injectable, Logger, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import type { Subscription } from 'rxjs';
import type { AppConfig } from '../config/app-config.js';
import { InjectConfig } from '../config/config.module.js';
import { Clock } from '../common/clock.js';
import { PROTOCOL_VERSION } from '../contract/messages.js';
import { PresenceService } from './presence.service.js';
import { DeviceGateway } from './device-gateway.js';
import { KeyAnnouncer } from './key-announcer.js';

/**
 * Tells every device that comes online the timing this server expects (`config`): a device built
 * for a 30 s heartbeat against a station set to 10 s would otherwise flap offline. Its `ts` gives a
 * device without NTP the server's clock, which `notBefore` and `expiresAt` are on. With signing on,
 * the server's keys (`keys`) go first and `config` says the signing mode.
 */
@Injectable()
export class DeviceSettings implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger('mqtt');
  private subscription?: Subscription;

  constructor(
    private readonly gateway: DeviceGateway,
    private readonly presence: PresenceService,
    private readonly clock: Clock,
    @InjectConfig() private readonly config: AppConfig,
    private readonly keys: KeyAnnouncer,
  ) {}

  onModuleInit(): void {
    this.subscription = this.presence.changes.subscribe((c) => {
      if (c.online) void this.send(c.deviceId);
    });
  }

  onModuleDestroy(): void {
    this.subscription?.unsubscribe();
  }

  private async send(deviceId: string): Promise<void> {
    const { heartbeatIntervalS, missedHeartbeats } = this.config.presence;
    const mode = this.config.signing.mode;
    const keys = this.keys.enabled
      ? await this.keys.keysCommand().catch((err: Error) => {
          this.logger.warn(`device=${deviceId} keys not sent: ${err.message}`);
          return undefined;
        })
      : undefined;
    // Both sent in one turn: they share one sequence statement, and `keys` gets the lower seq, so
    // a verifying device holds the keys before it checks `config`.
    const sends = [
      keys && this.gateway.sendCommand(deviceId, keys),
      this.gateway.sendCommand(deviceId, {
        v: PROTOCOL_VERSION,
        type: 'config',
        id: `config-${randomUUID()}`,
        ts: this.clock.now().getTime(),
        heartbeatIntervalS,
        offlineAfterS: heartbeatIntervalS * missedHeartbeats,
        ...(mode === 'off' ? {} : { signing: mode }),
      }),
    ];
    const results = await Promise.allSettled(sends);
    for (const [i, r] of results.entries()) {
      if (r.status === 'rejected')
        this.logger.warn(
          `device=${deviceId} ${i === 0 ? 'keys' : 'config'} not sent: ${(r.reason as Error).message}`,
        );
    }
  }
}
