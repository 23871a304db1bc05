import { AlertEntity, AlertFeedEntity, AlertSenderEntity } from './alerts/alert.entity.js';
import { CapMessageEntity } from './reports/cap-message.entity.js';
import { SuperiorPackageEntity } from './superior/superior-package.entity.js';
import { ApiTokenEntity } from './auth/api-token.entity.js';
import { SessionEntity, UserEntity, UserTownEntity } from './auth/user.entity.js';
import { DraftEntity } from './approvals/draft.entity.js';
import { ApprovalRuleEntity } from './broadcasts/approval-rule.entity.js';
import { AuditEntity } from './audit/audit.entity.js';
import {
  BroadcastEntity,
  BroadcastVillageEntity,
  DeliveryEntity,
  DeliveryEventEntity,
  ManualConfirmationEntity,
} from './broadcasts/broadcast.entity.js';
import { EvidenceEntryEntity } from './evidence/evidence-entry.entity.js';
import { ClipEntity, ClipRenditionEntity } from './clips/clip.entity.js';
import { ScheduleEntity, ScheduleFiringEntity } from './schedules/schedule.entity.js';
import { DeviceEntity } from './devices/device.entity.js';
import { DevicePresenceEntity, PresenceIntervalEntity } from './devices/presence.entity.js';
import { CommandSequenceEntity, ServerKeyEntity } from './signing/signing.entity.js';
import { SecurityEventEntity } from './devices/security-event.entity.js';
import { TownEntity } from './villages/town.entity.js';
import { VillageEntity } from './villages/village.entity.js';

/**
 * Every feature's entities, named here at the composition root so the database layer imports no
 * feature. The list is explicit (no globs) so the compiled ESM build, the CLI and the tests load
 * exactly the same schema; the database adds its own (app_meta) in dataSourceOptions().
 */
export const ENTITIES = [
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
  ServerKeyEntity,
  CommandSequenceEntity,
  SecurityEventEntity,
  EvidenceEntryEntity,
  UserEntity,
  UserTownEntity,
  SessionEntity,
  ApprovalRuleEntity,
  DraftEntity,
  AlertEntity,
  AlertSenderEntity,
  AlertFeedEntity,
  SuperiorPackageEntity,
  CapMessageEntity,
];
