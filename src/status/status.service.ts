import { Injectable } from '@nestjs/common';
import { pageWindow } from '../common/pagination.js';
import { isoTime } from '../common/time.js';
import { CoverageService } from '../coverage/coverage.service.js';
import type { AppConfig } from '../config/app-config.js';
import { InjectConfig } from '../config/config.module.js';
import { Clock } from '../common/clock.js';
import { DevicesService } from '../devices/devices.service.js';
import { SECURITY_RECENT_MS, SecurityEvents } from '../devices/security-events.js';
import { VillagesService } from '../villages/villages.service.js';
import type { VillageStatusDto, VillageStatusPageDto, VillageStatusQuery } from './status.dto.js';
import { VillageTally } from './village-status.js';

/** The village status board: every village with its devices' presence, worst problem first in mind. */
@Injectable()
export class StatusService {
  constructor(
    private readonly villages: VillagesService,
    private readonly devices: DevicesService,
    private readonly coverage: CoverageService,
    private readonly security: SecurityEvents,
    private readonly clock: Clock,
    @InjectConfig() private readonly config: AppConfig,
  ) {}

  /** `towns`: a town official's; the rows and the summary then cover only their villages. */
  async villageStatus(
    query: VillageStatusQuery,
    towns: readonly string[] | null = null,
  ): Promise<VillageStatusPageDto> {
    const { limit, offset } = pageWindow(query);
    // Every village matching town/q (the summary and the problem filter need all of them), then
    // each one's devices from the in-memory directory.
    const all = await this.villages.matchingRefs({ town: query.town, q: query.q, towns });
    const tallies = new Map(all.map((v) => [v.code, new VillageTally()]));
    await this.devices.tallyVillages([...tallies.keys()], (code) => tallies.get(code)!);
    const security = await this.security.countsByVillage(
      [...tallies.keys()],
      this.clock.now().getTime() - SECURITY_RECENT_MS,
    );
    const rows: VillageStatusDto[] = all.map((v) => {
      const s = tallies.get(v.code)!.summary();
      return {
        code: v.code,
        name: v.name,
        townCode: v.townCode,
        townName: v.townName,
        devicesTotal: s.devicesTotal,
        devicesEnabled: s.devicesEnabled,
        devicesOnline: s.devicesOnline,
        byType: s.byType,
        lastHeardAt: s.lastHeardAt === null ? null : isoTime(s.lastHeardAt),
        problem: s.problem,
        typeMismatches: s.typeMismatches,
        securityEvents: security.get(v.code) ?? 0,
        latestBroadcast: null,
      };
    });
    const matching = query.problem ? rows.filter((r) => r.problem === query.problem) : rows;
    const items = matching.slice(offset, offset + limit);
    const pageCodes = items.map((r) => r.code);
    const latest = await this.coverage.latestOutcomes(
      pageCodes,
      await this.devices.onlineByVillage(pageCodes),
    );
    for (const r of items) r.latestBroadcast = latest.get(r.code) ?? null;
    return {
      items,
      total: matching.length,
      limit,
      offset,
      summary: {
        villages: matching.length,
        villagesOk: matching.filter((r) => r.problem === null).length,
        devicesTotal: matching.reduce((n, r) => n + r.devicesTotal, 0),
        devicesOnline: matching.reduce((n, r) => n + r.devicesOnline, 0),
        typeMismatches: matching.reduce((n, r) => n + r.typeMismatches.length, 0),
        securityEvents: matching.reduce((n, r) => n + r.securityEvents, 0),
        commandSigning: this.config.signing.mode,
      },
    };
  }
}
