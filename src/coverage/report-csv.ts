/** The coverage reports as CSV (and Excel workbooks): Chinese headers and values by default, English on request. */
import { CsvCell, toCsvReport } from '../common/csv.js';
import { toXlsxReport } from '../common/xlsx.js';
import { formatLocal } from '../common/zoned-time.js';
import { failureMessage } from '../contract/failure-reasons.js';
import type { Level } from '../contract/messages.js';
import type {
  BroadcastOutcome,
  BroadcastStatus,
  ConfirmationMethod,
} from '../broadcasts/broadcast.entity.js';
import type {
  CoverageReport,
  Milestone,
  UncoveredReason,
  VillageCoverage,
  VillageOutcome,
} from './coverage.js';
import type { ReportLang } from './dto/coverage.dto.js';
import type { PeriodReport, ShareTimes } from './period-report.js';

const OUTCOME: Record<ReportLang, Record<VillageOutcome, string>> = {
  zh: { covered: '已覆盖', partial: '部分播放', uncovered: '未覆盖' },
  en: { covered: 'covered', partial: 'partial', uncovered: 'uncovered' },
};
const REASON: Record<ReportLang, Record<UncoveredReason, string>> = {
  zh: {
    no_device: '无设备',
    failed: '播放失败',
    all_offline: '设备全部离线',
    quiet_hours: '静默时段未播',
    pending: '等待中',
    expired: '已过期',
    cancelled: '已取消',
  },
  en: {
    no_device: 'no_device',
    failed: 'failed',
    all_offline: 'all_offline',
    quiet_hours: 'quiet_hours',
    pending: 'pending',
    expired: 'expired',
    cancelled: 'cancelled',
  },
};
const BROADCAST_OUTCOME: Record<ReportLang, Record<BroadcastOutcome, string>> = {
  zh: {
    completed: '全部完成',
    partially_completed: '部分完成',
    failed: '失败',
    cancelled: '已取消',
    expired: '已过期',
  },
  en: {
    completed: 'completed',
    partially_completed: 'partially_completed',
    failed: 'failed',
    cancelled: 'cancelled',
    expired: 'expired',
  },
};
const STATUS_ZH: Record<BroadcastStatus, string> = {
  scheduled: '待发送',
  dispatching: '正在下发',
  active: '进行中',
  completed: '已结束',
  cancelled: '已取消',
  expired: '已过期',
};
const COVERED_BY: Record<ReportLang, Record<'devices' | 'manual', string>> = {
  zh: { devices: '设备确认', manual: '人工确认' },
  en: { devices: 'devices', manual: 'manual' },
};
const METHOD: Record<ReportLang, Record<ConfirmationMethod, string>> = {
  zh: {
    loudspeaker: '村广播人工播放',
    speaker_cart: '流动音箱',
    door_to_door: '入户通知',
    phone: '电话通知',
  },
  en: {
    loudspeaker: 'loudspeaker',
    speaker_cart: 'speaker_cart',
    door_to_door: 'door_to_door',
    phone: 'phone',
  },
};
const LEVEL_ZH: Record<Level, string> = {
  I: 'I级（特别重大）',
  II: 'II级（重大）',
  III: 'III级（较大）',
  IV: 'IV级（一般）',
  routine: '日常',
  test: '测试',
};
const YES_NO: Record<ReportLang, [string, string]> = { zh: ['是', '否'], en: ['yes', 'no'] };

/** Time to first sound, then time to played, at 50%, 90% and 100% of the villages, in seconds. */
const SHARE_TIME_COLUMNS = {
  zh: [
    '开始播音用时（50%村，秒）',
    '开始播音用时（90%村，秒）',
    '开始播音用时（全部村，秒）',
    '播完用时（50%村，秒）',
    '播完用时（90%村，秒）',
    '播完用时（全部村，秒）',
  ],
  en: [
    'first_sound_p50_s',
    'first_sound_p90_s',
    'first_sound_p100_s',
    'played_p50_s',
    'played_p90_s',
    'played_p100_s',
  ],
} as const;

/** Milliseconds as seconds with one decimal, empty when the share was never reached. */
const seconds = (ms: number | null): CsvCell => (ms === null ? '' : Math.round(ms / 100) / 10);

function shareTimes(firstSound: ShareTimes, played: ShareTimes): CsvCell[] {
  return [firstSound, played].flatMap((t) => [t.p50Ms, t.p90Ms, t.p100Ms].map(seconds));
}

