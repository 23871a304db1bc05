import { Injectable, Logger } from '@nestjs/common';
import { Clock } from '../common/clock.js';
import { isoTime } from '../common/time.js';
import { CsvUpload, escapeFormula, readCsv, ReadCsv, readingReport, toCsv } from '../common/csv.js';
import {
  DomainError,
  ImportInvalidError,
  NotFoundError,
  ValidationFailedError,
} from '../common/domain-error.js';
import type { VillageErrorCode } from './village-errors.js';
import { Page, pageWindow } from '../common/pagination.js';
import { isForeignKeyViolation, isUniqueViolation } from '../database/db-errors.js';
import type { ImportReportDto } from '../common/import-report.dto.js';
import type { CreateTownDto, TownDto, TownQuery, UpdateTownDto } from './dto/town.dto.js';
import type {
  CreateVillageDto,
  UpdateVillageDto,
  VillageDto,
  VillageQuery,
} from './dto/village.dto.js';
import type { TownEntity } from './town.entity.js';
import {
  checkVillageRows,
  planVillageImport,
  VILLAGE_CSV,
  VILLAGE_CSV_COLUMNS,
  VillageImportPlan,
} from './village-import.js';
import type { VillageEntity } from './village.entity.js';
import { VillagesRepository, VillagesTx } from './villages.repository.js';
import { byTownThenCode, type VillageRef } from './village-ref.js';

function toVillageDto(v: VillageEntity, townName: string): VillageDto {
  return {
    code: v.code,
    name: v.name,
    townCode: v.townCode,
    townName,
    lat: v.lat,
    lon: v.lon,
    quietHours: v.quietHours,
    createdAt: isoTime(v.createdAt),
    updatedAt: isoTime(v.updatedAt),
  };
}

function townMissing(code: string): ValidationFailedError {
  return new ValidationFailedError([
    { field: 'townCode', rule: 'exists', message: `townCode: town ${code} does not exist` },
  ]);
}

function latLonPair(lat: number | null, lon: number | null): void {
  if ((lat === null) !== (lon === null)) {
    throw new ValidationFailedError([
      {
        field: 'lat',
        rule: 'latLonPair',
        message: 'lat and lon must be given together or both be null',
      },
    ]);
  }
}

/** Towns and villages: the registry other modules ask about places. */
@Injectable()
export class VillagesService {
  private readonly logger = new Logger('villages');

  constructor(
    private readonly repo: VillagesRepository,
    private readonly clock: Clock,
  ) {}

  // ---- towns ----

  /** `towns`: only these (a town official's); null for the whole county. */
  async listTowns(
    query: TownQuery,
    towns: readonly string[] | null = null,
  ): Promise<Page<TownDto>> {
    const { limit, offset } = pageWindow(query);
    const [rows, total] = await this.repo.listTowns(query.q, limit, offset, towns);
    const items = rows.map((t) => ({
      code: t.code,
      name: t.name,
      villageCount: t.villageCount,
      createdAt: isoTime(t.createdAt),
      updatedAt: isoTime(t.updatedAt),
    }));
    return { items, total, limit, offset };
  }

  /** Outside `towns` (when given) it is not found: a town official learns nothing of it. */
  async getTown(code: string, towns: readonly string[] | null = null): Promise<TownDto> {
    const town = towns === null || towns.includes(code) ? await this.repo.findTown(code) : null;
    if (!town) throw new NotFoundError('town', code);
    const counts = await this.repo.villageCounts([code]);
    return {
      code,
      name: town.name,
      villageCount: counts.get(code) ?? 0,
      createdAt: isoTime(town.createdAt),
      updatedAt: isoTime(town.updatedAt),
    };
  }

  async createTown(input: CreateTownDto): Promise<TownDto> {
    const now = this.clock.now().getTime();
    await this.writeOrConflict(
      (tx) =>
        tx.insertTowns([{ code: input.code, name: input.name, createdAt: now, updatedAt: now }]),
      () =>
        new DomainError<VillageErrorCode>(
          'conflict',
          'TOWN_EXISTS',
          `Town ${input.code} already exists`,
        ),
    );
    this.logger.log(`town=${input.code} created`);
    return this.getTown(input.code);
  }

  async updateTown(code: string, input: UpdateTownDto): Promise<TownDto> {
    await this.repo.write(async (tx) => {
      if (!(await tx.findTown(code))) throw new NotFoundError('town', code);
      await tx.updateTown(code, { name: input.name, updatedAt: this.clock.now().getTime() });
    });
    return this.getTown(code);
  }

