import { CapAlert, CapInfo, CapSeverity } from './cap-model.js';

/**
 * Which `info` block a station speaks when an alert carries several languages: the station's own
 * language exactly (case-insensitive, `zh-cn` = `zh-CN`), then any Chinese (`zh`, `zh-TW`,
 * `zh-Hans`…: a Mandarin speaker still understands it better than English), then the first block.
 */
export function pickInfo(alert: CapAlert, stationLanguage = 'zh-CN'): CapInfo | null {
  const wanted = stationLanguage.toLowerCase();
  return (
    alert.infos.find((i) => i.language.toLowerCase() === wanted) ??
    alert.infos.find((i) => /^zh(-|$)/i.test(i.language)) ??
    alert.infos[0] ??
    null
  );
}

/** Most severe first; Unknown last (it says nothing about how bad it is). */
const SEVERITY_RANK: Record<CapSeverity, number> = {
  Extreme: 4,
  Severe: 3,
  Moderate: 2,
  Minor: 1,
  Unknown: 0,
};

/**
 * The `info` block this station acts on. Language first, as {@link pickInfo} chooses it; among the
 * blocks in that language (CAP lets one message carry several, for different areas or
 * severities), those whose area `touches` this county, and of them the most severe (the first of
 * equals). When none touches it, the first in the language, so the area check refuses it for the
 * right reason.
 */
export function pickInfoFor(
  alert: CapAlert,
  stationLanguage: string,
  touches: (info: CapInfo) => boolean,
): CapInfo | null {
  const first = pickInfo(alert, stationLanguage);
  if (!first) return null;
  const language = first.language.toLowerCase();
  const same = alert.infos.filter((i) => i.language.toLowerCase() === language);
  if (same.length === 1) return first;
  let best: CapInfo | null = null;
  for (const info of same)
    if (touches(info) && (!best || SEVERITY_RANK[info.severity] > SEVERITY_RANK[best.severity]))
      best = info;
  return best ?? first;
}
