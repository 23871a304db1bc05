import { numberCell, textCell, validateCsvRow } from '../common/csv-validation.js';
import { yieldEvery, type CsvSpec, type ParsedCsv } from '../common/csv.js';
import type { FieldProblem } from '../common/domain-error.js';
import { isDisplayName } from '../common/validators.js';
import { CreateVillageDto } from './dto/village.dto.js';
import { isTownCode } from './admin-codes.js';
import type { TownEntity } from './town.entity.js';
import type { VillageEntity } from './village.entity.js';

/** Columns of the villages CSV, in export order. */
export const VILLAGE_CSV_COLUMNS = [
  'code',
  'name',
  'town_code',
  'town_name',
  'lat',
  'lon',
  'quiet_hours',
] as const;

export const VILLAGE_CSV: CsvSpec = {
  required: ['code', 'name', 'town_code'],
  optional: ['town_name', 'lat', 'lon', 'quiet_hours'],
  maxRows: 100_000,
};

const COLUMN_OF: Record<string, string> = { townCode: 'town_code', quietHours: 'quiet_hours' };

type VillageFields = Pick<VillageEntity, 'name' | 'townCode' | 'lat' | 'lon' | 'quietHours'>;

export interface VillageImportPlan {
  problems: FieldProblem[];
  townsToCreate: { code: string; name: string }[];
  townsToRename: { code: string; name: string }[];
  villagesToCreate: ({ code: string } & VillageFields)[];
  /** `since`: the row's `updatedAt` when planned, so a change made meanwhile is not overwritten. */
  villagesToUpdate: { code: string; patch: Partial<VillageFields>; since: number }[];
  unchanged: number;
}

/** A villages CSV checked line by line, before the registry is read. */
export interface CheckedVillages {
  columns: string[];
  problems: FieldProblem[];
  /** Lines without problems of their own. */
  rows: { line: number; dto: CreateVillageDto }[];
  /** Lines whose town the registry must know: a valid town code with no name on it or before it. */
  needTown: { line: number; townCode: string }[];
  /** The name each town is given in the file (first line that names it). */
  townNames: Map<string, { name: string; line: number }>;
}

/**
 * Checks every line of a villages CSV on its own (the same DTO and rules as the JSON API, unique
 * codes, lat and lon together, one name per town), with turns of the event loop between batches:
 * the slow part of a large import, kept out of the write transaction.
 */
export async function checkVillageRows(parsed: ParsedCsv): Promise<CheckedVillages> {
  const checked: CheckedVillages = {
    columns: parsed.columns,
    problems: [...parsed.problems],
    rows: [],
    needTown: [],
    townNames: new Map(),
  };
  const has = (column: string) => parsed.columns.includes(column);
  const seenCodes = new Map<string, number>();
  const townNames = checked.townNames;

  for (const [i, row] of parsed.rows.entries()) {
    await yieldEvery(i);
    const v = row.values;
    const { dto, problems } = validateCsvRow(
      CreateVillageDto,
      row,
      {
        code: v.code,
        name: v.name,
        townCode: v.town_code,
        lat: numberCell(v.lat),
        lon: numberCell(v.lon),
        quietHours: textCell(v.quiet_hours),
      },
      COLUMN_OF,
    );
    const problem = (field: string, rule: string, message: string) =>
      problems.push({ line: row.line, field, rule, message });

    const firstLine = seenCodes.get(v.code);
    if (firstLine !== undefined)
      problem('code', 'unique', `village ${v.code} is already on line ${firstLine}`);
    else seenCodes.set(v.code, row.line);

    if (has('lat') !== has('lon') || (has('lat') && (dto.lat === null) !== (dto.lon === null))) {
      problem('lat', 'latLonPair', 'lat and lon must be given together or both left empty');
    }

    const townName = v.town_name ?? '';
    if (isTownCode(v.town_code)) {
      const named = townNames.get(v.town_code);
      if (townName && named && named.name !== townName) {
        problem(
          'town_name',
          'consistent',
          `town ${v.town_code} is named "${named.name}" on line ${named.line}`,
        );
      } else if (townName && !named) {
        townNames.set(v.town_code, { name: townName, line: row.line });
        if (!isDisplayName(townName, 100)) {
          problem(
            'town_name',
            'isDisplayName',
            'town_name must be 1 to 100 characters without control characters',
          );
        }
      } else if (!townName && !named) {
        checked.needTown.push({ line: row.line, townCode: v.town_code });
      }
    }
    checked.problems.push(...problems);
    if (problems.length === 0) checked.rows.push({ line: row.line, dto });
  }
  return checked;
}

/**
 * Decides what a checked villages CSV changes. Upsert by code: a column that is absent leaves that
 * field alone; a present but empty optional cell clears it. A town unknown to the registry is
 * created when the file gives its `town_name`; a known town is renamed when `town_name` differs.
 */
export function planVillageImport(
  checked: CheckedVillages,
  towns: Map<string, TownEntity>,
  villages: Map<string, VillageEntity>,
): VillageImportPlan {
  const plan: VillageImportPlan = {
    problems: [...checked.problems],
    townsToCreate: [],
    townsToRename: [],
    villagesToCreate: [],
    villagesToUpdate: [],
    unchanged: 0,
  };
  const has = (column: string) => checked.columns.includes(column);
  const townMissing = new Set<number>();
  for (const { line, townCode } of checked.needTown) {
    if (!towns.has(townCode)) {
      townMissing.add(line);
      plan.problems.push({
        line,
        field: 'town_code',
        rule: 'exists',
        message: `town ${townCode} does not exist; give its town_name to create it`,
      });
    }
  }

  for (const { line, dto } of checked.rows) {
    if (townMissing.has(line)) continue;
    const fields: VillageFields = {
      name: dto.name,
      townCode: dto.townCode,
      lat: dto.lat ?? null,
      lon: dto.lon ?? null,
      quietHours: dto.quietHours ?? null,
    };
    const existing = villages.get(dto.code);
    if (!existing) {
      plan.villagesToCreate.push({ code: dto.code, ...fields });
      continue;
    }
    const patch: Partial<VillageFields> = {};
    if (existing.name !== fields.name) patch.name = fields.name;
    if (existing.townCode !== fields.townCode) patch.townCode = fields.townCode;
    if (has('lat') && (existing.lat !== fields.lat || existing.lon !== fields.lon)) {
      patch.lat = fields.lat;
      patch.lon = fields.lon;
    }
    if (has('quiet_hours') && existing.quietHours !== fields.quietHours)
      patch.quietHours = fields.quietHours;
    if (Object.keys(patch).length > 0)
      plan.villagesToUpdate.push({ code: dto.code, patch, since: existing.updatedAt });
    else plan.unchanged++;
  }

  for (const [code, { name }] of checked.townNames) {
    const known = towns.get(code);
    if (!known) plan.townsToCreate.push({ code, name });
    else if (known.name !== name) plan.townsToRename.push({ code, name });
  }
  plan.problems.sort((a, b) => (a.line ?? 0) - (b.line ?? 0));
  return plan;
}
