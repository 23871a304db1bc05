import { Module } from '@nestjs/common';
import type { AppConfig } from '../config/app-config.js';
import { APP_CONFIG } from '../config/config.module.js';
import { EmbeddedBroker } from './embedded-broker.js';
import { ExternalBroker } from './external-broker.js';
import { MqttTransport } from './transport.js';

/**
 * The MQTT transport only: the embedded broker or a client of an external one. What the messages
 * mean (logins, device events, commands) is the devices module's DeviceGateway.
 */
@Module({
  providers: [
    {
      provide: MqttTransport,
      inject: [APP_CONFIG],
      useFactory: (config: AppConfig) =>
        config.mqtt.url ? new ExternalBroker(config.mqtt) : new EmbeddedBroker(config.mqtt),
    },
  ],
  exports: [MqttTransport],
})
export class MqttModule {}
