import { Injectable, Logger } from '@nestjs/common';
import type { DeviceType } from '../contract/device.js';
import { Clock } from '../common/clock.js';
import { isoTime } from '../common/time.js';
import { CsvUpload, escapeFormula, readCsv, ReadCsv, readingReport, toCsv } from '../common/csv.js';
import {
  DomainError,
  ImportInvalidError,
  NotFoundError,
  ValidationFailedError,
} from '../common/domain-error.js';
import type { DeviceErrorCode } from './device-errors.js';
import { Page, pageWindow } from '../common/pagination.js';
import { isForeignKeyViolation, isUniqueViolation } from '../database/db-errors.js';
import { VillagesService } from '../villages/villages.service.js';
import { DeviceEvents } from './device-events.js';
import {
  checkDeviceRows,
  DEVICE_CSV,
  DEVICE_CSV_COLUMNS,
  DeviceImportPlan,
  planDeviceImport,
} from './device-import.js';
import {
  generateDeviceSecret,
  hashDeviceSecret,
  hashForStorage,
  needsRehash,
  verifyDeviceSecret,
} from './device-secret.js';
import type { DeviceEntity } from './device.entity.js';
import { DeviceDirectory, DirectoryEntry } from './device-directory.js';
import { DevicesRepository, DevicesTx } from './devices.repository.js';
import type { DeviceImportReportDto } from './dto/device-import-report.dto.js';
import { Presence, PresenceService } from './presence.service.js';
import { PresenceRepository } from './presence.repository.js';
import type {
  CreateDeviceDto,
  DeviceDetailDto,
  PresenceDto,
  PresenceIntervalDto,
  DeviceDto,
  DeviceQuery,
  DeviceSecretDto,
  DeviceWithSecretDto,
  UpdateDeviceDto,
} from './dto/device.dto.js';

const isoOrNull = (ms: number | null) => (ms === null ? null : isoTime(ms));

function toPresenceDto(p: Presence | undefined): PresenceDto {
  return {
    online: p?.online ?? false,
    lastSeenAt: isoOrNull(p?.lastSeenAt ?? null),
    onlineSince: isoOrNull(p?.onlineSince ?? null),
    firmware: p?.firmware ?? null,
    codecs: p?.codecs ?? [],
    reportedType: p?.reportedType ?? null,
    volume: p?.volume ?? null,
    telemetry: p?.telemetry ?? null,
    telemetryAt: isoOrNull(p?.telemetryAt ?? null),
  };
}

/** Takes a village's devices one at a time: its type, whether it is enabled, its presence now. */
export interface DeviceTally {
  add(type: DeviceType, enabled: boolean, online: boolean, lastSeenAt: number | null): void;
  /** A device whose latest hello named another type than its registration. */
  addTypeMismatch(deviceId: string, registeredType: DeviceType, reportedType: string): void;
}

/** The device's latest hello named another type than the registered one. */
function typeMismatch(registered: DeviceType, p: Presence | undefined): boolean {
  return p?.reportedType != null && p.reportedType !== registered;
}

const HASH_BATCH = 32;

interface IssuedSecret {
  secret: string;
  hashes: { secretHash: string; mqttPasswordHash: string };
}
const PROGRESS_EVERY_MS = 5000;

/** Devices and their credentials: the registry other modules ask about devices. */
@Injectable()
export class DevicesService {
  private readonly logger = new Logger('devices');

  constructor(
    private readonly repo: DevicesRepository,
    private readonly villages: VillagesService,
    private readonly events: DeviceEvents,
    private readonly presence: PresenceService,
    private readonly presenceRepo: PresenceRepository,
    private readonly directory: DeviceDirectory,
    private readonly clock: Clock,
  ) {}

  /** The resource codes (EBRIDs) of those of these devices that have one (reports up). */
  resourceCodes(ids: string[]): Promise<Map<string, string>> {
    return this.repo.resourceCodes(ids);
  }

  /**
   * The device ids of terminals as reports name them (EBRID: a resource code, else the id), in
   * order; an EBRID that is neither (a device deleted since) is kept as it is.
   */
  async idsOfTerminals(ebrIds: string[]): Promise<string[]> {
    const holders = await this.repo.holdersOf(ebrIds);
    return ebrIds.map((e) => holders.get(e) ?? e);
  }