const COLUMNS = {
  broadcastVillages: {
    zh: [
      '镇（街道）编码',
      '镇（街道）',
      '村编码',
      '村名',
      '结果',
      '确认方式',
      '未覆盖原因',
      '失败原因',
      '设备数',
      '已播放设备数',
      '开始播音时间',
      '播完时间',
      '人工确认时间',
      '人工确认方式',
      '人工确认人',
    ],
    en: [
      'town_code',
      'town',
      'village_code',
      'village',
      'outcome',
      'covered_by',
      'reason',
      'failures',
      'devices',
      'devices_played',
      'first_sound_at',
      'played_at',
      'manual_confirmed_at',
      'manual_method',
      'manual_by',
    ],
  },
  periodVillages: {
    zh: [
      '镇（街道）编码',
      '镇（街道）',
      '村编码',
      '村名',
      '目标广播数',
      '覆盖广播数',
      '其中人工确认',
      '静默时段未播',
      '覆盖率',
      '低于阈值',
      '设备播放过',
      '启用设备数',
      '设备在线率',
    ],
    en: [
      'town_code',
      'town',
      'village_code',
      'village',
      'broadcasts_targeted',
      'broadcasts_covered',
      'covered_manually',
      'held_by_quiet_hours',
      'coverage_rate',
      'below_threshold',
      'used',
      'devices_enabled',
      'availability',
    ],
  },
  periodBroadcasts: {
    zh: [
      '广播编号',
      '标题',
      '级别',
      '状态',
      '结果',
      '开始时间',
      '计入覆盖',
      '目标村数',
      '覆盖村数',
      '其中人工确认',
      '静默时段未播',
      '覆盖率',
      ...SHARE_TIME_COLUMNS.zh,
    ],
    en: [
      'broadcast_id',
      'title',
      'level',
      'status',
      'outcome',
      'start_at',
      'counted',
      'villages_targeted',
      'villages_covered',
      'covered_manually',
      'held_by_quiet_hours',
      'coverage_rate',
      ...SHARE_TIME_COLUMNS.en,
    ],
  },
} as const;

/**
 * The devices' failure reasons of a village: in Chinese the staff message of each code with the
 * device's own text beside it (`音频下载失败（download failed: HTTP 404）×2`); in English the
 * code, for machines, with the text.
 */
function failuresText(failures: VillageCoverage['failures'], lang: ReportLang): string {
  return failures
    .map((f) =>
      lang === 'zh'
        ? `${failureMessage(f.code, 'zh')}（${f.reason}）×${f.devices}`
        : `${f.code} (${f.reason}) ×${f.devices}`,
    )
    .join('; ');
}

/** A share as a percentage with one decimal (`93.8%`), empty when there is none. */
export function percent(share: number | null): string {
  return share === null ? '' : `${(Math.round(share * 1000) / 10).toFixed(1)}%`;
}

export interface BroadcastCsvInput {
  broadcast: {
    id: string;
    title: string;
    level: Level;
    outcome: BroadcastOutcome | null;
    startAt: number;
    expiresAt: number;
    endReason: string | null;
    cancelledBy: string | null;
    /** How a level needing a second person got out (see approvalOf). */
    createdBy: string;
    createdAt: number;
    approvedBy: string | null;
    approvedAt: number | null;
    draftId: string | null;
    overrideReason: string | null;
  };
  report: CoverageReport;
  /** The first standing manual confirmation of each village: who and how. */
  manual: Map<string, { firstBy: string; firstMethod: ConfirmationMethod | null }>;
  generatedAt: number;
  /** The evidence chain entry the figures were computed from (docs/evidence.md). */
  evidence?: EvidenceHead | null;
  timeZone: string;
  lang: ReportLang;
}

/** A place in the evidence hash chain. */
export interface EvidenceHead {
  seq: number;
  hash: string;
}

/** The preamble line naming the chain head: `seq 1042 sha256 9f2c…`, empty before any entry. */
function evidenceLine(lang: ReportLang, head: EvidenceHead | null | undefined): [string, CsvCell] {
  return [
    lang === 'zh' ? '证据链' : 'evidence_chain',
    head ? `seq ${head.seq} sha256 ${head.hash}` : '',
  ];
}

/** A report's lines, before they become CSV or a workbook. */
export interface ReportTable {
  preamble: [string, CsvCell][];
  columns: readonly string[];
  rows: CsvCell[][];
  /** The workbook's sheet name. */
  sheet: string;
}

export function reportCsv(t: ReportTable): string {
  return toCsvReport(t.preamble, t.columns, t.rows);
}

export function reportXlsx(t: ReportTable): Buffer {
  return toXlsxReport(t.preamble, t.columns, t.rows, t.sheet);
}

