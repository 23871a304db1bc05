/**
 * A CAP `area` → this county's villages. Pure: the villages (with lat/lon) are passed in.
 * Geocodes are administrative-code prefixes of village codes; polygons and circles are matched
 * against the villages' coordinates.
 */
import type { CapArea } from './cap/cap-model.js';
import { isAdminGeocodeName } from './alert-mapping.js';

export interface AreaVillage {
  code: string;
  townCode: string;
  lat: number | null;
  lon: number | null;
}

/** How far beyond the outermost villages the county's box reaches (degrees). */
export const BOX_MARGIN_DEG = 0.05;
const EARTH_RADIUS_KM = 6371.0088;

export interface Box {
  minLat: number;
  maxLat: number;
  minLon: number;
  maxLon: number;
}

export type AreaMatch =
  | { ok: true; villages: string[] }
  | { ok: false; rule: 'area.outside-county' | 'area.no-village'; reason: string };

/** The villages' min/max lat/lon plus the margin; null when no village has coordinates. */
export function countyBox(villages: readonly AreaVillage[]): Box | null {
  const placed = villages.filter((v) => v.lat !== null && v.lon !== null);
  if (placed.length === 0) return null;
  const lats = placed.map((v) => v.lat!);
  const lons = placed.map((v) => v.lon!);
  return {
    minLat: Math.min(...lats) - BOX_MARGIN_DEG,
    maxLat: Math.max(...lats) + BOX_MARGIN_DEG,
    minLon: Math.min(...lons) - BOX_MARGIN_DEG,
    maxLon: Math.max(...lons) + BOX_MARGIN_DEG,
  };
}

