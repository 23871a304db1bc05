/**
 * Whether a broadcast target stays inside, or reaches into, a set of towns. Pure.
 *
 * A town official may send only what lies wholly in their towns ({@link targetTownsWithin}) and
 * sees what reaches any of them ({@link targetReachesTowns}). Both read the target as written, not
 * only as it resolves today: a schedule fires later, so `all` or a county-wide device type is never
 * "within" a town even while every device happens to be there.
 */
import type { RegistryDevice, RegistryVillage, Target } from './targets.js';

/** The registry the targets are read against (what `targetingSnapshot()` of villages and devices give). */
export interface TargetScopeSnapshot {
  villages: readonly RegistryVillage[];
  devices: readonly RegistryDevice[];
}

interface Lookup {
  townOfVillage: Map<string, string>;
  villageOfDevice: Map<string, string>;
  typesByVillage: Map<string, Set<string>>;
}

// Keyed by the snapshot's arrays, so filtering a page of broadcasts against one snapshot builds
// the maps once, and a newer snapshot (new arrays) never sees stale ones.
const villageLookups = new WeakMap<readonly RegistryVillage[], Map<string, string>>();
const deviceLookups = new WeakMap<
  readonly RegistryDevice[],
  { villageOfDevice: Map<string, string>; typesByVillage: Map<string, Set<string>> }
>();

function lookup(snapshot: TargetScopeSnapshot): Lookup {
  let townOfVillage = villageLookups.get(snapshot.villages);
  if (!townOfVillage) {
    townOfVillage = new Map(snapshot.villages.map((v) => [v.code, v.townCode]));
    villageLookups.set(snapshot.villages, townOfVillage);
  }
  let devices = deviceLookups.get(snapshot.devices);
  if (!devices) {
    const villageOfDevice = new Map<string, string>();
    const typesByVillage = new Map<string, Set<string>>();
    for (const d of snapshot.devices) {
      villageOfDevice.set(d.id, d.villageCode);
      const types = typesByVillage.get(d.villageCode);
      if (types) types.add(d.type);
      else typesByVillage.set(d.villageCode, new Set([d.type]));
    }
    devices = { villageOfDevice, typesByVillage };
    deviceLookups.set(snapshot.devices, devices);
  }
  return { townOfVillage, ...devices };
}

/**
 * Whether everything the target names lies in these towns (null: the whole county, always true).
 * `all`, a device type without a place, and names the registry does not know are outside.
 */
export function targetTownsWithin(
  target: Target,
  towns: readonly string[] | null,
  snapshot: TargetScopeSnapshot,
): boolean {
  if (towns === null) return true;
  const mine = new Set(towns);
  const hasPlace = target.all === true || !!target.towns?.length || !!target.villages?.length;
  if (target.all === true) return false;
  if (!hasPlace && target.deviceTypes?.length) return false;
  const { townOfVillage, villageOfDevice } = lookup(snapshot);
  const inMine = (village: string | undefined): boolean => {
    const town = village === undefined ? undefined : townOfVillage.get(village);
    return town !== undefined && mine.has(town);
  };
  return (
    (target.towns ?? []).every((t) => mine.has(t)) &&
    (target.villages ?? []).every((v) => inMine(v)) &&
    (target.devices ?? []).every((id) => inMine(villageOfDevice.get(id)))
  );
}

/**
 * Whether the target reaches any village of these towns (null: the whole county, always true):
 * by `all`, by naming one of the towns, or through a village or device in them (narrowed by its
 * device types as {@link resolveTargets} narrows).
 */
export function targetReachesTowns(
  target: Target,
  towns: readonly string[] | null,
  snapshot: TargetScopeSnapshot,
): boolean {
  if (towns === null) return true;
  const mine = new Set(towns);
  const types = target.deviceTypes?.length ? new Set<string>(target.deviceTypes) : null;
  const hasPlace = target.all === true || !!target.towns?.length || !!target.villages?.length;
  if (!types && (target.all === true || (target.towns ?? []).some((t) => mine.has(t)))) return true;
  const { townOfVillage, villageOfDevice, typesByVillage } = lookup(snapshot);
  const inMine = (village: string | undefined): boolean => {
    const town = village === undefined ? undefined : townOfVillage.get(village);
    return town !== undefined && mine.has(town);
  };
  if ((target.devices ?? []).some((id) => inMine(villageOfDevice.get(id)))) return true;
  if (!types) return (target.villages ?? []).some((v) => inMine(v));

  // With device types, a placed village counts only when it has a device of one of them.
  const namedTowns = new Set(target.towns ?? []);
  const namedVillages = new Set(target.villages ?? []);
  const placed = (code: string, town: string): boolean =>
    !hasPlace || target.all === true || namedTowns.has(town) || namedVillages.has(code);
  for (const [code, town] of townOfVillage) {
    if (!mine.has(town) || !placed(code, town)) continue;
    const present = typesByVillage.get(code);
    if (present && [...types].some((t) => present.has(t))) return true;
  }
  return false;
}
