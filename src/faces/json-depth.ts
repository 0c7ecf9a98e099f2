// The nesting limit of client JSON, checked on the raw bytes before JSON.parse on every face (the
// admin faces' parser, the ibl.ai face's JSON form fields, the gateway's bodies). V8's JSON.parse is
// iterative, but JSON.stringify and any recursive walk over the parsed value are not: a body under
// 1 MB nested a few thousand levels deep overflowed the stack (a 500). The scan is one pass without
// recursion: brackets are counted outside strings, and strings are skipped with Buffer#indexOf.

/** The deepest nesting of JSON arrays and objects accepted in a request (`{}` is depth 1). */
export const MAX_JSON_DEPTH = 100;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;

/**
 * Whether the JSON text in `buf` nests arrays and objects deeper than `max`. Malformed text is not
 * judged (JSON.parse does that afterwards); UTF-8 continuation bytes never equal an ASCII bracket.
 */
export function jsonTooDeep(buf: Uint8Array, max: number = MAX_JSON_DEPTH): boolean {
  const b = Buffer.isBuffer(buf) ? buf : Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  const n = b.length;
  let depth = 0;
  for (let i = 0; i < n; i++) {
    const c = b[i];
    if (c === QUOTE) {
      // to the closing quote: the next quote not escaped by an odd run of backslashes
      for (;;) {
        const q = b.indexOf(QUOTE, i + 1);
        if (q < 0) return false; // unterminated: JSON.parse refuses it
        let k = q - 1;
        while (b[k] === BACKSLASH) k--;
        i = q;
        if ((q - 1 - k) % 2 === 0) break;
      }
    } else if (c === OPEN_ARRAY || c === OPEN_OBJECT) {
      if (++depth > max) return true;
    } else if (c === CLOSE_ARRAY || c === CLOSE_OBJECT) {
      depth--;
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
