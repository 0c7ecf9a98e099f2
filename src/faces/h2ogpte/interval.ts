// h2oGPTe `expires_in`: a PostgreSQL-style interval string ("30 days", "1 year 2 months",
// "12:00:00", "1 day 06:30") turned into milliseconds. The grammar is INFERRED from the spec's
// example and the Postgres interval input format; only positive, whole, forward-looking intervals
// are accepted: no signs, fractions, "ago", ISO 8601 or repeated units.

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** Unit lengths as PostgreSQL counts them for `extract(epoch from interval …)`: a month is 30 days, a year 365.25. */
const UNIT_MS: Record<string, number> = {
  second: SECOND,
  minute: MINUTE,
  hour: HOUR,
  day: DAY,
  week: 7 * DAY,
  month: 30 * DAY,
  year: 365.25 * DAY,
};

const UNIT_ALIASES: Record<string, keyof typeof UNIT_MS> = {};
for (const [unit, names] of Object.entries({
  second: ['s', 'sec', 'secs', 'second', 'seconds'],
  minute: ['m', 'min', 'mins', 'minute', 'minutes'],
  hour: ['h', 'hr', 'hrs', 'hour', 'hours'],
  day: ['d', 'day', 'days'],
  week: ['w', 'wk', 'wks', 'week', 'weeks'],
  month: ['mon', 'mons', 'month', 'months'],
  year: ['y', 'yr', 'yrs', 'year', 'years'],
})) {
  for (const n of names) UNIT_ALIASES[n] = unit;
}

/** The longest interval accepted: ten years. */
export const MAX_INTERVAL_MS = 10 * UNIT_MS.year!;
/** Longest input looked at; anything longer is not an interval a client would send. */
const MAX_INPUT_CHARS = 100;

// "<n> <unit>" (space optional: "30days"), or a clock "HH:MM" / "HH:MM:SS"
const TOKEN = /\s*(?:(\d{1,9})\s*([a-z]+)|(\d{1,6}):([0-5]\d)(?::([0-5]\d))?)\s*(?:,\s*)?/y;

/**
 * Milliseconds of `input`, or null when it is not a positive interval of at most ten years in the
 * accepted grammar. Each `<n> <unit>` part needs n ≥ 1; a clock part may hold zeros but the total
 * must be positive.
 */
export function parseInterval(input: unknown): number | null {
  if (typeof input !== 'string') return null;
  const text = input.trim().toLowerCase();
  if (!text || text.length > MAX_INPUT_CHARS || text.endsWith(',')) return null;
  const seen = new Set<string>();
  let total = 0;
  TOKEN.lastIndex = 0;
  while (TOKEN.lastIndex < text.length) {
    const m = TOKEN.exec(text);
    if (!m) return null;
    if (m[1] !== undefined) {
      const unit = UNIT_ALIASES[m[2]!];
      if (!unit || seen.has(unit)) return null;
      const n = Number(m[1]);
      if (!Number.isSafeInteger(n) || n < 1) return null;
      seen.add(unit);
      total += n * UNIT_MS[unit]!;
    } else {
      if (seen.has('clock')) return null;
      seen.add('clock');
      total += Number(m[3]) * HOUR + Number(m[4]) * MINUTE + Number(m[5] ?? 0) * SECOND;
    }
    if (total > MAX_INTERVAL_MS) return null;
  }
  return total > 0 ? total : null;
}
