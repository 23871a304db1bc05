import { Injectable, OnModuleDestroy } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { Clock } from '../common/clock.js';
import { DomainError, NotFoundError } from '../common/domain-error.js';
import type { DeviceErrorCode } from './device-errors.js';
import type { MessagesByKind } from '../contract/messages.js';
import { PROTOCOL_VERSION } from '../contract/messages.js';
import { DevicesService } from './devices.service.js';
import { PresenceService } from './presence.service.js';
import { DeviceGateway } from './device-gateway.js';

type Reply = { kind: 'pong' } | { kind: 'ack'; ok: boolean; reason?: string };

/** Commands an operator sends to one device and waits for the answer to: ping, volume. */
@Injectable()
export class DeviceCommands implements OnModuleDestroy {
  private readonly waiting = new Map<
    string,
    { resolve: (r: Reply) => void; timer: NodeJS.Timeout }
  >();

  constructor(
    private readonly gateway: DeviceGateway,
    private readonly devices: DevicesService,
    private readonly presence: PresenceService,
    private readonly clock: Clock,
  ) {
    this.gateway.events.subscribe(({ deviceId, message }) => {
      if (message.type !== 'pong' && message.type !== 'ack') return;
      const key = `${deviceId}/${message.ref}`;
      const entry = this.waiting.get(key);
      if (!entry) return;
      this.waiting.delete(key);
      clearTimeout(entry.timer);
      entry.resolve(
        message.type === 'pong'
          ? { kind: 'pong' }
          : { kind: 'ack', ok: message.ok, reason: message.reason },
      );
    });
  }

  async ping(deviceId: string, timeoutMs = 5000): Promise<{ roundTripMs: number }> {
    const started = performance.now();
    await this.request(
      deviceId,
      (id, ts) => ({ v: PROTOCOL_VERSION, type: 'ping', id, ts }),
      timeoutMs,
    );
    return { roundTripMs: Math.round(performance.now() - started) };
  }

  async setVolume(
    deviceId: string,
    volume: number,
    timeoutMs = 5000,
  ): Promise<{ ok: boolean; reason?: string }> {
    const reply = await this.request(
      deviceId,
      (id, ts) => ({ v: PROTOCOL_VERSION, type: 'volume', id, ts, volume }),
      timeoutMs,
    );
    if (reply.kind !== 'ack') return { ok: true };
    // The device says it applied it: that is its volume now, not only at its next telemetry.
    if (reply.ok) this.presence.recordVolume(deviceId, volume);
    return { ok: reply.ok, ...(reply.reason ? { reason: reply.reason } : {}) };
  }

  onModuleDestroy(): void {
    for (const { timer } of this.waiting.values()) clearTimeout(timer);
    this.waiting.clear();
  }

  private async request(
    deviceId: string,
    build: (id: string, ts: number) => MessagesByKind['cmd'],
    timeoutMs: number,
  ): Promise<Reply> {
    if (!(await this.devices.exists(deviceId))) throw new NotFoundError('device', deviceId);
    if (!this.presence.get(deviceId)?.online) {
      throw new DomainError<DeviceErrorCode>(
        'conflict',
        'DEVICE_OFFLINE',
        `Device ${deviceId} is offline`,
      );
    }
    const id = randomUUID();
    const key = `${deviceId}/${id}`;
    const reply = new Promise<Reply>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(key);
        reject(
          new DomainError<DeviceErrorCode>(
            'timeout',
            'DEVICE_NO_ANSWER',
            `Device ${deviceId} did not answer within ${timeoutMs} ms`,
          ),
        );
      }, timeoutMs);
      this.waiting.set(key, { resolve, timer });
    });
    try {
      await this.gateway.sendCommand(deviceId, build(id, this.clock.now().getTime()));
    } catch (err) {
      const entry = this.waiting.get(key);
      if (entry) clearTimeout(entry.timer);
      this.waiting.delete(key);
      throw new DomainError<DeviceErrorCode>(
        'unavailable',
        'BROKER_UNAVAILABLE',
        `Could not send to device ${deviceId}: ${(err as Error).message}`,
      );
    }
    return reply;
  }
}
