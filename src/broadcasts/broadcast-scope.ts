import { Injectable } from '@nestjs/common';
import { DomainError, NotFoundError } from '../common/domain-error.js';
import type { Level } from '../contract/messages.js';
import { DevicesService } from '../devices/devices.service.js';
import { VillagesService } from '../villages/villages.service.js';
import type { BroadcastErrorCode } from './broadcast-errors.js';
import { BroadcastReadsRepository } from './broadcast-reads.repository.js';
import { TargetScopeSnapshot, targetReachesTowns, targetTownsWithin } from './target-scope.js';
import type { Target } from './targets.js';

/** Levels a town official may send: emergencies are the county's to call. */
const TOWN_LEVELS: readonly Level[] = ['routine', 'test'];

/**
 * What a town official may see and do of broadcasts. `towns` null is the county: every check
 * passes without a query, so county staff pay nothing for it.
 */
@Injectable()
export class BroadcastScope {
  constructor(
    private readonly villages: VillagesService,
    private readonly devices: DevicesService,
    private readonly reads: BroadcastReadsRepository,
  ) {}

  /** Codes of the villages in these towns (null for the county: no filter). */
  async villageCodes(towns: readonly string[] | null): Promise<string[] | null> {
    if (towns === null) return null;
    return [...(await this.villages.villageCodesOfTowns(towns))];
  }

  /**
   * Whether a broadcast reaches these towns: by the villages it was sent to once dispatched (the
   * target may name villages since moved or deleted), by its target before.
   */
  async reaches(
    b: { id: string; target: string; dispatchedAt: number | null },
    towns: readonly string[] | null,
  ): Promise<boolean> {
    if (towns === null) return true;
    if (b.dispatchedAt !== null)
      return this.reads.targetsAnyVillage(b.id, (await this.villageCodes(towns))!);
    return targetReachesTowns(JSON.parse(b.target) as Target, towns, await this.snapshot());
  }

  /** 404 (as if it did not exist) for a broadcast that reaches none of these towns. */
  async requireVisible(
    b: { id: string; target: string; dispatchedAt: number | null },
    towns: readonly string[] | null,
  ): Promise<void> {
    if (!(await this.reaches(b, towns))) throw new NotFoundError('broadcast', b.id);
  }

  /** Undispatched broadcasts whose target reaches these towns (for the list). */
  async undispatchedReaching(towns: readonly string[]): Promise<string[]> {
    const rows = await this.reads.undispatched();
    if (!rows.length) return [];
    const snapshot = await this.snapshot();
    return rows
      .filter((r) => targetReachesTowns(JSON.parse(r.target) as Target, towns, snapshot))
      .map((r) => r.id);
  }

  /** Refuses (403 OUT_OF_SCOPE) what a town official may not send: an emergency, or a target reaching beyond their towns. */
  async requireSendable(
    level: Level | null,
    target: Target,
    towns: readonly string[] | null,
  ): Promise<void> {
    if (towns === null) return;
    if (level !== null && !TOWN_LEVELS.includes(level))
      throw new DomainError<BroadcastErrorCode>(
        'forbidden',
        'OUT_OF_SCOPE',
        `A town official sends routine and test broadcasts only; level ${level} is for county staff`,
      );
    if (!targetTownsWithin(target, towns, await this.snapshot()))
      throw new DomainError<BroadcastErrorCode>(
        'forbidden',
        'OUT_OF_SCOPE',
        `The target reaches beyond your towns (${towns.join(', ')}); name only their towns, villages or devices`,
      );
  }

  /** Refuses (403 OUT_OF_SCOPE) a village outside these towns. */
  async requireVillage(villageCode: string, towns: readonly string[] | null): Promise<void> {
    if (towns === null) return;
    if (!(await this.villageCodes(towns))!.includes(villageCode))
      throw new DomainError<BroadcastErrorCode>(
        'forbidden',
        'OUT_OF_SCOPE',
        `Village ${villageCode} is not in your towns (${towns.join(', ')})`,
      );
  }

  private async snapshot(): Promise<TargetScopeSnapshot> {
    const [villages, devices] = await Promise.all([
      this.villages.targetingSnapshot(),
      this.devices.targetingSnapshot(),
    ]);
    return { villages, devices };
  }
}
