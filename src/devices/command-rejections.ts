import { Injectable, Logger } from '@nestjs/common';
import { ThrottledLog } from '../common/throttled-log.js';
import { MetricsService } from '../metrics/metrics.service.js';
import { DeviceGateway } from './device-gateway.js';
import { SecurityEvents } from './security-events.js';

/**
 * Every `rejected` event (a command a device refused): counted in
 * `dalaba_command_rejections_total{reason}`, logged at a bounded rate per device and reason, and
 * stored as a security event. Apart from SecurityEvents because the gateway itself records
 * security events (through DeviceKeys), and the two must not import each other.
 */
@Injectable()
export class CommandRejections {
  private readonly throttled = new ThrottledLog(new Logger('security'));

  constructor(
    gateway: DeviceGateway,
    private readonly security: SecurityEvents,
    private readonly metrics: MetricsService,
  ) {
    gateway.events.subscribe(({ deviceId, message, receivedAt, ackAfter }) => {
      if (message.type !== 'rejected') return;
      this.metrics.commandRejections.inc({ reason: message.reason });
      const what = `${message.command ?? 'a command'}${message.ref ? ` id=${message.ref}` : ''}`;
      this.throttled.warn(
        `${deviceId}:${message.reason}`,
        `device=${deviceId} refused ${what}: ${message.reason}${message.detail ? ` ${JSON.stringify(message.detail)}` : ''}`,
        receivedAt,
      );
      // The device's PUBACK waits for the store, so an event lost to a failed write comes again.
      ackAfter(
        this.security.record({
          deviceId,
          kind: 'command_rejected',
          reason: message.reason,
          detail: message.detail,
          commandId: message.ref,
          seq: message.seq,
          kid: message.kid,
          at: receivedAt,
        }),
      );
    });
  }
}