/** Ray casting on [lat, lon] points: fine at a county's scale, where the earth is flat enough. */
export function pointInPolygon(
  lat: number,
  lon: number,
  polygon: readonly [number, number][],
): boolean {
  let inside = false;
  for (let i = 0, j = polygon.length - 1; i < polygon.length; j = i++) {
    const [yi, xi] = polygon[i];
    const [yj, xj] = polygon[j];
    if (yi > lat !== yj > lat && lon < ((xj - xi) * (lat - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}

/** Great-circle distance in km. */
export function haversineKm(lat1: number, lon1: number, lat2: number, lon2: number): number {
  const rad = Math.PI / 180;
  const dLat = (lat2 - lat1) * rad;
  const dLon = (lon2 - lon1) * rad;
  const a =
    Math.sin(dLat / 2) ** 2 + Math.cos(lat1 * rad) * Math.cos(lat2 * rad) * Math.sin(dLon / 2) ** 2;
  return 2 * EARTH_RADIUS_KM * Math.asin(Math.min(1, Math.sqrt(a)));
}

function boxesOverlap(a: Box, b: Box): boolean {
  return (
    a.minLat <= b.maxLat && b.minLat <= a.maxLat && a.minLon <= b.maxLon && b.minLon <= a.maxLon
  );
}

function polygonBox(points: readonly [number, number][]): Box {
  const lats = points.map((p) => p[0]);
  const lons = points.map((p) => p[1]);
  return {
    minLat: Math.min(...lats),
    maxLat: Math.max(...lats),
    minLon: Math.min(...lons),
    maxLon: Math.max(...lons),
  };
}

function circleBox(c: { lat: number; lon: number; radiusKm: number }): Box {
  const dLat = c.radiusKm / 111.32;
  const dLon = c.radiusKm / (111.32 * Math.max(0.01, Math.cos((c.lat * Math.PI) / 180)));
  return { minLat: c.lat - dLat, maxLat: c.lat + dLat, minLon: c.lon - dLon, maxLon: c.lon + dLon };
}

/** Where each level of an administrative code ends: province, city, county, town, village. */
const ADMIN_LEVEL_ENDS = [2, 4, 6, 9, 12] as const;

/**
 * An administrative code (6, 9 or 12 digits) as the prefix of the village codes it covers: its
 * trailing all-zero levels dropped, so a province is 2 digits (`610000`, `610000000000` → `61`), a
 * city 4 (`611000` → `6110`), a county 6, a town 9 (`611026100000` → `611026100`), a village 12.
 * Null for anything else (and for all zeros).
 */
export function adminPrefix(value: string): string | null {
  const code = value.trim();
  if (!/^(\d{6}|\d{9}|\d{12})$/.test(code)) return null;
  let end = code.length;
  for (let i = ADMIN_LEVEL_ENDS.indexOf(end as 6 | 9 | 12); i > 0; i--) {
    const start = ADMIN_LEVEL_ENDS[i - 1];
    if (!/^0+$/.test(code.slice(start, end))) break;
    end = start;
  }
  return /^0+$/.test(code.slice(0, end)) ? null : code.slice(0, end);
}

/**
 * The village codes of this county that the areas touch (union of all areas). An area whose
 * shapes all lie outside the county's box, or a geocode of another county (or of a city or
 * province the county is not in), is refused
 * `area.outside-county` when nothing of the county matched; a match of no village is
 * `area.no-village`.
 */
export function matchArea(areas: readonly CapArea[], villages: readonly AreaVillage[]): AreaMatch {
  const box = countyBox(villages);
  const counties = new Set(villages.map((v) => v.code.slice(0, 6)));
  const matched = new Set<string>();
  let insideCounty = false;
  let shapes = 0;
  for (const area of areas) {
    for (const g of area.geocodes) {
      if (!isAdminGeocodeName(g.valueName)) continue;
      const prefix = adminPrefix(g.value);
      if (prefix === null) continue;
      shapes++;
      // A province or city (2 or 4 digits) is the whole county when the county lies in it; a
      // county, town or village code must be this county's own.
      const ours =
        prefix.length < 6
          ? [...counties].some((c) => c.startsWith(prefix))
          : counties.has(prefix.slice(0, 6));
      if (!ours) continue;
      insideCounty = true;
      for (const v of villages) if (v.code.startsWith(prefix)) matched.add(v.code);
    }
    for (const polygon of area.polygons) {
      shapes++;
      if (!box || !boxesOverlap(box, polygonBox(polygon))) continue;
      insideCounty = true;
      for (const v of villages)
        if (v.lat !== null && v.lon !== null && pointInPolygon(v.lat, v.lon, polygon))
          matched.add(v.code);
    }
    for (const circle of area.circles) {
      shapes++;
      if (!box || !boxesOverlap(box, circleBox(circle))) continue;
      insideCounty = true;
      for (const v of villages)
        if (
          v.lat !== null &&
          v.lon !== null &&
          haversineKm(circle.lat, circle.lon, v.lat, v.lon) <= circle.radiusKm
        )
          matched.add(v.code);
    }
  }
  if (matched.size > 0) return { ok: true, villages: [...matched].sort() };
  if (!insideCounty)
    return {
      ok: false,
      rule: 'area.outside-county',
      reason:
        shapes === 0
          ? 'the area has no administrative geocode, polygon or circle Dalaba can place'
          : `the area lies outside this county (${[...counties].join(', ') || 'no villages registered'})`,
    };
  return {
    ok: false,
    rule: 'area.no-village',
    reason: 'the area is within the county but touches none of its villages',
  };
}

/**
 * The smallest target naming exactly these villages: everything (`all`), whole towns, and the
 * remaining villages one by one.
 */
export function targetOf(
  codes: readonly string[],
  villages: readonly AreaVillage[],
): { all?: true; towns?: string[]; villages?: string[] } {
  const wanted = new Set(codes);
  if (villages.length > 0 && villages.every((v) => wanted.has(v.code))) return { all: true };
  const byTown = new Map<string, string[]>();
  for (const v of villages) byTown.set(v.townCode, [...(byTown.get(v.townCode) ?? []), v.code]);
  const towns: string[] = [];
  const single: string[] = [];
  for (const [town, members] of byTown) {
    const hit = members.filter((c) => wanted.has(c));
    if (hit.length === members.length) towns.push(town);
    else single.push(...hit);
  }
  return {
    ...(towns.length ? { towns: towns.sort() } : {}),
    ...(single.length ? { villages: single.sort() } : {}),
  };
}
