/** Codes of the errors towns and villages answer with; the OpenAPI document lists them. */
export const VILLAGE_ERROR_CODES = [
  'TOWN_NOT_FOUND',
  'TOWN_EXISTS',
  'TOWN_HAS_VILLAGES',
  'VILLAGE_NOT_FOUND',
  'VILLAGE_EXISTS',
  'VILLAGE_HAS_DEVICES',
  'IMPORT_RACE',
] as const;
export type VillageErrorCode = (typeof VILLAGE_ERROR_CODES)[number];
