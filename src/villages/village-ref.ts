/** A village's code and name with its town's: what lists and reports show of it. */
export interface VillageRef {
  code: string;
  name: string;
  townCode: string;
  townName: string;
}

/**
 * Villages in town, then code order: the order of every list and report. Codes are digits, so a
 * plain comparison gives the order `localeCompare` gave, without ICU collation's cost.
 */
export function byTownThenCode(
  a: Pick<VillageRef, 'townCode' | 'code'>,
  b: Pick<VillageRef, 'townCode' | 'code'>,
): number {
  return compare(a.townCode, b.townCode) || compare(a.code, b.code);
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
