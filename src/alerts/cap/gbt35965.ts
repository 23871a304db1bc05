/**
 * The alert identifier of GB/T 35965.1-2018 (应急信息交互协议 第1部分：预警信息), annex A.1.1:
 * `ZZZZZZDDDUUUXX_YYYYMMDDhhmmss_N`, 31 characters —
 * - `ZZZZZZDDDUUUXX` the issuing unit's code (发布单位代码, A.1.2): `ZZZZZZ` its GB/T 2260
 *   administrative code, `DDD` its institution code per GB/T 4657, `UUU` a unit-internal
 *   secondary code (default `000`), `XX` an extension (default `00`);
 * - `YYYYMMDDhhmmss` when the alert was entered (录入时间), Beijing time;
 * - `N` the sequence of alerts the same unit entered in the same second, one digit from 0.
 * An identifier in any other form is still a valid CAP identifier; it just tells us nothing.
 */

export interface GbtIdentifier {
  /** `ZZZZZZ`: the issuing unit's 6-digit administrative code (GB/T 2260). */
  areaCode: string;
  /** `DDDUUUXX`: institution (GB/T 4657), internal secondary code and extension. */
  unitCode: string;
  /** `ZZZZZZDDDUUUXX`: the whole 14-digit issuing-unit code. */
  senderCode: string;
  /** `DDD` alone: the institution code (e.g. 416 for meteorological services). */
  institutionCode: string;
  /** When the alert was entered, read as Beijing time. */
  time: Date;
  /** 0–9. */
  sequence: number;
}

const GBT_IDENTIFIER =
  /^(\d{6})(\d{3})(\d{3})(\d{2})_(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})_(\d)$/;
const BEIJING_OFFSET_MS = 8 * 3600_000;

/** The parts of a GB/T 35965.1 identifier, or null when `id` is not one (or names no real time). */
export function parseGbtIdentifier(id: string): GbtIdentifier | null {
  const m = GBT_IDENTIFIER.exec(id);
  if (!m) return null;
  const [year, month, day, hour, minute, second] = m.slice(5, 11).map(Number);
  const utc = Date.UTC(year, month - 1, day, hour, minute, second);
  const check = new Date(utc);
  // Date.UTC rolls 2026-02-30 over to March; a real identifier never does.
  if (
    check.getUTCFullYear() !== year ||
    check.getUTCMonth() !== month - 1 ||
    check.getUTCDate() !== day ||
    hour > 23 ||
    minute > 59 ||
    second > 59
  ) {
    return null;
  }
  return {
    areaCode: m[1],
    unitCode: `${m[2]}${m[3]}${m[4]}`,
    senderCode: `${m[1]}${m[2]}${m[3]}${m[4]}`,
    institutionCode: m[2],
    time: new Date(utc - BEIJING_OFFSET_MS),
    sequence: Number(m[11]),
  };
}

/**
 * A GB/T 35965.1 identifier for an alert Dalaba issues. `unitCode8` is `DDDUUUXX`; without one the
 * station has not been given an institution code and we write zeros (`00000000`), which a
 * superior platform reads as "unknown unit" rather than as somebody else's.
 */
export function makeGbtIdentifier(o: {
  areaCode6: string;
  unitCode8?: string;
  at: Date;
  sequence: number;
}): string {
  if (!/^\d{6}$/.test(o.areaCode6))
    throw new RangeError(`areaCode6 must be 6 digits, not "${o.areaCode6}"`);
  const unit = o.unitCode8 ?? '00000000';
  if (!/^\d{8}$/.test(unit)) throw new RangeError(`unitCode8 must be 8 digits, not "${unit}"`);
  if (!Number.isInteger(o.sequence) || o.sequence < 0 || o.sequence > 9) {
    throw new RangeError(`sequence must be 0–9, not ${o.sequence}`);
  }
  const ms = o.at.getTime();
  if (!Number.isFinite(ms)) throw new RangeError('at is not a valid date');
  const time = beijingCompact(ms);
  // Years outside 0000–9999 would not fit the 14 digits.
  if (!/^\d{14}$/.test(time))
    throw new RangeError(`at ${o.at.toISOString()} does not fit YYYYMMDDhhmmss`);
  return `${o.areaCode6}${unit}_${time}_${o.sequence}`;
}

/** `YYYYMMDDhhmmss` in Beijing time. */
export function beijingCompact(ms: number): string {
  return new Date(ms + BEIJING_OFFSET_MS).toISOString().slice(0, 19).replace(/[-T:]/g, '');
}