  private toDto(d: DeviceEntity): DeviceDto {
    const p = this.presence.get(d.id);
    return {
      id: d.id,
      villageCode: d.villageCode,
      type: d.type,
      enabled: d.enabled,
      label: d.label,
      notes: d.notes,
      resourceCode: d.resourceCode ?? null,
      secretRotatedAt: isoTime(d.secretRotatedAt),
      online: p?.online ?? false,
      lastSeenAt: isoOrNull(p?.lastSeenAt ?? null),
      typeMismatch: typeMismatch(d.type, p),
      verifiesSignatures: p?.verifies ?? [],
      createdAt: isoTime(d.createdAt),
      updatedAt: isoTime(d.updatedAt),
    };
  }

  /** `towns`: only devices in villages of these towns (a town official's); null for the county. */
  async list(query: DeviceQuery, towns: readonly string[] | null = null): Promise<Page<DeviceDto>> {
    const { limit, offset } = pageWindow(query);
    const filter = await this.filterOf(query, towns);
    const [rows, total] = await this.repo.list({ ...filter, limit, offset });
    return { items: rows.map((d) => this.toDto(d)), total, limit, offset };
  }

  async get(id: string, towns: readonly string[] | null = null): Promise<DeviceDetailDto> {
    const device = await this.repo.find(id);
    if (!device || !(await this.inTowns(device.villageCode, towns)))
      throw new NotFoundError('device', id);
    return { ...this.toDto(device), presence: toPresenceDto(this.presence.get(id)) };
  }

  /** Online/offline intervals of a device, newest first. */
  async presenceHistory(
    id: string,
    limit = 50,
    towns: readonly string[] | null = null,
  ): Promise<PresenceIntervalDto[]> {
    await this.requireVisible(id, towns);
    return (await this.presenceRepo.history(id, limit)).map((i) => ({
      startedAt: isoTime(i.startedAt),
      endedAt: isoOrNull(i.endedAt),
      endReason: i.endReason,
    }));
  }

  /**
   * 404 unless the device exists and, for a town official, lies in one of their towns: outside
   * them it is as unknown as a device that does not exist.
   */
  async requireVisible(id: string, towns: readonly string[] | null): Promise<void> {
    if (towns === null) {
      if (!(await this.exists(id))) throw new NotFoundError('device', id);
      return;
    }
    // The directory is current (it checks the registry version), and costs no row read.
    const village = (await this.directory.current()).byId.get(id)?.villageCode;
    if (village === undefined || !(await this.inTowns(village, towns)))
      throw new NotFoundError('device', id);
  }

  /** Enabled devices online now in these villages (a town official's share of `devicesOnline`). */
  async onlineIn(villageCodes: ReadonlySet<string>): Promise<number> {
    const { byVillage } = await this.directory.current();
    let n = 0;
    for (const code of villageCodes)
      for (const d of byVillage.get(code) ?? [])
        if (d.enabled && this.presence.get(d.id)?.online) n++;
    return n;
  }

  /**
   * Adds every device of these villages, with its presence now, to its village's tally (villages
   * without devices are never asked for one). No object per device: the status board sums every
   * device on each request.
   */
  async tallyVillages(
    villageCodes: string[],
    tallyOf: (villageCode: string) => DeviceTally,
  ): Promise<void> {
    const { byVillage } = await this.directory.current();
    for (const code of villageCodes) {
      const devices = byVillage.get(code);
      if (!devices) continue;
      const tally = tallyOf(code);
      for (const d of devices) {
        const p = this.presence.get(d.id);
        tally.add(d.type, d.enabled, p?.online ?? false, p?.lastSeenAt ?? null);
        if (typeMismatch(d.type, p)) tally.addTypeMismatch(d.id, d.type, p!.reportedType!);
      }
    }
  }

  /** Enabled devices online now, per village and type, for these villages (none: no entry). */
  async onlineByVillage(
    villageCodes: string[],
  ): Promise<Map<string, Partial<Record<DeviceType, number>>>> {
    const { byVillage } = await this.directory.current();
    const out = new Map<string, Partial<Record<DeviceType, number>>>();
    for (const code of villageCodes) {
      let counts: Partial<Record<DeviceType, number>> | undefined;
      for (const d of byVillage.get(code) ?? []) {
        if (!d.enabled || !this.presence.get(d.id)?.online) continue;
        counts ??= {};
        counts[d.type] = (counts[d.type] ?? 0) + 1;
      }
      if (counts) out.set(code, counts);
    }
    return out;
  }

