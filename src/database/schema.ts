import { ApiTokenEntity } from '../auth/api-token.entity.js';
import { AuditEntity } from '../audit/audit.entity.js';
import {
  BroadcastEntity,
  BroadcastVillageEntity,
  DeliveryEntity,
  DeliveryEventEntity,
  ManualConfirmationEntity,
} from '../broadcasts/broadcast.entity.js';
import { ClipEntity, ClipRenditionEntity } from '../clips/clip.entity.js';
import { ScheduleEntity, ScheduleFiringEntity } from '../schedules/schedule.entity.js';
import { DeviceEntity } from '../devices/device.entity.js';
import { DevicePresenceEntity, PresenceIntervalEntity } from '../devices/presence.entity.js';
import { TownEntity } from '../villages/town.entity.js';
import { VillageEntity } from '../villages/village.entity.js';
import { AppMetaEntity } from './app-meta.entity.js';
import { Foundation1764316800000 } from './migrations/1764316800000-foundation.js';
import { Presence1764403200000 } from './migrations/1764403200000-presence.js';
import { Clips1764489600000 } from './migrations/1764489600000-clips.js';
import { Broadcasts1764576000000 } from './migrations/1764576000000-broadcasts.js';
import { Coverage1764662400000 } from './migrations/1764662400000-coverage.js';
import { VillagePlayed1764748800000 } from './migrations/1764748800000-village-played.js';
import { DeliveryOutcomes1764835200000 } from './migrations/1764835200000-delivery-outcomes.js';
import { PresenceOpenOnce1764925200000 } from './migrations/1764925200000-presence-open-once.js';
import { BroadcastRequestKey1765011600000 } from './migrations/1765011600000-broadcast-request-key.js';
import { ConfirmationDetails1765098000000 } from './migrations/1765098000000-confirmation-details.js';
import { BroadcastResendOf1765184400000 } from './migrations/1765184400000-broadcast-resend-of.js';

/**
 * Every entity and every migration, in order. The list is explicit (no globs) so the compiled
 * ESM build, the CLI and the tests load exactly the same schema.
 */
export const ENTITIES = [
  AppMetaEntity,
  TownEntity,
  VillageEntity,
  DeviceEntity,
  DevicePresenceEntity,
  PresenceIntervalEntity,
  ApiTokenEntity,
  ClipEntity,
  ClipRenditionEntity,
  BroadcastEntity,
  BroadcastVillageEntity,
  DeliveryEntity,
  DeliveryEventEntity,
  ManualConfirmationEntity,
  ScheduleEntity,
  ScheduleFiringEntity,
  AuditEntity,
];

export const MIGRATIONS = [
  Foundation1764316800000,
  Presence1764403200000,
  Clips1764489600000,
  Broadcasts1764576000000,
  Coverage1764662400000,
  VillagePlayed1764748800000,
  DeliveryOutcomes1764835200000,
  PresenceOpenOnce1764925200000,
  BroadcastRequestKey1765011600000,
  ConfirmationDetails1765098000000,
  BroadcastResendOf1765184400000,
];