  async deleteTown(code: string): Promise<void> {
    try {
      const deleted = await this.repo.write((tx) => tx.deleteTown(code));
      if (!deleted) throw new NotFoundError('town', code);
    } catch (err) {
      if (!isForeignKeyViolation(err)) throw err;
      throw new DomainError<VillageErrorCode>(
        'conflict',
        'TOWN_HAS_VILLAGES',
        `Town ${code} still has villages; move or delete them first`,
      );
    }
    this.logger.log(`town=${code} deleted`);
  }

  // ---- villages ----

  async list(
    query: VillageQuery,
    towns: readonly string[] | null = null,
  ): Promise<Page<VillageDto>> {
    const { limit, offset } = pageWindow(query);
    const [rows, total] = await this.repo.listVillages({
      towns,
      town: query.town,
      q: query.q,
      limit,
      offset,
    });
    return { items: rows.map((v) => toVillageDto(v, v.town?.name ?? '')), total, limit, offset };
  }

  async get(code: string, towns: readonly string[] | null = null): Promise<VillageDto> {
    const village = await this.repo.findVillage(code);
    if (!village || (towns !== null && !towns.includes(village.townCode)))
      throw new NotFoundError('village', code);
    return toVillageDto(village, village.town?.name ?? '');
  }

  async create(input: CreateVillageDto): Promise<VillageDto> {
    const lat = input.lat ?? null;
    const lon = input.lon ?? null;
    latLonPair(lat, lon);
    const now = this.clock.now().getTime();
    await this.writeOrConflict(
      async (tx) => {
        if (!(await tx.findTown(input.townCode))) throw townMissing(input.townCode);
        if (await tx.findVillage(input.code)) throw villageExists(input.code);
        await tx.insertVillages([
          {
            code: input.code,
            name: input.name,
            townCode: input.townCode,
            lat,
            lon,
            quietHours: input.quietHours ?? null,
            createdAt: now,
            updatedAt: now,
          },
        ]);
      },
      () => villageExists(input.code),
    );
    this.logger.log(`village=${input.code} created town=${input.townCode}`);
    return this.get(input.code);
  }

  async update(code: string, input: UpdateVillageDto): Promise<VillageDto> {
    await this.repo.write(async (tx) => {
      const village = await tx.findVillage(code);
      if (!village) throw new NotFoundError('village', code);
      if (input.townCode !== undefined && !(await tx.findTown(input.townCode)))
        throw townMissing(input.townCode);
      const patch: Partial<VillageEntity> = {};
      if (input.name !== undefined) patch.name = input.name;
      if (input.townCode !== undefined) patch.townCode = input.townCode;
      if (input.lat !== undefined) patch.lat = input.lat;
      if (input.lon !== undefined) patch.lon = input.lon;
      if (input.quietHours !== undefined) patch.quietHours = input.quietHours;
      latLonPair(
        patch.lat === undefined ? village.lat : patch.lat,
        patch.lon === undefined ? village.lon : patch.lon,
      );
      await tx.updateVillage(code, { ...patch, updatedAt: this.clock.now().getTime() });
    });
    return this.get(code);
  }

  async remove(code: string): Promise<void> {
    try {
      const deleted = await this.repo.write((tx) => tx.deleteVillage(code));
      if (!deleted) throw new NotFoundError('village', code);
    } catch (err) {
      if (!isForeignKeyViolation(err)) throw err;
      throw new DomainError<VillageErrorCode>(
        'conflict',
        'VILLAGE_HAS_DEVICES',
        `Village ${code} still has devices; move them to another village or delete them first`,
      );
    }
    this.logger.log(`village=${code} deleted`);
  }

  // ---- for other modules ----

  /**
   * Codes of the villages in these towns (a town official's scope), read in one query each time:
   * villages move between towns, and every server must see that at once.
   */
  async villageCodesOfTowns(towns: readonly string[]): Promise<Set<string>> {
    return new Set(await this.repo.villageCodesOfTowns(towns));
  }

  /** Codes of the villages in a town (empty when the town has none or does not exist). */
  villageCodesInTown(townCode: string): Promise<string[]> {
    return this.repo.villageCodesInTown(townCode);
  }

  /** Which of `codes` are registered villages. */
  async existingVillageCodes(codes: string[]): Promise<Set<string>> {
    return new Set((await this.repo.findVillages([...new Set(codes)])).map((v) => v.code));
  }

  /** Every village with its town and quiet hours (for resolving broadcast targets). */
  async targetingSnapshot(): Promise<
    { code: string; townCode: string; quietHours: string | null }[]
  > {
    return (await this.allVillages()).map((v) => ({
      code: v.code,
      townCode: v.townCode,
      quietHours: v.quietHours,
    }));
  }

  /** Every village with its town's name, in town then village code order (for reports). */
  async refs(): Promise<VillageRef[]> {
    return (await this.matchingRefs({})).sort(byTownThenCode);
  }