  /** Every device with its village, type and whether it is enabled (for resolving broadcast targets). */
  async targetingSnapshot(): Promise<readonly DirectoryEntry[]> {
    return (await this.directory.current()).entries;
  }

  villagesOf(deviceIds: string[]): Promise<Set<string>> {
    return this.repo.villagesOf(deviceIds);
  }

  existingIds(ids: string[]): Promise<Set<string>> {
    return this.repo.existingIds(ids);
  }

  /** Every enabled device with its Mosquitto-format hash (null for devices issued before it existed). */
  mosquittoCredentials(): Promise<{ id: string; mqttPasswordHash: string | null }[]> {
    return this.repo.enabledCredentials();
  }

  async create(input: CreateDeviceDto): Promise<DeviceWithSecretDto> {
    await this.requireVillage(input.villageCode);
    const secret = generateDeviceSecret();
    const hashes = await hashForStorage(secret);
    const now = this.clock.now().getTime();
    const row: DeviceEntity = {
      id: input.id,
      villageCode: input.villageCode,
      type: input.type,
      enabled: input.enabled ?? true,
      label: input.label ?? null,
      notes: input.notes ?? null,
      resourceCode: input.resourceCode ?? null,
      ...hashes,
      secretRotatedAt: now,
      createdAt: now,
      updatedAt: now,
    };
    try {
      await this.repo.write(async (tx) => {
        if (await tx.find(input.id)) throw deviceExists(input.id);
        if (input.resourceCode) await requireFreeCode(tx, input.resourceCode, input.id);
        await tx.insert([row]);
      });
    } catch (err) {
      // Another request took the id or the code in between: the checks above, answered again.
      if (isUniqueViolation(err))
        throw input.resourceCode && !(await this.repo.find(input.id))
          ? resourceCodeTaken(input.resourceCode)
          : deviceExists(input.id);
      if (isForeignKeyViolation(err)) throw villageMissing(input.villageCode);
      throw err;
    }
    this.logger.log(`device=${row.id} created village=${row.villageCode} type=${row.type}`);
    this.events.emit({ kind: 'created', deviceId: row.id });
    return { ...this.toDto(row), secret };
  }

  async update(id: string, input: UpdateDeviceDto): Promise<DeviceDto> {
    if (input.villageCode !== undefined) await this.requireVillage(input.villageCode);
    const code = input.resourceCode;
    const updated = await this.repo
      .write(async (tx) => {
        const device = await tx.find(id);
        if (!device) throw new NotFoundError('device', id);
        if (code) await requireFreeCode(tx, code, id);
        const patch: Partial<DeviceEntity> = { updatedAt: this.clock.now().getTime() };
        if (code !== undefined) patch.resourceCode = code;
        if (input.villageCode !== undefined) patch.villageCode = input.villageCode;
        if (input.type !== undefined) patch.type = input.type;
        if (input.enabled !== undefined) patch.enabled = input.enabled;
        if (input.label !== undefined) patch.label = input.label;
        if (input.notes !== undefined) patch.notes = input.notes;
        await tx.update(id, patch);
        return { ...device, ...patch };
      })
      .catch((err: unknown) => {
        // Another server gave the code to another device in between: the check above, again.
        if (code && isUniqueViolation(err)) throw resourceCodeTaken(code);
        throw err;
      });
    this.logger.log(`device=${id} updated enabled=${updated.enabled}`);
    this.events.emit({ kind: 'updated', deviceId: id, enabled: updated.enabled });
    return this.toDto(updated);
  }

  async remove(id: string): Promise<void> {
    let deleted: boolean;
    try {
      deleted = await this.repo.write((tx) => tx.delete(id));
    } catch (err) {
      if (!isForeignKeyViolation(err)) throw err;
      throw new DomainError<DeviceErrorCode>(
        'conflict',
        'DEVICE_HAS_DELIVERIES',
        `Device ${id} has broadcast history; disable it (enabled: false) instead of deleting it`,
      );
    }
    if (!deleted) throw new NotFoundError('device', id);
    this.logger.log(`device=${id} deleted`);
    this.events.emit({ kind: 'deleted', deviceId: id });
  }

