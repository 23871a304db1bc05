/**
 * Which villages and devices a broadcast target reaches. Pure.
 *
 * Places (`all`, `towns`, `villages`) combine by union. `deviceTypes` narrows to devices of those
 * types (county-wide when no place is given), and the targeted villages to those having such a
 * device. `devices` adds those devices, and their villages, whatever else is chosen. Disabled devices
 * get no delivery, but their villages stay targeted (coverage reports them as uncovered).
 */
import type { DeviceType } from '../contract/device.js';

/**
 * Most entries a target may list by name, checked before anything is looked up: a larger place is
 * named by its towns (or `all`), and a list this long is already a 150 KB request.
 */
export const TARGET_LIMITS = { towns: 1_000, villages: 10_000, devices: 10_000 } as const;

export interface Target {
  all?: boolean;
  towns?: string[];
  villages?: string[];
  deviceTypes?: DeviceType[];
  devices?: string[];
}

export interface RegistryVillage {
  code: string;
  townCode: string;
}

export interface RegistryDevice {
  id: string;
  villageCode: string;
  type: DeviceType;
  enabled: boolean;
}

export interface Resolved {
  villageCodes: string[];
  deviceIds: string[];
}

export function resolveTargets(
  target: Target,
  villages: RegistryVillage[],
  devices: readonly RegistryDevice[],
): Resolved {
  const towns = new Set(target.towns ?? []);
  const named = new Set(target.villages ?? []);
  const types = target.deviceTypes?.length ? new Set(target.deviceTypes) : null;
  const anyPlace = target.all === true || towns.size > 0 || named.size > 0;

  let places = new Set(
    villages
      .filter(
        (v) =>
          (!anyPlace && types) || target.all === true || towns.has(v.townCode) || named.has(v.code),
      )
      .map((v) => v.code),
  );
  const chosen = new Set<string>();
  if (types) {
    const withType = new Set<string>();
    for (const d of devices) {
      if (!places.has(d.villageCode) || !types.has(d.type)) continue;
      withType.add(d.villageCode);
      if (d.enabled) chosen.add(d.id);
    }
    places = withType;
  } else {
    for (const d of devices) if (places.has(d.villageCode) && d.enabled) chosen.add(d.id);
  }
  const explicit = new Set(target.devices ?? []);
  for (const d of devices) {
    if (!explicit.has(d.id)) continue;
    places.add(d.villageCode);
    if (d.enabled) chosen.add(d.id);
  }
  return { villageCodes: [...places].sort(), deviceIds: [...chosen].sort() };
}

/**
 * The part of a target that reaches exactly these of its villages (a resend's target): villages it
 * reached by place stay places, with its device types; villages it reached only through named
 * devices keep just those devices, so the narrowed target never reaches a device the original did
 * not aim at.
 */
export function narrowTarget(
  target: Target,
  villageCodes: string[],
  villages: RegistryVillage[],
  devices: readonly RegistryDevice[],
): Target {
  const keep = new Set(villageCodes);
  const byPlace = new Set(
    resolveTargets({ ...target, devices: undefined }, villages, devices).villageCodes,
  );
  const villageOf = new Map(devices.map((d) => [d.id, d.villageCode]));
  const placed = villageCodes.filter((c) => byPlace.has(c));
  const named = (target.devices ?? []).filter((id) => {
    const village = villageOf.get(id);
    return village !== undefined && keep.has(village) && !byPlace.has(village);
  });
  return {
    ...(placed.length ? { villages: placed } : {}),
    ...(placed.length && target.deviceTypes?.length ? { deviceTypes: target.deviceTypes } : {}),
    ...(named.length ? { devices: named } : {}),
  };
}
