/**
 * THE mapping between Dalaba's broadcasts and the national emergency-broadcast formats, in one
 * place: element names and code values of the GY/T-style XML (EBM, EBMStateResponse, EBMBrdLog,
 * EBRDTState), and the CAP 1.2 values a broadcast is published with. docs/reports.md shows the
 * same tables; the superior link (src/superior) reads EBMs from above with them too.
 *
 * Version followed: the 2018 interim technical documents of the national emergency-broadcast
 * system (GD/J 079–089-2018, carried into the GY/T 383–389 family), as the platforms of two
 * vendors read them (Gospell's county platform and Comtom's exchange service, both 2018/2019):
 * they agree on every code below. Where other practice differs, the difference is kept in
 * {@link VENDOR_DIFFERENCES} and nowhere else.
 */
import type { BroadcastOutcome, BroadcastStatus } from '../broadcasts/broadcast.entity.js';
import type { DeliveryState, Level } from '../contract/messages.js';
import type {
  CapCertainty,
  CapMsgType,
  CapSeverity,
  CapStatus,
  CapUrgency,
} from '../alerts/cap/cap-model.js';

/** `EBMVersion` of every EBM Dalaba writes. */
export const EBM_VERSION = '1';

/** `MsgContent/LanguageCode`: ISO 639-2 Chinese, as the platforms write it. */
export const EBM_LANGUAGE = 'zho';

/** `MsgBasicInfo/MsgType`: 消息类型. */
export const EBM_MSG_TYPES = {
  /** 实际播发: an announcement that plays (levels I–IV and routine). */
  actual: '1',
  /** 取消播发: calls off the EBM `RelatedEBM/EBMID` names. */
  cancel: '2',
  /** 平台演练播发: a drill started by a platform (Dalaba's drills and test broadcasts). */
  platformDrill: '3',
  /** 前端演练播发: a drill of a transmitter. Dalaba never writes it; an EBM with it reads as a drill. */
  frontEndDrill: '4',
  /** 终端演练播发: a drill of the terminals. Never written; read as a drill. */
  terminalDrill: '5',
} as const;
export type EbmMsgType = (typeof EBM_MSG_TYPES)[keyof typeof EBM_MSG_TYPES];

/** `MsgBasicInfo/Severity`: 事件级别, 1 (特别重大, red) to 4 (一般, blue); 0 for none known. */
export const EBM_SEVERITIES = {
  '0': { name: '未知级别', capSeverity: 'Unknown', level: null },
  '1': { name: '1级（特别重大/红色）', capSeverity: 'Extreme', level: 'I' },
  '2': { name: '2级（重大/橙色）', capSeverity: 'Severe', level: 'II' },
  '3': { name: '3级（较大/黄色）', capSeverity: 'Moderate', level: 'III' },
  '4': { name: '4级（一般/蓝色）', capSeverity: 'Minor', level: 'IV' },
} as const satisfies Record<
  string,
  { name: string; capSeverity: CapSeverity; level: Level | null }
>;
export type EbmSeverity = keyof typeof EBM_SEVERITIES;

/** What a broadcast is, for both formats: its level, and whether it is a drill. */
export type BroadcastKind = Level | 'drill';

/**
 * Per kind of broadcast: the EBM's MsgType and Severity, and the CAP status, urgency, severity and
 * certainty it is published with when no alert says better (an alert's own values win: they are
 * what its sender said). Routine and test broadcasts have no emergency level (Severity 0, CAP
 * Unknown): read back by an intake they never become an emergency. A drill is the routine
 * broadcast made from a CAP `Exercise` (title 【演练】); it keeps its alert's severity.
 */
export const KIND_MAPPING: Record<
  BroadcastKind,
  {
    msgType: EbmMsgType;
    severity: EbmSeverity;
    capStatus: CapStatus;
    capUrgency: CapUrgency;
    capSeverity: CapSeverity;
    capCertainty: CapCertainty;
    /** CAP `event` (and the EBM's description) when no alert names one. */
    event: string;
  }