export function broadcastCoverageCsv(input: BroadcastCsvInput): string {
  return reportCsv(broadcastCoverageTable(input));
}

export function broadcastCoverageTable(input: BroadcastCsvInput): ReportTable {
  const { broadcast: b, report: r, lang, timeZone } = input;
  const time = (ms: number | null) => (ms === null ? '' : formatLocal(ms, timeZone));
  const zh = lang === 'zh';
  const s = r.summary;
  const after = (m: Milestone[]): ShareTimes => ({
    p50Ms: m[0].afterMs,
    p90Ms: m[1].afterMs,
    p100Ms: m[2].afterMs,
  });
  const times = shareTimes(after(r.milestones.firstSound), after(r.milestones.played));
  const outcome = b.outcome ? BROADCAST_OUTCOME[lang][b.outcome] : '';
  const preamble: [string, CsvCell][] = zh
    ? [
        ['报表', '广播覆盖情况'],
        ['广播', b.title],
        ['广播编号', b.id],
        ['级别', LEVEL_ZH[b.level]],
        ['开始时间', time(b.startAt)],
        ['截止时间', time(b.expiresAt)],
        ['时区', timeZone],
        ['生成时间', time(input.generatedAt)],
        evidenceLine(lang, input.evidence),
        ['结果', outcome],
        ...(b.overrideReason !== null
          ? ([
              ['审批', '紧急越过审批（未经第二人批准）'],
              ['越过人', b.createdBy],
              ['越过原因', b.overrideReason],
            ] as [string, CsvCell][])
          : b.approvedBy !== null
            ? ([
                ['审批', '已批准'],
                ['批准人', b.approvedBy],
              ] as [string, CsvCell][])
            : []),
        ...(b.cancelledBy !== null
          ? ([
              ['取消人', b.cancelledBy],
              ['取消原因', b.endReason ?? ''],
            ] as [string, CsvCell][])
          : []),
        ['目标村数', s.targeted],
        ['覆盖村数', s.covered],
        ['其中人工确认', s.coveredManually],
        ['部分播放', s.partial],
        ['未覆盖', s.uncovered],
        ['覆盖率', percent(s.rate)],
        ...SHARE_TIME_COLUMNS.zh.map((name, i): [string, CsvCell] => [name, times[i]]),
      ]
    : [
        ['report', 'broadcast coverage'],
        ['broadcast', b.title],
        ['broadcast_id', b.id],
        ['level', b.level],
        ['start_at', time(b.startAt)],
        ['expires_at', time(b.expiresAt)],
        ['time_zone', timeZone],
        ['generated_at', time(input.generatedAt)],
        evidenceLine(lang, input.evidence),
        ['outcome', outcome],
        ...(b.overrideReason !== null
          ? ([
              ['approval', 'override (sent without a second person)'],
              ['override_by', b.createdBy],
              ['override_reason', b.overrideReason],
            ] as [string, CsvCell][])
          : b.approvedBy !== null
            ? ([
                ['approval', 'approved'],
                ['approved_by', b.approvedBy],
              ] as [string, CsvCell][])
            : []),
        ...(b.cancelledBy !== null
          ? ([
              ['cancelled_by', b.cancelledBy],
              ['cancel_reason', b.endReason ?? ''],
            ] as [string, CsvCell][])
          : []),
        ['villages_targeted', s.targeted],
        ['villages_covered', s.covered],
        ['covered_manually', s.coveredManually],
        ['partial', s.partial],
        ['uncovered', s.uncovered],
        ['coverage_rate', percent(s.rate)],
        ...SHARE_TIME_COLUMNS.en.map((name, i): [string, CsvCell] => [name, times[i]]),
      ];
  const rows = r.villages.map((v) => {
    const hand = input.manual.get(v.code);
    return [
      v.townCode,
      v.townName,
      v.code,
      v.name,
      OUTCOME[lang][v.outcome],
      v.coveredBy ? COVERED_BY[lang][v.coveredBy] : '',
      v.reason ? REASON[lang][v.reason] : '',
      failuresText(v.failures, lang),
      v.devices,
      v.played,
      time(v.firstSoundAt),
      time(v.playedAt),
      time(v.manualAt),
      hand?.firstMethod ? METHOD[lang][hand.firstMethod] : '',
      hand?.firstBy ?? '',
    ];
  });
  return {
    preamble,
    columns: COLUMNS.broadcastVillages[lang],
    rows,
    sheet: lang === 'zh' ? '广播覆盖情况' : 'broadcast coverage',
  };
}

