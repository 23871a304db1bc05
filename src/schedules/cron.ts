/** Cron expressions with time zones (pure, on cron-parser). */
import { CronExpressionParser } from 'cron-parser';

/** Five fields: minute hour day-of-month month day-of-week. */
const FIVE_FIELDS = /^\s*\S+\s+\S+\s+\S+\s+\S+\s+\S+\s*$/;

export function isTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

/** Why a cron expression is not usable, or null when it is. */
export function cronProblem(cron: string): string | null {
  if (!FIVE_FIELDS.test(cron))
    return 'cron must have five fields: minute hour day-of-month month day-of-week, e.g. "0 8 * * *"';
  try {
    CronExpressionParser.parse(cron, { tz: 'UTC' });
    return null;
  } catch (err) {
    return `cron is not valid: ${(err as Error).message}`;
  }
}

/** The next `count` firing times strictly after `after` (epoch ms), in the schedule's time zone. */
export function nextFireTimes(
  cron: string,
  timeZone: string,
  after: number,
  count: number,
): number[] {
  const it = CronExpressionParser.parse(cron, { currentDate: new Date(after), tz: timeZone });
  const out: number[] = [];
  for (let i = 0; i < count; i++) out.push(it.next().getTime());
  return out;
}

/** Firing times in (from, to], oldest first; at most the last `max` of them. */
export function fireTimesBetween(
  cron: string,
  timeZone: string,
  from: number,
  to: number,
  max: number,
): number[] {
  const it = CronExpressionParser.parse(cron, {
    currentDate: new Date(from),
    endDate: new Date(to + 1),
    tz: timeZone,
  });
  const out: number[] = [];
  while (it.hasNext()) {
    const t = it.next().getTime();
    if (t > to) break;
    out.push(t);
    if (out.length > max) out.shift();
  }
  return out;
}
