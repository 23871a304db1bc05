/** The coverage reports as CSV for Excel: Chinese headers and values by default, English on request. */
import { CsvCell, toCsvReport } from '../common/csv.js';
import { formatLocal } from '../common/zoned-time.js';
import type { Level } from '../contract/messages.js';
import type { CoverageReport, UncoveredReason, VillageOutcome } from './coverage.js';
import type { ReportLang } from './dto/coverage.dto.js';
import type { PeriodReport } from './period-report.js';

const OUTCOME: Record<ReportLang, Record<VillageOutcome, string>> = {
  zh: { covered: '已覆盖', partial: '部分播放', uncovered: '未覆盖' },
  en: { covered: 'covered', partial: 'partial', uncovered: 'uncovered' },
};
const REASON: Record<ReportLang, Record<UncoveredReason, string>> = {
  zh: {
    no_device: '无设备',
    failed: '播放失败',
    all_offline: '设备全部离线',
    pending: '等待中',
    expired: '已过期',
    cancelled: '已取消',
  },
  en: {
    no_device: 'no_device',
    failed: 'failed',
    all_offline: 'all_offline',
    pending: 'pending',
    expired: 'expired',
    cancelled: 'cancelled',
  },
};
const COVERED_BY: Record<ReportLang, Record<'devices' | 'manual', string>> = {
  zh: { devices: '设备确认', manual: '人工确认' },
  en: { devices: 'devices', manual: 'manual' },
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
      '首次播放时间',
      '人工确认时间',
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
      'first_played_at',
      'manual_confirmed_at',
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
      '开始时间',
      '计入覆盖',
      '目标村数',
      '覆盖村数',
      '其中人工确认',
      '覆盖率',
    ],
    en: [
      'broadcast_id',
      'title',
      'level',
      'status',
      'start_at',
      'counted',
      'villages_targeted',
      'villages_covered',
      'covered_manually',
      'coverage_rate',
    ],
  },
} as const;

/** A share as a percentage with one decimal (`93.8%`), empty when there is none. */
export function percent(share: number | null): string {
  return share === null ? '' : `${(Math.round(share * 1000) / 10).toFixed(1)}%`;
}

export interface BroadcastCsvInput {
  broadcast: { id: string; title: string; level: Level; startAt: number; expiresAt: number };
  report: CoverageReport;
  generatedAt: number;
  timeZone: string;
  lang: ReportLang;
}

export function broadcastCoverageCsv(input: BroadcastCsvInput): string {
  const { broadcast: b, report: r, lang, timeZone } = input;
  const time = (ms: number | null) => (ms === null ? '' : formatLocal(ms, timeZone));
  const zh = lang === 'zh';
  const s = r.summary;
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
        ['目标村数', s.targeted],
        ['覆盖村数', s.covered],
        ['其中人工确认', s.coveredManually],
        ['部分播放', s.partial],
        ['未覆盖', s.uncovered],
        ['覆盖率', percent(s.rate)],
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
        ['villages_targeted', s.targeted],
        ['villages_covered', s.covered],
        ['covered_manually', s.coveredManually],
        ['partial', s.partial],
        ['uncovered', s.uncovered],
        ['coverage_rate', percent(s.rate)],
      ];
  const rows = r.villages.map((v) => [
    v.townCode,
    v.townName,
    v.code,
    v.name,
    OUTCOME[lang][v.outcome],
    v.coveredBy ? COVERED_BY[lang][v.coveredBy] : '',
    v.reason ? REASON[lang][v.reason] : '',
    v.failures.map((f) => `${f.reason} ×${f.devices}`).join('; '),
    v.devices,
    v.played,
    time(v.firstPlayedAt),
    time(v.manualAt),
  ]);
  return toCsvReport(preamble, COLUMNS.broadcastVillages[lang], rows);
}

export interface PeriodCsvInput {
  report: PeriodReport;
  from: number;
  to: number;
  threshold: number;
  generatedAt: number;
  timeZone: string;
  lang: ReportLang;
  table: 'villages' | 'broadcasts';
}

export function periodReportCsv(input: PeriodCsvInput): string {
  const { report: r, lang, timeZone } = input;
  const time = (ms: number) => formatLocal(ms, timeZone);
  const yesNo = (v: boolean) => YES_NO[lang][v ? 0 : 1];
  const zh = lang === 'zh';
  const levels = Object.entries(r.broadcasts.byLevel)
    .filter(([, n]) => n > 0)
    .map(([l, n]) => `${zh ? LEVEL_ZH[l as Level] : l} ${n}`)
    .join('; ');
  const preamble: [string, CsvCell][] = zh
    ? [
        ['报表', input.table === 'villages' ? '覆盖情况统计（按村）' : '覆盖情况统计（按广播）'],
        ['统计开始', time(input.from)],
        ['统计截止', time(input.to)],
        ['时区', timeZone],
        ['生成时间', time(input.generatedAt)],
        ['广播总数', r.broadcasts.total],
        ['按级别', levels],
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
        ['broadcasts', r.broadcasts.total],
        ['by_level', levels],
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
    return toCsvReport(
      preamble,
      COLUMNS.periodBroadcasts[lang],
      r.broadcasts.items.map((b) => [
        b.id,
        b.title,
        zh ? LEVEL_ZH[b.level] : b.level,
        b.status,
        time(b.startAt),
        yesNo(b.counted),
        b.targeted,
        b.covered,
        b.coveredManually,
        percent(b.rate),
      ]),
    );
  }
  return toCsvReport(
    preamble,
    COLUMNS.periodVillages[lang],
    r.villages.map((v) => [
      v.townCode,
      v.townName,
      v.code,
      v.name,
      v.targeted,
      v.covered,
      v.coveredManually,
      percent(v.rate),
      yesNo(v.belowThreshold),
      yesNo(v.used),
      v.devicesEnabled,
      percent(v.availability),
    ]),
  );
}
