import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { MqttModule } from '../mqtt/mqtt.module.js';
import { SigningModule } from '../signing/signing.module.js';
import { VillagesModule } from '../villages/villages.module.js';
import { DeviceCommands } from './device-commands.js';
import { DeviceCommandsController } from './device-commands.controller.js';
import { CommandRejections } from './command-rejections.js';
import { DeviceDirectory } from './device-directory.js';
import { DeviceEvents } from './device-events.js';
import { DeviceGateway } from './device-gateway.js';
import { DeviceProvisioning } from './device-provisioning.js';
import { DeviceKeys } from './device-keys.js';
import { DeviceKeysController } from './device-keys.controller.js';
import { DeviceKeysRepository } from './device-keys.repository.js';
import { DeviceSettings } from './device-settings.js';
import { KeyAnnouncer } from './key-announcer.js';
import { DeviceEntity } from './device.entity.js';
import { DevicesController } from './devices.controller.js';
import { DevicesRepository } from './devices.repository.js';
import { DevicesService } from './devices.service.js';
import { DevicePresenceEntity, PresenceIntervalEntity } from './presence.entity.js';
import { PresenceRepository } from './presence.repository.js';
import { PresenceService } from './presence.service.js';
import { SecurityEventEntity } from './security-event.entity.js';
import { SecurityEvents } from './security-events.js';
import { SecurityEventsRepository } from './security-events.repository.js';
import { TypeMismatchLog } from './type-mismatch-log.js';

@Module({
  imports: [
    TypeOrmModule.forFeature([
      DeviceEntity,
      DevicePresenceEntity,
      PresenceIntervalEntity,
      SecurityEventEntity,
    ]),
    VillagesModule,
    MqttModule,
    SigningModule,
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
    KeyAnnouncer,
    DeviceProvisioning,
    SecurityEventsRepository,
    SecurityEvents,
    CommandRejections,
    DeviceKeysRepository,
    DeviceKeys,
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
