/**
 * Staff roles, least to most powerful; each role can do everything the ones before it can, within
 * its scope. A town official (乡镇管理员) acts only for the towns it is given: the token guard
 * refuses it every route not marked `@TownScoped()`, and those routes filter by its towns.
 */
export const ROLES = ['viewer', 'town_official', 'operator', 'admin'] as const;
export type Role = (typeof ROLES)[number];

export function isRole(value: unknown): value is Role {
  return typeof value === 'string' && (ROLES as readonly string[]).includes(value);
}

/** True when a principal of role `held` may do what needs role `needed`. */
export function roleAllows(held: Role, needed: Role): boolean {
  return ROLES.indexOf(held) >= ROLES.indexOf(needed);
}

/** Roles that act for the whole county; the others are limited to their towns. */
export const isCountyRole = (role: Role): boolean => role !== 'town_official';
