// The nesting limit of client JSON, checked on the raw bytes before JSON.parse on every face (the
// admin faces' parser, the ibl.ai face's JSON form fields, the gateway's bodies). V8's JSON.parse is
// iterative, but JSON.stringify and any recursive walk over the parsed value are not: a body under
// 1 MB nested a few thousand levels deep overflowed the stack (a 500). The scan is one pass without
// recursion: brackets are counted outside strings, and strings are skipped with Buffer#indexOf.

/** The deepest nesting of JSON arrays and objects accepted in a request (`{}` is depth 1). */
export const MAX_JSON_DEPTH = 100;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/** Byte classes outside strings: 1 a quote, 2 an opening bracket, 3 a closing one, 0 anything else. */
const OUTSIDE = new Uint8Array(256);
OUTSIDE[QUOTE] = 1;
OUTSIDE[0x5b] = OUTSIDE[0x7b] = 2; // [ {
OUTSIDE[0x5d] = OUTSIDE[0x7d] = 3; // ] }
/** Strings up to this many bytes are skipped byte by byte; longer ones with Buffer#indexOf. */
const SHORT_STRING = 32;

/**
 * Whether the JSON text in `buf` nests arrays and objects deeper than `max`. Malformed text is not
 * judged (JSON.parse does that afterwards); UTF-8 continuation bytes never equal an ASCII bracket.
 */
export function jsonTooDeep(buf: Uint8Array, max: number = MAX_JSON_DEPTH): boolean {
  const b = Buffer.isBuffer(buf) ? buf : Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  const n = b.length;
  let depth = 0;
  for (let i = 0; i < n; i++) {
    const k = OUTSIDE[b[i]!]!;
    if (k === 0) continue;
    if (k === 2) {
      if (++depth > max) return true;
    } else if (k === 3) {
      depth--;
    } else {
      // a string: its first bytes by hand (most strings are short keys and values)…
      let j = i + 1;
      const stop = Math.min(n, i + 1 + SHORT_STRING);
      for (; j < stop; j++) {
        const c = b[j];
        if (c === QUOTE) break;
        if (c === BACKSLASH) j++; // the escaped byte is skipped
      }
      if (j < stop) {
        i = j; // its closing quote
        continue;
      }
      if (j >= n) return false; // unterminated: JSON.parse refuses it
      // …the rest to the next quote not escaped by an odd run of backslashes
      i = j - 1;
      for (;;) {
        const q = b.indexOf(QUOTE, i + 1);
        if (q < 0) return false;
        let m = q - 1;
        while (b[m] === BACKSLASH) m--;
        i = q;
        if ((q - 1 - m) % 2 === 0) break;
      }
    }
  }
  return false;
}

/** The refusal of a body nested deeper than MAX_JSON_DEPTH: a 400 that each face renders in its envelope. */
export class JsonTooDeepError extends Error {
  override name = 'JsonTooDeepError';
  readonly statusCode = 400;
  readonly code = 'KP_JSON_TOO_DEEP';
  constructor() {
    super(tooDeepMessage);
  }
}

export const tooDeepMessage = `The request body is nested too deeply: JSON arrays and objects may be nested at most ${MAX_JSON_DEPTH} levels.`;
