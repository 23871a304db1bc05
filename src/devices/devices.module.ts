import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { MqttModule } from '../mqtt/mqtt.module.js';
import { VillagesModule } from '../villages/villages.module.js';
import { DeviceCommands } from './device-commands.js';
import { DeviceCommandsController } from './device-commands.controller.js';
import { DeviceDirectory } from './device-directory.js';
import { DeviceEvents } from './device-events.js';
import { DeviceGateway } from './device-gateway.js';
import { DeviceKeys } from './device-keys.js';
import { DeviceKeysController } from './device-keys.controller.js';
import { DeviceKeysRepository } from './device-keys.repository.js';
import { DeviceSettings } from './device-settings.js';
import { DeviceEntity } from './device.entity.js';
import { DevicesController } from './devices.controller.js';
import { DevicesRepository } from './devices.repository.js';
import { DevicesService } from './devices.service.js';
import { DevicePresenceEntity, PresenceIntervalEntity } from './presence.entity.js';
import { PresenceRepository } from './presence.repository.js';
import { PresenceService } from './presence.service.js';
import { SecurityEvents } from './security-events.js';
import { TypeMismatchLog } from './type-mismatch-log.js';

@Module({
  imports: [
    TypeOrmModule.forFeature([DeviceEntity, DevicePresenceEntity, PresenceIntervalEntity]),
    VillagesModule,
    MqttModule,
  ],
  controllers: [DevicesController, DeviceCommandsController, DeviceKeysController],
  providers: [
    DevicesRepository,
    DeviceDirectory,
    DevicesService,
    DeviceEvents,
    PresenceRepository,
    PresenceService,
    TypeMismatchLog,
    DeviceGateway,
    DeviceCommands,
    DeviceSettings,
    DeviceKeysRepository,
    DeviceKeys,
    SecurityEvents,
  ],
  exports: [
    DevicesService,
    DeviceEvents,
    PresenceService,
    DeviceGateway,
    DeviceCommands,
    DeviceKeys,
    SecurityEvents,
  ],
})
export class DevicesModule {}
