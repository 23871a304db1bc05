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
import { CommandSigning1765270800000 } from './migrations/1765270800000-command-signing.js';
import { SecurityEvents1765357200000 } from './migrations/1765357200000-security-events.js';
import { DeviceKeys1765530000000 } from './migrations/1765530000000-device-keys.js';
import { EvidenceChain1765443600000 } from './migrations/1765443600000-evidence-chain.js';
import { StaffAccounts1765616400000 } from './migrations/1765616400000-staff-accounts.js';
import { Alerts1765702800000 } from './migrations/1765702800000-alerts.js';
import { BroadcastCreatedAt1765789200000 } from './migrations/1765789200000-broadcast-created-at.js';
import { DeviceResourceCode1765875600000 } from './migrations/1765875600000-device-resource-code.js';
import { CapMessages1765962000000 } from './migrations/1765962000000-cap-messages.js';

/**
 * Every migration, in order. The list is explicit (no globs) so the compiled ESM build, the CLI
 * and the tests run exactly the same ones; the entities are listed by the composition root
 * (src/entities.ts), since the database layer imports no feature.
 */
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
  CommandSigning1765270800000,
  SecurityEvents1765357200000,
  EvidenceChain1765443600000,
  DeviceKeys1765530000000,
  StaffAccounts1765616400000,
  Alerts1765702800000,
  BroadcastCreatedAt1765789200000,
  DeviceResourceCode1765875600000,
  CapMessages1765962000000,
];
