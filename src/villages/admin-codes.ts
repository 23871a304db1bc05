/** A village's 12-digit statistical division code (统计用区划代码), e.g. `611026001201`. */
export const VILLAGE_CODE_PATTERN = /^\d{12}$/;

/** A town's 9-digit code: the county's 6 digits followed by 3 for the town, e.g. `611026001`. */
export const TOWN_CODE_PATTERN = /^\d{9}$/;

export const isVillageCode = (value: unknown): value is string =>
  typeof value === 'string' && VILLAGE_CODE_PATTERN.test(value);

export const isTownCode = (value: unknown): value is string =>
  typeof value === 'string' && TOWN_CODE_PATTERN.test(value);