export interface PeriodCsvInput {
  report: PeriodReport;
  from: number;
  to: number;
  threshold: number;
  generatedAt: number;
  evidence?: EvidenceHead | null;
  timeZone: string;
  lang: ReportLang;
  table: 'villages' | 'broadcasts';
}

export function periodReportCsv(input: PeriodCsvInput): string {
  return reportCsv(periodReportTable(input));
}

export function periodReportTable(input: PeriodCsvInput): ReportTable {
  const { report: r, lang, timeZone } = input;
  const time = (ms: number) => formatLocal(ms, timeZone);
  const yesNo = (v: boolean) => YES_NO[lang][v ? 0 : 1];
  const zh = lang === 'zh';
  const levels = Object.entries(r.broadcasts.byLevel)
    .filter(([, n]) => n > 0)
    .map(([l, n]) => `${zh ? LEVEL_ZH[l as Level] : l} ${n}`)
    .join('; ');
  const outcomes = Object.entries(r.broadcasts.byOutcome)
    .filter(([, n]) => n > 0)
    .map(([o, n]) => `${BROADCAST_OUTCOME[lang][o as BroadcastOutcome]} ${n}`)
    .join('; ');
  const preamble: [string, CsvCell][] = zh
    ? [
        ['报表', input.table === 'villages' ? '覆盖情况统计（按村）' : '覆盖情况统计（按广播）'],
        ['统计开始', time(input.from)],
        ['统计截止', time(input.to)],
        ['时区', timeZone],
        ['生成时间', time(input.generatedAt)],
        evidenceLine(lang, input.evidence),
        ['广播总数', r.broadcasts.total],
        ['按级别', levels],
        ['按结果', outcomes],
        ['计入覆盖的广播', r.broadcasts.counted],
        ['平均覆盖率', percent(r.coverage.mean)],
        [
          '最低覆盖率',
          r.coverage.worst ? `${percent(r.coverage.worst.rate)} ${r.coverage.worst.title}` : '',
        ],
        ['村数', r.usage.villages],
        ['设备播放过的村', r.usage.used],
        ['使用率', percent(r.usage.rate)],
        ['平均设备在线率', percent(r.availability.mean)],
        ['覆盖率阈值', percent(input.threshold)],
        ['低于阈值的村', r.belowThreshold.length],
      ]
    : [
        ['report', input.table === 'villages' ? 'coverage by village' : 'coverage by broadcast'],
        ['from', time(input.from)],
        ['to', time(input.to)],
        ['time_zone', timeZone],
        ['generated_at', time(input.generatedAt)],
        evidenceLine(lang, input.evidence),
        ['broadcasts', r.broadcasts.total],
        ['by_level', levels],
        ['by_outcome', outcomes],
        ['broadcasts_counted', r.broadcasts.counted],
        ['mean_coverage', percent(r.coverage.mean)],
        [
          'worst_coverage',
          r.coverage.worst ? `${percent(r.coverage.worst.rate)} ${r.coverage.worst.title}` : '',
        ],
        ['villages', r.usage.villages],
        ['villages_used', r.usage.used],
        ['usage_rate', percent(r.usage.rate)],
        ['mean_availability', percent(r.availability.mean)],
        ['threshold', percent(input.threshold)],
        ['villages_below_threshold', r.belowThreshold.length],
      ];
  if (input.table === 'broadcasts') {
    return {
      preamble,
      columns: COLUMNS.periodBroadcasts[lang],
      sheet: zh ? '覆盖情况（按广播）' : 'coverage by broadcast',
      rows: r.broadcasts.items.map((b) => [
        b.id,
        b.title,
        zh ? LEVEL_ZH[b.level] : b.level,
        zh ? STATUS_ZH[b.status as BroadcastStatus] : b.status,
        b.outcome ? BROADCAST_OUTCOME[lang][b.outcome] : '',
        time(b.startAt),
        yesNo(b.counted),
        b.targeted,
        b.covered,
        b.coveredManually,
        b.heldByQuietHours,
        percent(b.rate),
        ...shareTimes(b.firstSound, b.played),
      ]),
    };
  }
  return {
    preamble,
    columns: COLUMNS.periodVillages[lang],
    sheet: zh ? '覆盖情况（按村）' : 'coverage by village',
    rows: r.villages.map((v) => [
      v.townCode,
      v.townName,
      v.code,
      v.name,
      v.targeted,
      v.covered,
      v.coveredManually,
      v.heldByQuietHours,
      percent(v.rate),
      yesNo(v.belowThreshold),
      yesNo(v.used),
      v.devicesEnabled,
      percent(v.availability),
    ]),
  };
}