> = {
  I: {
    msgType: '1',
    severity: '1',
    capStatus: 'Actual',
    capUrgency: 'Immediate',
    capSeverity: 'Extreme',
    capCertainty: 'Observed',
    event: '特别重大突发事件',
  },
  II: {
    msgType: '1',
    severity: '2',
    capStatus: 'Actual',
    capUrgency: 'Immediate',
    capSeverity: 'Severe',
    capCertainty: 'Observed',
    event: '重大突发事件',
  },
  III: {
    msgType: '1',
    severity: '3',
    capStatus: 'Actual',
    capUrgency: 'Expected',
    capSeverity: 'Moderate',
    capCertainty: 'Likely',
    event: '较大突发事件',
  },
  IV: {
    msgType: '1',
    severity: '4',
    capStatus: 'Actual',
    capUrgency: 'Expected',
    capSeverity: 'Minor',
    capCertainty: 'Likely',
    event: '一般突发事件',
  },
  routine: {
    msgType: '1',
    severity: '0',
    capStatus: 'Actual',
    capUrgency: 'Unknown',
    capSeverity: 'Unknown',
    capCertainty: 'Unknown',
    event: '日常广播',
  },
  test: {
    msgType: '3',
    severity: '0',
    capStatus: 'Test',
    capUrgency: 'Unknown',
    capSeverity: 'Unknown',
    capCertainty: 'Unknown',
    event: '测试广播',
  },
  drill: {
    msgType: '3',
    severity: '0',
    capStatus: 'Exercise',
    capUrgency: 'Unknown',
    capSeverity: 'Unknown',
    capCertainty: 'Unknown',
    event: '演练广播',
  },
};

/** The title prefix the intake gives a drill (alert-mapping.ts): a broadcast with it is a drill. */
export const DRILL_TITLE_PREFIX = '【演练】';

/** The EBM severity of a CAP severity (the inverse of {@link EBM_SEVERITIES}). */
export function ebmSeverityOfCap(severity: string | null): EbmSeverity {
  for (const [code, s] of Object.entries(EBM_SEVERITIES))
    if (s.capSeverity === severity) return code as EbmSeverity;
  return '0';
}

/**
 * How an EBM from above reads as CAP (for the superior link): MsgType 1 → an Actual Alert, 2 → a
 * Cancel, 3–5 → an Exercise (a drill). Unknown codes: null (refuse it).
 */
export function capOfEbmMsgType(
  msgType: string,
): { status: CapStatus; msgType: CapMsgType } | null {
  switch (msgType) {
    case EBM_MSG_TYPES.actual:
      return { status: 'Actual', msgType: 'Alert' };
    case EBM_MSG_TYPES.cancel:
      return { status: 'Actual', msgType: 'Cancel' };
    case EBM_MSG_TYPES.platformDrill:
    case EBM_MSG_TYPES.frontEndDrill:
    case EBM_MSG_TYPES.terminalDrill:
      return { status: 'Exercise', msgType: 'Alert' };
    default:
      return null;
  }
}

/** The CAP severity of an EBM Severity; anything but 1–4 is Unknown (the operator decides). */
export function capSeverityOfEbm(severity: string): CapSeverity {
  return (
    (EBM_SEVERITIES as Record<string, { capSeverity: CapSeverity }>)[severity]?.capSeverity ??
    'Unknown'
  );
}

/** `BrdStateCode` / `BrdStateDesc`: 播发状态代码. */
export const BRD_STATES = {
  '0': '未处理',
  '1': '等待播发',
  '2': '播发中',
  '3': '播发成功',
  '4': '播发失败',
  '5': '播发取消',
} as const;
export type BrdStateCode = keyof typeof BRD_STATES;

/**
 * A broadcast's BrdStateCode: scheduled → 1; being sent or playing → 2; ended with every targeted
 * village covered → 3; partly, not at all, or expired before it could play → 4 (the standard's
 * 播发失败 includes partial failure and 未按要求播发); cancelled → 5. 0 (未处理) is never
 * written: a broadcast exists only once a person or a trusted sender decided it.
 */
export function brdStateOfBroadcast(
  status: BroadcastStatus,
  outcome: BroadcastOutcome | null,
): BrdStateCode {
  if (status === 'cancelled' || outcome === 'cancelled') return '5';
  if (status === 'scheduled') return '1';
  if (status === 'dispatching' || status === 'active') return '2';
  return outcome === 'completed' ? '3' : '4';
}

