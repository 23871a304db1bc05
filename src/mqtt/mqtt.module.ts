import { Module } from '@nestjs/common';
import type { AppConfig } from '../config/app-config.js';
import { APP_CONFIG } from '../config/config.module.js';
import { DevicesModule } from '../devices/devices.module.js';
import { DeviceCommands } from './device-commands.js';
import { DeviceCommandsController } from './device-commands.controller.js';
import { DeviceGateway } from './device-gateway.js';
import { DeviceSettings } from './device-settings.js';
import { EmbeddedBroker } from './embedded-broker.js';
import { ExternalBroker } from './external-broker.js';
import { MqttTransport } from './transport.js';

@Module({
  imports: [DevicesModule],
  controllers: [DeviceCommandsController],
  providers: [
    {
      provide: MqttTransport,
      inject: [APP_CONFIG],
      useFactory: (config: AppConfig) =>
        config.mqtt.url ? new ExternalBroker(config.mqtt) : new EmbeddedBroker(config.mqtt),
    },
    DeviceGateway,
    DeviceCommands,
    DeviceSettings,
  ],
  exports: [DeviceGateway, DeviceCommands],
})
export class MqttModule {}
