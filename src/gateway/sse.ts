// Server-sent events as the gateway relays them: the upstream's bytes are cut into whole events (an
// event ends at a blank line), each event is handed over with its original text so it can be passed
// on unchanged, and its `data` is read only when the gateway needs it (usage).
export interface SseEvent {
  /** The event's text as received, without its terminating blank line. */
  raw: string;
  /** The separator that ended it (`\n\n`, `\r\n\r\n`…), to forward the bytes as they came. */
  end: string;
}

const BOUNDARY = /\r\n\r\n|\n\n|\r\r/g;

/** Cuts a decoded text stream into whole events; `push` returns the events completed by a chunk. */
export class SseSplitter {
  private buf = '';

  push(text: string): SseEvent[] {
    this.buf += text;
    const out: SseEvent[] = [];
    let start = 0;
    BOUNDARY.lastIndex = 0;
    for (let m = BOUNDARY.exec(this.buf); m; m = BOUNDARY.exec(this.buf)) {
      out.push({ raw: this.buf.slice(start, m.index), end: m[0] });
      start = m.index + m[0].length;
    }
    this.buf = this.buf.slice(start);
    return out;
  }

  /** What is left after the stream ended (an event the upstream did not terminate). */
  rest(): string {
    const r = this.buf;
    this.buf = '';
    return r;
  }
}

/** The `data` of an event (its `data:` lines joined by newlines), or null when it has none. */
export function eventData(raw: string): string | null {
  let data: string | null = null;
  for (const line of raw.split(/\r\n|\n|\r/)) {
    if (!line.startsWith('data:')) continue;
    const v = line.charCodeAt(5) === 32 ? line.slice(6) : line.slice(5);
    data = data === null ? v : `${data}\n${v}`;
  }
  return data;
}

/** The `event:` name of an event, if any. */
export function eventName(raw: string): string | null {
  for (const line of raw.split(/\r\n|\n|\r/)) if (line.startsWith('event:')) return line.slice(6).trim();
  return null;
}
