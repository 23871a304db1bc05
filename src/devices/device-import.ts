import { textCell, validateCsvRow } from '../common/csv-validation.js';
import { yieldEvery, type CsvSpec, type ParsedCsv } from '../common/csv.js';
import type { FieldProblem } from '../common/domain-error.js';
import type { DeviceEntity } from './device.entity.js';
import { CreateDeviceDto } from './dto/device.dto.js';

/** Columns of the devices CSV, in export order. Secrets are never in it. */
export const DEVICE_CSV_COLUMNS = [
  'id',
  'village_code',
  'type',
  'enabled',
  'label',
  'notes',
] as const;

export const DEVICE_CSV: CsvSpec = {
  required: ['id', 'village_code', 'type'],
  optional: ['enabled', 'label', 'notes'],
  maxRows: 100_000,
};

const COLUMN_OF: Record<string, string> = { villageCode: 'village_code' };

type DeviceFields = Pick<DeviceEntity, 'villageCode' | 'type' | 'enabled' | 'label' | 'notes'>;

export interface DeviceImportPlan {
  problems: FieldProblem[];
  toCreate: ({ id: string } & DeviceFields)[];
  toUpdate: { id: string; patch: Partial<DeviceFields> }[];
  unchanged: number;
}

function enabledCell(value: string | undefined): boolean | string | undefined {
  if (value === undefined || value === '') return undefined;
  const v = value.toLowerCase();
  if (['true', '1', 'yes', 'y', '是'].includes(v)) return true;
  if (['false', '0', 'no', 'n', '否'].includes(v)) return false;
  return value; // refused by @IsBoolean with the line number
}

/** A devices CSV checked line by line, before the registry is read. */
export interface CheckedDevices {
  columns: string[];
  problems: FieldProblem[];
  /** Lines without problems of their own; their villages are still to be looked up. */
  rows: { line: number; dto: CreateDeviceDto }[];
  /** Lines whose village code is well-formed, to look up in the registry. */
  villageOf: { line: number; code: string }[];
}

/**
 * Checks every line of a devices CSV on its own (the same DTO as the JSON API, unique ids), with
 * turns of the event loop between batches: the slow part of a large import, done before any lookup.
 */
export async function checkDeviceRows(parsed: ParsedCsv): Promise<CheckedDevices> {
  const checked: CheckedDevices = {
    columns: parsed.columns,
    problems: [...parsed.problems],
    rows: [],
    villageOf: [],
  };
  const seen = new Map<string, number>();
  for (const [i, row] of parsed.rows.entries()) {
    await yieldEvery(i);
    const v = row.values;
    const { dto, problems } = validateCsvRow(
      CreateDeviceDto,
      row,
      {
        id: v.id,
        villageCode: v.village_code,
        type: v.type,
        enabled: enabledCell(v.enabled),
        label: textCell(v.label),
        notes: textCell(v.notes),
      },
      COLUMN_OF,
    );
    const firstLine = seen.get(v.id);
    if (firstLine !== undefined) {
      problems.push({
        line: row.line,
        field: 'id',
        rule: 'unique',
        message: `device ${v.id} is already on line ${firstLine}`,
      });
    } else seen.set(v.id, row.line);
    if (problems.every((p) => p.field !== 'village_code'))
      checked.villageOf.push({ line: row.line, code: dto.villageCode });
    checked.problems.push(...problems);
    if (problems.length === 0) checked.rows.push({ line: row.line, dto });
  }
  return checked;
}

/**
 * Decides what a checked devices CSV changes. Upsert by id; an absent column leaves that field
 * alone, an empty `enabled` means enabled for a new device and unchanged for an existing one.
 */
export function planDeviceImport(
  checked: CheckedDevices,
  devices: Map<string, DeviceEntity>,
  villageExists: (code: string) => boolean,
): DeviceImportPlan {
  const plan: DeviceImportPlan = {
    problems: [...checked.problems],
    toCreate: [],
    toUpdate: [],
    unchanged: 0,
  };
  const has = (column: string) => checked.columns.includes(column);
  const noVillage = new Set<number>();
  for (const { line, code } of checked.villageOf) {
    if (villageExists(code)) continue;
    noVillage.add(line);
    plan.problems.push({
      line,
      field: 'village_code',
      rule: 'exists',
      message: `village ${code} does not exist; import villages first`,
    });
  }

  for (const { line, dto } of checked.rows) {
    if (noVillage.has(line)) continue;
    const existing = devices.get(dto.id);
    if (!existing) {
      plan.toCreate.push({
        id: dto.id,
        villageCode: dto.villageCode,
        type: dto.type,
        enabled: dto.enabled ?? true,
        label: dto.label ?? null,
        notes: dto.notes ?? null,
      });
      continue;
    }
    const patch: Partial<DeviceFields> = {};
    if (existing.villageCode !== dto.villageCode) patch.villageCode = dto.villageCode;
    if (existing.type !== dto.type) patch.type = dto.type;
    if (dto.enabled !== undefined && existing.enabled !== dto.enabled) patch.enabled = dto.enabled;
    if (has('label') && existing.label !== (dto.label ?? null)) patch.label = dto.label ?? null;
    if (has('notes') && existing.notes !== (dto.notes ?? null)) patch.notes = dto.notes ?? null;
    if (Object.keys(patch).length > 0) plan.toUpdate.push({ id: dto.id, patch });
    else plan.unchanged++;
  }
  plan.problems.sort((a, b) => (a.line ?? 0) - (b.line ?? 0));
  return plan;
}
