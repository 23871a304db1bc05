import type { DeviceType } from '../contract/device.js';
import { DEVICE_TYPES } from '../contract/device.js';

/** What is wrong with a village's devices, worst first; null when every enabled device is online. */
export const VILLAGE_PROBLEMS = [
  'no_devices',
  'all_disabled',
  'all_offline',
  'some_offline',
] as const;
export type VillageProblem = (typeof VILLAGE_PROBLEMS)[number];

export interface DeviceStatus {
  type: DeviceType;
  enabled: boolean;
  online: boolean;
  lastSeenAt: number | null;
}

export interface VillageDeviceSummary {
  devicesTotal: number;
  devicesEnabled: number;
  devicesOnline: number;
  byType: Partial<Record<DeviceType, { total: number; online: number }>>;
  lastHeardAt: number | null;
  problem: VillageProblem | null;
}

/** Sums up one village's devices (pure; the status board and its tests share it). */
export function summariseVillage(devices: DeviceStatus[]): VillageDeviceSummary {
  const byType: VillageDeviceSummary['byType'] = {};
  let enabled = 0;
  let online = 0;
  let lastHeardAt: number | null = null;
  for (const d of devices) {
    const t = (byType[d.type] ??= { total: 0, online: 0 });
    t.total++;
    if (d.enabled) enabled++;
    if (d.online) {
      online++;
      t.online++;
    }
    if (d.lastSeenAt !== null && (lastHeardAt === null || d.lastSeenAt > lastHeardAt))
      lastHeardAt = d.lastSeenAt;
  }
  const onlineEnabled = devices.filter((d) => d.enabled && d.online).length;
  const problem: VillageProblem | null =
    devices.length === 0
      ? 'no_devices'
      : enabled === 0
        ? 'all_disabled'
        : onlineEnabled === 0
          ? 'all_offline'
          : onlineEnabled < enabled
            ? 'some_offline'
            : null;
  const ordered = Object.fromEntries(
    DEVICE_TYPES.filter((t) => byType[t]).map((t) => [t, byType[t]!]),
  );
  return {
    devicesTotal: devices.length,
    devicesEnabled: enabled,
    devicesOnline: online,
    byType: ordered,
    lastHeardAt,
    problem,
  };
}