  /** Issues a new secret; the old one stops working at once. */
  async rotateSecret(id: string): Promise<DeviceWithSecretDto> {
    const secret = generateDeviceSecret();
    const hashes = await hashForStorage(secret);
    const now = this.clock.now().getTime();
    const updated = await this.repo.write(async (tx) => {
      const device = await tx.find(id);
      if (!device) throw new NotFoundError('device', id);
      const patch = { ...hashes, secretRotatedAt: now, updatedAt: now };
      await tx.update(id, patch);
      return { ...device, ...patch };
    });
    this.logger.log(`device=${id} secret rotated`);
    this.events.emit({ kind: 'secret-rotated', deviceId: id });
    return { ...this.toDto(updated), secret };
  }

  async exists(id: string): Promise<boolean> {
    return (await this.repo.find(id)) !== null;
  }

  /**
   * True when `id` is a registered, enabled device and `secret` is its current secret. A secret
   * still stored in the older, slow form (scrypt) is stored again in the current one after it
   * matched, so that the device's next logins (a reconnect storm after a restart) are cheap.
   */
  async verifySecret(id: string, secret: string): Promise<boolean> {
    const device = await this.repo.credentials(id);
    if (!device?.enabled || !device.secretHash) return false;
    const ok = await verifyDeviceSecret(secret, device.secretHash);
    if (ok && needsRehash(device.secretHash))
      await this.repo
        .replaceSecretHash(id, device.secretHash, hashDeviceSecret(secret))
        .catch((err: Error) =>
          this.logger.warn(`device=${id} secret hash not upgraded: ${err.message}`),
        );
    return ok;
  }

  /**
   * The stored secret hash of an enabled device, or null: for a caller that checks many logins of
   * one device (a flood) without reading the registry for each.
   */
  async secretHashOf(id: string): Promise<string | null> {
    const device = await this.repo.credentials(id);
    return device?.enabled && device.secretHash ? device.secretHash : null;
  }

  async count(): Promise<number> {
    return this.repo.count();
  }

  // ---- CSV ----

  async exportCsv(query: DeviceQuery, towns: readonly string[] | null = null): Promise<string> {
    const [rows] = await this.repo.list(await this.filterOf(query, towns));
    return toCsv(
      DEVICE_CSV_COLUMNS,
      rows.map((d) => [
        d.id,
        d.villageCode,
        d.type,
        d.enabled,
        escapeFormula(d.label ?? ''),
        escapeFormula(d.notes ?? ''),
      ]),
    );
  }

  /**
   * Imports (upserts) devices from CSV, all or nothing. New devices get secrets, returned in this
   * response only. Secrets are hashed before the write transaction so it stays short.
   */
  async importCsv(upload: CsvUpload, dryRun: boolean): Promise<DeviceImportReportDto> {
    const parsed = await readCsv(upload, DEVICE_CSV);
    const checked = await checkDeviceRows(parsed);
    const villageCodes = await this.villages.existingVillageCodes(
      checked.villageOf.map((v) => v.code),
    );
    const planFrom = (devices: DeviceEntity[]) =>
      planDeviceImport(checked, new Map(devices.map((d) => [d.id, d])), (code) =>
        villageCodes.has(code),
      );

    const preview = planFrom((await this.repo.list({}))[0]);
    if (dryRun) return this.report(preview, parsed, true);
    if (preview.problems.length > 0) throw new ImportInvalidError(preview.problems);

    const secrets = await this.hashSecrets(preview.toCreate.map((d) => d.id));
    const now = this.clock.now().getTime();
    const plan = await this.writeImport(async (tx) => {
      const plan = planFrom(await tx.all());
      const sameNewIds =
        plan.toCreate.length === secrets.size && plan.toCreate.every((d) => secrets.has(d.id));
      if (plan.problems.length > 0) throw new ImportInvalidError(plan.problems);
      if (!sameNewIds) {
        throw new DomainError<DeviceErrorCode>(
          'conflict',
          'IMPORT_RACE',
          'Devices were added or removed during the import; upload the file again',
        );
      }
      await tx.insert(
        plan.toCreate.map((d) => ({
          ...d,
          ...secrets.get(d.id)!.hashes,
          secretRotatedAt: now,
          createdAt: now,
          updatedAt: now,
        })),
      );
      for (const u of plan.toUpdate) await tx.update(u.id, { ...u.patch, updatedAt: now });
      return plan;
    });

    for (const d of plan.toCreate) this.events.emit({ kind: 'created', deviceId: d.id });
    for (const u of plan.toUpdate) {
      const enabled = u.patch.enabled;
      if (enabled !== undefined) this.events.emit({ kind: 'updated', deviceId: u.id, enabled });
    }
    const report = this.report(plan, parsed, false);
    this.logger.log(
      `devices import: ${report.created} created, ${report.updated} updated, ${report.unchanged} unchanged`,
    );
    const issued: DeviceSecretDto[] = plan.toCreate.map((d) => ({
      id: d.id,
      secret: secrets.get(d.id)!.secret,
    }));
    return { ...report, secrets: issued };
  }