  /**
   * Every village matching the town and text filters of a list (and within `towns` when given), by
   * code, with its town's name.
   */
  async matchingRefs(filter: {
    town?: string;
    q?: string;
    towns?: readonly string[] | null;
  }): Promise<VillageRef[]> {
    const rows = await this.repo.villageRefs(filter);
    for (const r of rows) r.townName ??= r.townCode;
    return rows as VillageRef[];
  }

  async existingTownCodes(codes: string[]): Promise<Set<string>> {
    const wanted = new Set(codes);
    return new Set((await this.repo.allTowns()).map((t) => t.code).filter((c) => wanted.has(c)));
  }

  async counts(): Promise<{ towns: number; villages: number }> {
    return { towns: await this.repo.countTowns(), villages: await this.repo.countVillages() };
  }

  // ---- CSV ----

  async exportCsv(
    query: Pick<VillageQuery, 'town' | 'q'>,
    towns: readonly string[] | null = null,
  ): Promise<string> {
    const [rows] = await this.repo.listVillages({ towns, town: query.town, q: query.q });
    return toCsv(
      VILLAGE_CSV_COLUMNS,
      rows.map((v) => [
        v.code,
        escapeFormula(v.name),
        v.townCode,
        escapeFormula(v.town?.name ?? ''),
        v.lat,
        v.lon,
        v.quietHours,
      ]),
    );
  }

  /**
   * Imports (upserts) villages from CSV. Nothing is written when any line has a problem; a dry run
   * reports what would happen and writes nothing either way.
   */
  async importCsv(upload: CsvUpload, dryRun: boolean): Promise<ImportReportDto> {
    const parsed = await readCsv(upload, VILLAGE_CSV);
    // Line by line first, outside the write transaction: other writes need not wait for it.
    const checked = await checkVillageRows(parsed);
    const planFrom = async (tx: Pick<VillagesTx, 'allTowns' | 'allVillages'>) =>
      planVillageImport(
        checked,
        new Map((await tx.allTowns()).map((t) => [t.code, t])),
        new Map((await tx.allVillages()).map((v) => [v.code, v])),
      );

    if (dryRun) {
      const plan = await planFrom({
        allTowns: () => this.repo.allTowns(),
        allVillages: () => this.repo.villagesForImport(),
      });
      return this.report(plan, parsed, true);
    }
    const plan = await this.repo.write(async (tx) => {
      const plan = await planFrom(tx);
      if (plan.problems.length > 0) return plan;
      const now = this.clock.now().getTime();
      await tx.insertTowns(
        plan.townsToCreate.map(
          (t) => ({ ...t, createdAt: now, updatedAt: now }) satisfies TownEntity,
        ),
      );
      for (const t of plan.townsToRename)
        await tx.updateTown(t.code, { name: t.name, updatedAt: now });
      await tx.insertVillages(
        plan.villagesToCreate.map((v) => ({ ...v, createdAt: now, updatedAt: now })),
      );
      await tx.updateVillages(plan.villagesToUpdate, now);
      return plan;
    });
    if (plan.problems.length > 0) throw new ImportInvalidError(plan.problems);
    const report = this.report(plan, parsed, false);
    this.logger.log(
      `villages import: ${report.created} created, ${report.updated} updated, ${report.unchanged} unchanged, ${report.townsCreated} town(s) created`,
    );
    return report;
  }

  private async allVillages(): Promise<VillageEntity[]> {
    return (await this.repo.listVillages({}))[0];
  }

  private report(plan: VillageImportPlan, read: ReadCsv, dryRun: boolean): ImportReportDto {
    return {
      dryRun,
      ok: plan.problems.length === 0,
      ...readingReport(read, dryRun),
      created: plan.villagesToCreate.length,
      updated: plan.villagesToUpdate.length,
      unchanged: plan.unchanged,
      townsCreated: plan.townsToCreate.length,
      townsUpdated: plan.townsToRename.length,
      problems: plan.problems,
    };
  }

  /** Runs a write; a unique-key race that the pre-check could not see becomes a clear 409. */
  private async writeOrConflict(
    work: (tx: VillagesTx) => Promise<void>,
    conflict: () => DomainError<VillageErrorCode>,
  ): Promise<void> {
    try {
      await this.repo.write(work);
    } catch (err) {
      if (isUniqueViolation(err)) throw conflict();
      throw err;
    }
  }
}

function villageExists(code: string): DomainError<VillageErrorCode> {
  return new DomainError<VillageErrorCode>(
    'conflict',
    'VILLAGE_EXISTS',
    `Village ${code} already exists`,
  );
}
