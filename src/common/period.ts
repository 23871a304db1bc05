import { ValidationFailedError } from './domain-error.js';
import { parseBound } from './zoned-time.js';

const DAY_MS = 86_400_000;
/** A period report or log spans at most a year and a leap day and a bit. */
const MAX_PERIOD_MS = 367 * DAY_MS;

/**
 * The [from, to) of a period query (`from`, `to`: a day in `timeZone` or an ISO 8601 instant with
 * a zone; `to` defaults to now, `from` to `defaultSpanMs` before `to`). A 400 naming the field for
 * a bound that is neither, from ≥ to, or a span over 367 days (`what` names it: "A report").
 */
export function parsePeriod(
  query: { from?: string; to?: string },
  o: { now: number; timeZone: string; defaultSpanMs: number; what: string },
): { from: number; to: number } {
  const problem = (field: string, rule: string, message: string) =>
    new ValidationFailedError([{ field, rule, message }]);
  const to = query.to === undefined ? o.now : parseBound(query.to, o.timeZone, true);
  if (to === null)
    throw problem(
      'to',
      'dayOrInstant',
      'to: give a day (2026-11-30) or an ISO 8601 time with a zone',
    );
  const from =
    query.from === undefined ? to - o.defaultSpanMs : parseBound(query.from, o.timeZone, false);
  if (from === null)
    throw problem(
      'from',
      'dayOrInstant',
      'from: give a day (2026-11-01) or an ISO 8601 time with a zone',
    );
  if (from >= to) throw problem('from', 'beforeTo', 'from must be before to');
  if (to - from > MAX_PERIOD_MS)
    throw problem('to', 'maxSpan', `${o.what} spans at most 367 days; ask for one year at a time`);
  return { from, to };
}