  /** A village deleted while the import was hashing secrets surfaces as a foreign-key error. */
  private async writeImport<T>(work: (tx: DevicesTx) => Promise<T>): Promise<T> {
    try {
      return await this.repo.write(work);
    } catch (err) {
      if (!isForeignKeyViolation(err)) throw err;
      throw new DomainError<DeviceErrorCode>(
        'conflict',
        'IMPORT_RACE',
        'A village was removed during the import; upload the file again',
      );
    }
  }

  private async hashSecrets(ids: string[]): Promise<Map<string, IssuedSecret>> {
    const out = new Map<string, IssuedSecret>();
    if (ids.length > 0) this.logger.log(`devices import: issuing ${ids.length} secret(s)`);
    let lastReport = performance.now();
    for (let i = 0; i < ids.length; i += HASH_BATCH) {
      const batch = ids.slice(i, i + HASH_BATCH);
      const hashed = await Promise.all(
        batch.map(async (id) => {
          const secret = generateDeviceSecret();
          return [id, { secret, hashes: await hashForStorage(secret) }] as const;
        }),
      );
      for (const [id, value] of hashed) out.set(id, value);
      if (performance.now() - lastReport >= PROGRESS_EVERY_MS) {
        this.logger.log(`devices import: issued ${out.size}/${ids.length} secrets`);
        lastReport = performance.now();
      }
    }
    return out;
  }

  private report(plan: DeviceImportPlan, read: ReadCsv, dryRun: boolean): DeviceImportReportDto {
    return {
      dryRun,
      ok: plan.problems.length === 0,
      ...readingReport(read, dryRun),
      created: plan.toCreate.length,
      updated: plan.toUpdate.length,
      unchanged: plan.unchanged,
      problems: plan.problems,
    };
  }

  private async filterOf(query: DeviceQuery, towns: readonly string[] | null) {
    let villageCodes: string[] | undefined;
    if (query.town) villageCodes = await this.villages.villageCodesInTown(query.town);
    if (query.village)
      villageCodes = villageCodes
        ? villageCodes.filter((c) => c === query.village)
        : [query.village];
    if (towns !== null) {
      const mine = await this.villages.villageCodesOfTowns(towns);
      villageCodes = villageCodes ? villageCodes.filter((c) => mine.has(c)) : [...mine];
    }
    return { villageCodes, type: query.type, enabled: query.enabled, q: query.q };
  }

  private async inTowns(villageCode: string, towns: readonly string[] | null): Promise<boolean> {
    return towns === null || (await this.villages.villageCodesOfTowns(towns)).has(villageCode);
  }

  private async requireVillage(code: string): Promise<void> {
    if (!(await this.villages.existingVillageCodes([code])).has(code)) throw villageMissing(code);
  }
}

function villageMissing(code: string): ValidationFailedError {
  return new ValidationFailedError([
    {
      field: 'villageCode',
      rule: 'exists',
      message: `villageCode: village ${code} does not exist`,
    },
  ]);
}

/** 409 when another device holds this resource code. */
async function requireFreeCode(tx: DevicesTx, code: string, id: string): Promise<void> {
  const holder = await tx.holderOf(code);
  if (holder !== null && holder !== id) throw resourceCodeTaken(code, holder);
}

function resourceCodeTaken(code: string, holder?: string): DomainError<DeviceErrorCode> {
  return new DomainError<DeviceErrorCode>(
    'conflict',
    'RESOURCE_CODE_TAKEN',
    `Resource code ${code} is ${holder ? `device ${holder}'s` : 'taken'}: one code names one terminal`,
  );
}

function deviceExists(id: string): DomainError<DeviceErrorCode> {
  return new DomainError<DeviceErrorCode>(
    'conflict',
    'DEVICE_EXISTS',
    `Device ${id} already exists`,
  );
}
