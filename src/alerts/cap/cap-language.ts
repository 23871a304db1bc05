import { CapAlert, CapInfo } from './cap-model.js';

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