/**
 * One device's BrdStateCode in a broadcast, from its delivery: not sent yet (device offline) → 0;
 * on its way or downloaded → 1; playing → 2; played through → 3; failed, refused or expired → 4;
 * cancelled → 5.
 */
export function brdStateOfDelivery(state: DeliveryState): BrdStateCode {
  switch (state) {
    case 'pending':
      return '0';
    case 'sent':
    case 'received':
    case 'downloading':
    case 'ready':
      return '1';
    case 'playing':
      return '2';
    case 'played':
      return '3';
    case 'cancelled':
      return '5';
    default:
      return '4';
  }
}

/** `EBRDT/StateCode` / `StateDesc`: a terminal's state (平台设备及终端状态). */
export const TERMINAL_STATES = {
  '1': '开机/运行正常',
  '2': '关机/停止运行',
  '3': '故障',
  '4': '故障恢复',
  '5': '播发中',
} as const;
export type TerminalStateCode = keyof typeof TERMINAL_STATES;

/** How Dalaba names the terminal states (`terminalStates` decides which applies; docs/reports.md). */
export const TERMINAL_STATE_CODES = {
  online: '1',
  offline: '2',
  fault: '3',
  recovered: '4',
  playing: '5',
} as const satisfies Record<string, TerminalStateCode>;
export type TerminalState = keyof typeof TERMINAL_STATE_CODES;

/** `Auxiliary/AuxiliaryType` of Dalaba's clips: MPEG-1 Layer III audio (every clip is MP3). */
export const AUXILIARY_TYPE_MP3 = '2';

/**
 * `MsgBasicInfo/EventType` when the broadcast's alert gives no classified event code: the
 * platforms' placeholder for "not classified".
 */
export const EVENT_TYPE_UNCLASSIFIED = '00000';

/** CAP `geocode/valueName` of the villages' 12-digit codes: GB/T 35965.1's name (alert-mapping.ts reads it too). */
export const CAP_GEOCODE_VALUE_NAME = '行政区划代码';

/** Lists of codes in one element (`AreaCode`): comma-separated, as both platforms write them. */
export const CODE_LIST_SEPARATOR = ',';

/**
 * Element names Dalaba chose where the platforms differ, and the other practice, so a station
 * whose superior reads the other can see what to change (only here).
 */
export const VENDOR_DIFFERENCES = [
  {
    what: 'BrdStateCode values',
    dalaba: '0 未处理, 1 等待播发, 2 播发中, 3 播发成功, 4 播发失败, 5 播发取消 (GD/J 2018)',
    other:
      'an earlier provincial interface (Zhejiang, 2016–2017): 0 播发失败, 1 正在播发, 2 播发完成',
  },
  {
    what: 'per-device result in ResBrdItem',
    dalaba:
      '<EBRDT> (a terminal) with EBRID, RptTime, StartTime, EndTime, BrdStateCode, BrdStateDesc',
    other:
      'Gospell writes one <EBRBS> (a transmission system) with the same times and codes plus BrdSysInfo and FileURL',
  },
  {
    what: 'MsgBasicInfo send time',
    dalaba: '<SendTime> (GD/J 2018)',
    other: 'some 2016–2017 interfaces write <SentTime>',
  },
  {
    what: 'CoverageRate',
    dalaba: 'share of targeted villages covered, 0–1 with 4 decimals (e.g. 0.7500)',
    other: 'some platforms write a percentage (75)',
  },
  {
    what: 'Auxiliary/Digest',
    dalaba: 'SHA-256 of the file, hex (the clip is content-addressed by it)',
    other: 'the documents leave the algorithm to the profile; SM3 or MD5 in some deployments',
  },
  {
    what: 'EBRID of Dalaba itself (SenderCode, EBRPS)',
    dalaba:
      "the county's 12-digit area code + 010101 unless the superior link's EBR_ID is set (a placeholder, not an assigned code)",
    other: 'the 18- or 23-digit resource code the province assigns (GD/J 082 / DB45/T 2326)',
  },
] as const;

/**
 * Dalaba's own EBRID when none is configured: the county's area code padded to 12 digits, then
 * `010101` — 18 digits like an assigned code, but a placeholder: set EBR_ID to the one assigned.
 */
export function placeholderEbrId(countyCode6: string): string {
  return `${countyCode6.padEnd(12, '0')}010101`;
}
