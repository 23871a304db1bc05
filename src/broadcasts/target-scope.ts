// STAND-IN (helper B writes the real one)
/**
 * Whether a broadcast target stays within, or reaches into, a town official's towns. Pure: the
 * caller passes the registry snapshot the target is resolved against.
 */
import { RegistryDevice, RegistryVillage, resolveTargets, Target } from './targets.js';

export interface ScopeSnapshot {
  villages: RegistryVillage[];
  devices: readonly RegistryDevice[];
}

/**
 * True when everything the target names lies in `towns`: `all`, or device types without a place
 * (county-wide), never do, since they also reach villages added later in other towns.
 */
export function targetTownsWithin(
  target: Target,
  towns: readonly string[],
  snapshot: ScopeSnapshot,
): boolean {
  const allowed = new Set(towns);
  if (target.all === true) return false;
  const anyPlace = !!target.towns?.length || !!target.villages?.length;
  if (target.deviceTypes?.length && !anyPlace) return false;
  const townOf = new Map(snapshot.villages.map((v) => [v.code, v.townCode]));
  const inScope = (village: string | undefined) =>
    village !== undefined && allowed.has(townOf.get(village) ?? '');
  const villageOf = new Map(snapshot.devices.map((d) => [d.id, d.villageCode]));
  return (
    (target.towns ?? []).every((t) => allowed.has(t)) &&
    (target.villages ?? []).every(inScope) &&
    (target.devices ?? []).every((id) => inScope(villageOf.get(id)))
  );
}

/** True when the target reaches at least one village of `towns` (or names one of them). */
export function targetReachesTowns(
  target: Target,
  towns: readonly string[],
  snapshot: ScopeSnapshot,
): boolean {
  const allowed = new Set(towns);
  if ((target.towns ?? []).some((t) => allowed.has(t))) return true;
  const townOf = new Map(snapshot.villages.map((v) => [v.code, v.townCode]));
  return resolveTargets(target, snapshot.villages, snapshot.devices).villageCodes.some((c) =>
    allowed.has(townOf.get(c) ?? ''),
  );
}
