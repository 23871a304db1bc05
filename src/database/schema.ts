import { ApiTokenEntity } from '../auth/api-token.entity.js';
import { DeviceEntity } from '../devices/device.entity.js';
import { TownEntity } from '../villages/town.entity.js';
import { VillageEntity } from '../villages/village.entity.js';
import { AppMetaEntity } from './app-meta.entity.js';
import { Foundation1764316800000 } from './migrations/1764316800000-foundation.js';

/**
 * Every entity and every migration, in order. The list is explicit (no globs) so the compiled
 * ESM build, the CLI and the tests load exactly the same schema.
 */
export const ENTITIES = [AppMetaEntity, TownEntity, VillageEntity, DeviceEntity, ApiTokenEntity];

export const MIGRATIONS = [Foundation1764316800000];
