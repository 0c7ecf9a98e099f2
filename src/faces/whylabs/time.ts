// WhyLabs times: Java's DateTimeFormatter.ISO_LOCAL_DATE_TIME of the UTC local date-time, with no zone
// suffix; the fraction of a second is printed only when non-zero, without trailing zeros
// (`2024-01-31T12:34:56.78`, `2024-01-31T12:34:56`). keyplane stores epoch milliseconds.

/** The last instant printed with a plain four-digit year; later expiration times are refused on input. */
export const MAX_WHYLABS_MS = 253_402_300_799_999; // 9999-12-31T23:59:59.999

/**
 * Formats epoch milliseconds (UTC) as WhyLabs does. Years outside 0000–9999 are printed as Java prints
 * them (`+10000-…`, `-0001-…`). Throws RangeError for what a JavaScript Date cannot hold.
 */
export function whylabsTime(ms: number): string {
  if (!Number.isFinite(ms)) throw new RangeError(`Not a time: ${ms}`);
  const d = new Date(Math.floor(ms));
  if (Number.isNaN(d.getTime())) throw new RangeError(`Time out of range: ${ms}`);
  const iso = d.toISOString(); // [±YY]YYYY-MM-DDTHH:mm:ss.sssZ
  const t = iso.indexOf('T');
  const year = d.getUTCFullYear();
  const y = year > 9999 ? `+${year}` : year < 0 ? `-${String(-year).padStart(4, '0')}` : String(year).padStart(4, '0');
  const rest = iso.slice(t - 6, t + 9); // -MM-DDTHH:mm:ss
  const fraction = iso.slice(t + 10, t + 13).replace(/0+$/, '');
  return fraction ? `${y}${rest}.${fraction}` : `${y}${rest}`;
}

/** `whylabsTime` for optional times; null stays null (and is then left out of the JSON). */
export function whylabsTimeOrNull(ms: number | null | undefined): string | null {
  return ms === null || ms === undefined ? null : whylabsTime(ms);
}
