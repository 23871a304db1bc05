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

/** A device whose latest hello named another type than its registration. */
export interface TypeMismatch {
  deviceId: string;
  registeredType: DeviceType;
  reportedType: string;
}

export interface VillageDeviceSummary {
  devicesTotal: number;
  devicesEnabled: number;
  devicesOnline: number;
  byType: Partial<Record<DeviceType, { total: number; online: number }>>;
  lastHeardAt: number | null;
  problem: VillageProblem | null;
  /** By device id. */
  typeMismatches: TypeMismatch[];
}

/**
 * Sums up one village's devices as they are added: the status board adds every device of every
 * village on each request, so it takes them one call at a time instead of as objects.
 */
export class VillageTally {
  private readonly byType: Partial<Record<DeviceType, { total: number; online: number }>> = {};
  private total = 0;
  private enabled = 0;
  private online = 0;
  private onlineEnabled = 0;
  private lastHeardAt: number | null = null;
  private readonly typeMismatches: TypeMismatch[] = [];

  add(type: DeviceType, enabled: boolean, online: boolean, lastSeenAt: number | null): void {
    const t = (this.byType[type] ??= { total: 0, online: 0 });
    t.total++;
    this.total++;
    if (enabled) this.enabled++;
    if (online) {
      this.online++;
      t.online++;
      if (enabled) this.onlineEnabled++;
    }
    if (lastSeenAt !== null && (this.lastHeardAt === null || lastSeenAt > this.lastHeardAt))
      this.lastHeardAt = lastSeenAt;
  }

  addTypeMismatch(deviceId: string, registeredType: DeviceType, reportedType: string): void {
    this.typeMismatches.push({ deviceId, registeredType, reportedType });
  }

  summary(): VillageDeviceSummary {
    const problem: VillageProblem | null =
      this.total === 0
        ? 'no_devices'
        : this.enabled === 0
          ? 'all_disabled'
          : this.onlineEnabled === 0
            ? 'all_offline'
            : this.onlineEnabled < this.enabled
              ? 'some_offline'
              : null;
    const byType: VillageDeviceSummary['byType'] = {};
    for (const t of DEVICE_TYPES) if (this.byType[t]) byType[t] = this.byType[t];
    return {
      devicesTotal: this.total,
      devicesEnabled: this.enabled,
      devicesOnline: this.online,
      byType,
      lastHeardAt: this.lastHeardAt,
      problem,
      typeMismatches: [...this.typeMismatches].sort((a, b) =>
        a.deviceId < b.deviceId ? -1 : a.deviceId > b.deviceId ? 1 : 0,
      ),
    };
  }
}
