/**
 * THE mapping from a CAP 1.2 alert to what Dalaba does with it: one table per CAP field, pure, so
 * docs/alerts.md ("Mapping") and the tests read the same rows. Reports (src/reports/gyt-mapping.ts)
 * keep the reverse mapping for what goes up, citing this file.
 */
import type { Level } from '../contract/messages.js';
import type {
  CapCertainty,
  CapMsgType,
  CapSeverity,
  CapStatus,
  CapUrgency,
} from './cap/cap-model.js';

/** CAP severity → broadcast level; null: an operator picks the level (outcome `needs_level`). */
export const SEVERITY_LEVEL: Record<CapSeverity, Level | null> = {
  Extreme: 'I',
  Severe: 'II',
  Moderate: 'III',
  Minor: 'IV',
  Unknown: null,
};

/** What a CAP status does: broadcast at the mapped level, as a drill, as a test, or nothing. */
export type StatusAction = 'broadcast' | 'drill' | 'test' | 'record';

export const STATUS_ACTION: Record<CapStatus, StatusAction> = {
  Actual: 'broadcast',
  // A drill must sound like the drill it is, never like the emergency it practises.
  Exercise: 'drill',
  // A test never plays as an alert: level `test`, no attention tone.
  Test: 'test',
  System: 'record',
  Draft: 'record',
};

/** Title prefixes that say, before anything else, that it is not real. */
export const TITLE_PREFIX: Record<StatusAction, string> = {
  broadcast: '',
  drill: '【演练】',
  test: '【测试】',
  record: '',
};

/**
 * What is spoken before and after the text of a drill or a test, so that nobody who hears only
 * the audio (no title, no screen) takes it for a real warning.
 */
export const SPOKEN_MARKS: Record<StatusAction, { before: string; after: string }> = {
  broadcast: { before: '', after: '' },
  drill: { before: '演练，演练。', after: '（本次为演练）' },
  test: { before: '测试，测试。', after: '（本次为测试）' },
  record: { before: '', after: '' },
};

/**
 * What is spoken before and after an alert's own audio (a CAP `resource`) when it is a drill or a
 * test: the same words as {@link SPOKEN_MARKS}, and that what follows is the drill's (test's)
 * content. Empty: the audio plays as it is.
 */
export const AUDIO_MARKS: Record<StatusAction, { before: string; after: string }> = {
  broadcast: { before: '', after: '' },
  drill: { before: '演练，演练。以下是演练内容。', after: '本次为演练。' },
  test: { before: '测试，测试。以下是测试内容。', after: '本次为测试。' },
  record: { before: '', after: '' },
};

/** What a CAP msgType does to broadcasts. */
export type MsgTypeAction = 'new' | 'replace' | 'cancel' | 'record';

export const MSG_TYPE_ACTION: Record<CapMsgType, MsgTypeAction> = {
  Alert: 'new',
  Update: 'replace',
  Cancel: 'cancel',
  Ack: 'record',
  Error: 'record',
};

/** Urgencies and certainties that let a trusted sender's alert out without a person. */
export const AUTO_URGENCIES: readonly CapUrgency[] = ['Immediate', 'Expected'];
export const AUTO_CERTAINTIES: readonly CapCertainty[] = ['Observed', 'Likely'];

/**
 * `valueName`s of a `geocode` holding a Chinese administrative code (6-digit county, 9-digit town,
 * 12-digit village), compared after {@link geocodeNameKey}: GB/T 2260 (county and above) and the
 * statistical division code (统计用区划代码, town and village) by their standard names and as
 * common feeds and map services name them (adcode of AMap/Tianditu, areaCode of the 12379
 * platform's exchange format, GB/T 35965.1's 行政区划代码).
 */
export const ADMIN_GEOCODE_NAMES: readonly string[] = [
  'GB/T 2260',
  'GB2260',
  'GB/T 2260-2007',
  'GB/T 35965.1',
  '行政区划代码',
  '行政区划编码',
  '行政区代码',
  '区划代码',
  '统计用区划代码',
  'AdminCode',
  'AdministrativeCode',
  'AdminDivisionCode',
  'areaCode',
  'ADCODE',
  'regionCode',
  'divisionCode',
  'CN-ADCODE',
];

/** Case, spaces, dashes, slashes and dots ignored: `GB/T 2260` = `gbt2260` = `GB-T-2260`. */
export function geocodeNameKey(name: string): string {
  return name.toLowerCase().replace(/[\s\-_/.:]/g, '');
}

const ADMIN_KEYS = new Set(ADMIN_GEOCODE_NAMES.map(geocodeNameKey));

export function isAdminGeocodeName(name: string): boolean {
  const key = geocodeNameKey(name);
  // A dated edition (`GB/T 2260-2020`) is the same code list.
  return ADMIN_KEYS.has(key) || /^gbt?2260\d*$/.test(key);
}

/** What one info block maps to (before area and content). */
export interface MappedAlert {
  /** `record`: kept, nothing broadcast. */
  action: StatusAction;
  msgAction: MsgTypeAction;
  /** The broadcast level; null with action `broadcast`/`drill` means an operator must pick it. */
  level: Level | null;
  attentionTone: boolean;
  titlePrefix: string;
}

/**
 * The status × msgType × severity row for one alert. A drill is `routine` and a test is `test`
 * whatever the severity: neither may ever take an emergency level or its tone.
 */
export function mapAlert(
  status: CapStatus,
  msgType: CapMsgType,
  severity: CapSeverity,
): MappedAlert {
  const action = STATUS_ACTION[status];
  const msgAction = MSG_TYPE_ACTION[msgType];
  const level: Level | null =
    action === 'broadcast'
      ? SEVERITY_LEVEL[severity]
      : action === 'drill'
        ? 'routine'
        : action === 'test'
          ? 'test'
          : null;
  return {
    action,
    msgAction,
    level,
    attentionTone: action === 'broadcast',
    titlePrefix: TITLE_PREFIX[action],
  };
}

/**
 * Whether the alert may go out without a person: the sender is trusted for this severity, and
 * urgency and certainty say it is happening (the level never decides this). The caller also
 * requires a `valid` signature by one of the sender's certificates: `accept_unsigned` alerts are
 * always drafts, since anyone who can post may write a sender's name.
 */
export function mayAutoSend(
  autoSeverities: readonly CapSeverity[],
  info: { severity: CapSeverity; urgency: CapUrgency; certainty: CapCertainty },
): boolean {
  return (
    autoSeverities.includes(info.severity) &&
    AUTO_URGENCIES.includes(info.urgency) &&
    AUTO_CERTAINTIES.includes(info.certainty)
  );
}

/** Broadcast titles are at most this long. */
export const TITLE_MAX = 200;

/** The broadcast's title: prefix + headline (or the event), bounded. */
export function alertTitle(prefix: string, headline: string | null, event: string): string {
  const text = (headline?.trim() || event.trim() || '预警信息').replace(/\s+/g, ' ');
  return `${prefix}${text}`.slice(0, TITLE_MAX);
}
