// Cron rules as the schedule form's day-and-time picker reads and writes them, and in words.
import { t } from '../i18n.js';

/** Days of the week as a Chinese calendar shows them, Monday first; cron's Sunday is 0 (or 7). */
export const WEEK = [1, 2, 3, 4, 5, 6, 0];
const DOW_NAMES = { SUN: 0, MON: 1, TUE: 2, WED: 3, THU: 4, FRI: 5, SAT: 6 };

/** The weekdays (0–6) a cron day-of-week field names, or null when it says more than that. */
function weekdaysOf(field) {
  const days = new Set();
  for (const part of field.toUpperCase().split(',')) {
    const m = /^(\w+)(?:-(\w+))?$/.exec(part);
    if (!m) return null;
    const num = (x) => (x in DOW_NAMES ? DOW_NAMES[x] : /^[0-7]$/.test(x) ? Number(x) : null);
    const from = num(m[1]);
    const to = m[2] === undefined ? from : num(m[2]);
    if (from === null || to === null || from > to) return null;
    for (let d = from; d <= to; d++) days.add(d % 7);
  }
  return days;
}

/**
 * The day-and-time picker's reading of a cron rule, or null when the rule says more than the
 * picker can (then the form opens the advanced field instead of rewriting it).
 */
export function cronToPicker(cron) {
  const f = cron.trim().split(/\s+/);
  if (f.length !== 5 || f[3] !== '*' || !/^\d{1,2}$/.test(f[0]) || !/^\d{1,2}$/.test(f[1]))
    return null;
  const [minute, hour] = [Number(f[0]), Number(f[1])];
  if (minute > 59 || hour > 23) return null;
  const time = `${String(hour).padStart(2, '0')}:${String(minute).padStart(2, '0')}`;
  const [dom, dow] = [f[2], f[4]];
  if (dom === '*' && dow === '*') return { mode: 'daily', time, days: [], dom: 1 };
  if (dow === '*' && /^\d{1,2}$/.test(dom) && Number(dom) >= 1 && Number(dom) <= 31)
    return { mode: 'monthly', time, days: [], dom: Number(dom) };
  if (dom !== '*') return null;
  const set = weekdaysOf(dow);
  if (!set) return null;
  const days = WEEK.filter((d) => set.has(d));
  if (days.length === 7) return { mode: 'daily', time, days: [], dom: 1 };
  if (days.join() === '1,2,3,4,5') return { mode: 'weekdays', time, days, dom: 1 };
  return { mode: 'weekly', time, days, dom: 1 };
}

/** The cron rule a picker state writes, or `{ problem }` in words. */
export function pickerToCron(p) {
  const m = /^(\d{1,2}):(\d{2})$/.exec(p.time ?? '');
  if (!m) return { problem: t('sch.err.time') };
  const at = `${Number(m[2])} ${Number(m[1])}`;
  if (p.mode === 'daily') return { cron: `${at} * * *` };
  if (p.mode === 'weekdays') return { cron: `${at} * * 1-5` };
  if (p.mode === 'weekly') {
    if (!p.days.length) return { problem: t('sch.err.days') };
    return { cron: `${at} * * ${[...p.days].sort((a, b) => a - b).join(',')}` };
  }
  if (!Number.isInteger(p.dom) || p.dom < 1 || p.dom > 31) return { problem: t('sch.err.dom') };
  return { cron: `${at} ${p.dom} * *` };
}

/** A cron rule in words (每天 08:00), or null when the picker cannot read it. */
export function describeCron(cron) {
  const p = cronToPicker(cron);
  if (!p) return null;
  const days = p.days.map((d) => t(`wd.${d}`)).join(t('sch.daysJoin'));
  return t(`sch.desc.${p.mode}`, { time: p.time, days, dom: p.dom });
}

const CRON_RANGES = [
  [0, 59],
  [0, 23],
  [1, 31],
  [1, 12],
  [0, 7],
];

/**
 * What is wrong with a raw cron rule, in the staff's language, or null. Only the common mistakes
 * (field count, syntax, numbers out of range); names and extensions are left to the server.
 */
export function cronProblem(cron) {
  const fields = cron.trim().split(/\s+/).filter(Boolean);
  if (fields.length !== 5) return t('sch.err.fields', { n: fields.length });
  for (const [i, field] of fields.entries()) {
    const [lo, hi] = CRON_RANGES[i];
    const where = { index: i + 1, field: t(`sch.field.${i}`) };
    for (const part of field.split(',')) {
      const m = /^(\*|\d+(?:-\d+)?)(?:\/(\d+))?$/.exec(part);
      if (!m) {
        if (/^[A-Za-z0-9*?#/-]+$/.test(part) && /[A-Za-z?#]/.test(part)) continue;
        return t('sch.err.part', { ...where, part });
      }
      const numbers = m[1] === '*' ? [] : m[1].split('-').map(Number);
      for (const value of numbers)
        if (value < lo || value > hi) return t('sch.err.range', { ...where, value, lo, hi });
      if ((numbers.length === 2 && numbers[0] > numbers[1]) || m[2] === '0')
        return t('sch.err.part', { ...where, part });
    }
  }
  return null;
}
