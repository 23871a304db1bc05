import { Injectable } from '@nestjs/common';
import type { DeviceType } from '../contract/device.js';
import { DevicesRepository } from './devices.repository.js';

export interface DirectoryEntry {
  readonly id: string;
  readonly villageCode: string;
  readonly type: DeviceType;
  readonly enabled: boolean;
  /** When it was registered: availability counts only the time since. */
  readonly createdAt: number;
}

/** Every device at one registry version; shared between callers, so never changed in place. */
export interface DirectoryView {
  readonly version: string;
  readonly entries: readonly DirectoryEntry[];
  readonly byId: ReadonlyMap<string, DirectoryEntry>;
  readonly byVillage: ReadonlyMap<string, readonly DirectoryEntry[]>;
}

/**
 * Every device's village, type, enabled flag and registration time in memory, for the views that look at all of
 * them at once (status board, coverage, broadcast targets). Each use reads the registry version
 * (one primary-key lookup; every device write changes it, in the same transaction) and reloads
 * the whole directory only when it changed, so it is never staler than the database, also when
 * several server processes share it. The board then reads no device rows per request.
 */
@Injectable()
export class DeviceDirectory {
  private view?: DirectoryView;

  constructor(private readonly repo: DevicesRepository) {}

  async current(): Promise<DirectoryView> {
    // The version is read before the rows: a write in between makes the next call reload.
    const version = await this.repo.registryVersion();
    if (this.view?.version === version) return this.view;
    const entries = await this.repo.snapshot();
    const byVillage = new Map<string, DirectoryEntry[]>();
    const byId = new Map<string, DirectoryEntry>();
    for (const e of entries) {
      byId.set(e.id, e);
      const list = byVillage.get(e.villageCode);
      if (list) list.push(e);
      else byVillage.set(e.villageCode, [e]);
    }
    this.view = { version, entries, byId, byVillage };
    return this.view;
  }
}
