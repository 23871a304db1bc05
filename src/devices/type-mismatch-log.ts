import { Injectable, Logger, OnModuleDestroy } from '@nestjs/common';
import { Clock } from '../common/clock.js';
import { ThrottledLog } from '../common/throttled-log.js';
import { DeviceDirectory } from './device-directory.js';

/** How long hellos are collected before their types are checked against the registry at once. */
const CHECK_DELAY_MS = 200;

/**
 * Warns when a device's hello names another type than its registration (at most once a minute
 * per device). Hellos are checked in batches against the device directory, so ten thousand devices
 * reconnecting cost a registry read per batch, not one each. Delivery is not affected: the warning
 * is for the station, which corrects the registration or the device.
 */
@Injectable()
export class TypeMismatchLog implements OnModuleDestroy {
  private readonly logger = new Logger('devices');
  private readonly warnings = new ThrottledLog(this.logger);
  private pending = new Map<string, string>();
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly directory: DeviceDirectory,
    private readonly clock: Clock,
  ) {}

  /** A device said in its hello that it is `reportedType`. */
  heard(deviceId: string, reportedType: string): void {
    this.pending.set(deviceId, reportedType);
    if (this.timer) return;
    this.timer = setTimeout(() => void this.check(), CHECK_DELAY_MS);
    this.timer.unref();
  }

  onModuleDestroy(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private async check(): Promise<void> {
    this.timer = undefined;
    const batch = this.pending;
    this.pending = new Map();
    try {
      const { byId } = await this.directory.current();
      const now = this.clock.now().getTime();
      for (const [deviceId, reported] of batch) {
        const registered = byId.get(deviceId)?.type;
        if (registered === undefined || registered === reported) continue;
        this.warnings.warn(
          `type:${deviceId}`,
          `device=${deviceId} says it is another type than registered: registered=${registered} reported=${reported}; it is still served, correct the registration or the device`,
          now,
        );
      }
    } catch (err) {
      this.logger.warn(`type check of ${batch.size} hello(s) failed: ${(err as Error).message}`);
    }
  }
}
