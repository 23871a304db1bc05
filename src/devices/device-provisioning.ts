import { Injectable, Logger } from '@nestjs/common';
import QRCode from 'qrcode';
import { type AppConfig, localDeviceBrokerUrl } from '../config/app-config.js';
import { InjectConfig } from '../config/config.module.js';
import { PROTOCOL_VERSION } from '../contract/messages.js';
import { Clock } from '../common/clock.js';
import { NotFoundError } from '../common/domain-error.js';
import { ServerKeys } from '../signing/server-keys.js';
import { DeviceGateway } from './device-gateway.js';
import { DevicesService } from './devices.service.js';
import type { CreateDeviceDto } from './dto/device.dto.js';
import {
  PROVISIONING_FORMAT,
  ProvisionedDeviceDto,
  ProvisioningBundleDto,
} from './dto/provisioning.dto.js';

/** A host name or IP literal as `req.hostname` gives it, nothing a URL could be bent with. */
const HOST_NAME = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?)$/;
const LOOPBACK = /^(?:localhost|127\.\d+\.\d+\.\d+|\[::1\])$/i;

/**
 * Provisioning bundles: what a field installer puts into a device (its id and secret, the broker,
 * the topic prefix, the server's public keys), as JSON and as a QR code. The secret is in it only
 * when it was just issued (create, rotate); a bundle read later has `secret: null`.
 */
@Injectable()
export class DeviceProvisioning {
  private readonly logger = new Logger('devices');

  constructor(
    private readonly devices: DevicesService,
    private readonly keys: ServerKeys,
    private readonly gateway: DeviceGateway,
    private readonly clock: Clock,
    @InjectConfig() private readonly config: AppConfig,
  ) {}

  /** Registers a device; the response holds its secret and bundle, once. */
  async create(input: CreateDeviceDto, requestHost?: string): Promise<ProvisionedDeviceDto> {
    const device = await this.devices.create(input);
    return { ...device, provisioning: await this.bundle(device.id, device.secret, requestHost) };
  }

  /** Issues a new secret; the response holds it and the bundle, once. */
  async rotateSecret(id: string, requestHost?: string): Promise<ProvisionedDeviceDto> {
    const device = await this.devices.rotateSecret(id);
    return { ...device, provisioning: await this.bundle(id, device.secret, requestHost) };
  }

  /** The bundle of an existing device, without its secret (which is never stored readable). */
  async get(id: string, requestHost?: string): Promise<ProvisioningBundleDto> {
    if (!(await this.devices.exists(id))) throw new NotFoundError('device', id);
    return this.bundle(id, null, requestHost);
  }

  private async bundle(
    deviceId: string,
    secret: string | null,
    requestHost: string | undefined,
  ): Promise<ProvisioningBundleDto> {
    const { keys } = await this.keys.published();
    const body = {
      format: PROVISIONING_FORMAT,
      deviceId,
      secret,
      mqttUrl: this.brokerUrl(requestHost),
      topicPrefix: this.config.mqtt.topicPrefix,
      protocol: PROTOCOL_VERSION,
      signing: { mode: this.config.signing.mode, keys },
      serverTime: this.clock.now().getTime(),
    } satisfies Omit<ProvisioningBundleDto, 'qr'>;
    let qr: string | null = null;
    try {
      // Low error correction: the most data per code, and a screen or a print is read cleanly.
      qr = await QRCode.toString(JSON.stringify(body), {
        type: 'svg',
        errorCorrectionLevel: 'L',
        margin: 2,
      });
    } catch (err) {
      this.logger.warn(
        `device=${deviceId} provisioning bundle too large for a QR code: ${(err as Error).message}`,
      );
    }
    this.logger.log(
      `device=${deviceId} provisioning bundle issued${secret ? ' with a new secret' : ''}`,
    );
    return { ...body, qr };
  }

  /**
   * Where a device connects: MQTT_PUBLIC_URL; else the external broker's device listener (the
   * host of MQTT_URL, never its credentials); else the embedded broker on the host devices use
   * for clips (PUBLIC_URL) or, without one, the host this request came to unless that is loopback.
   */
  private brokerUrl(requestHost: string | undefined): string {
    const m = this.config.mqtt;
    if (m.publicUrl) return withoutCredentials(m.publicUrl);
    if (m.url !== undefined) return localDeviceBrokerUrl(this.config);
    const configured = new URL(this.config.publicUrl).hostname;
    const host =
      !this.config.publicUrlGiven &&
      requestHost &&
      HOST_NAME.test(requestHost) &&
      !LOOPBACK.test(requestHost)
        ? requestHost
        : configured;
    return `mqtt://${host}:${this.gateway.ports.mqtt ?? m.port}`;
  }
}

function withoutCredentials(url: string): string {
  const u = new URL(url);
  u.username = '';
  u.password = '';
  return u.toString().replace(/\/$/, '');
}
