// Buffered usage recording for the gateway: the request path hands each metered request to add(),
// which checks and normalizes it and appends it to an in-memory buffer, synchronously and without
// ever throwing. A timer (start(), every flushMs) writes the buffer: one transaction per flush with
// the events written in bulk (src/store/usage-writes.ts) and the day rollups summed in memory first, one row per
// distinct rollup key. This is the write path of usage at gateway rates; UsageService.record (one
// event, one transaction, errors to the caller) stays for everything else.
//
// Flush and retry:
// - a flush takes everything buffered when it starts; adds during it go to the next flush;
// - flushes never interleave: each waits for the one before it (ticks of a busy timer are skipped);
// - when the transaction fails nothing of it is written; its events go back in front of the buffer,
//   in order, and the next flush (the next tick) tries them again;
// - the buffer holds at most maxBuffered events (default 100 000): beyond it the oldest are dropped,
//   with one error per episode (reported again only after a flush has succeeded); `dropped` counts them;
// - events are inserted with ON CONFLICT (id) DO NOTHING and the rollups summed over the rows
//   actually inserted, so a flush whose commit succeeded although the client saw an error (a lost
//   connection at COMMIT) is not counted twice when its events are retried;
// - events of an organization that no longer exists are dropped at flush (one error per flush):
//   they could never be written, and would otherwise block the buffer.
//
// Units: tokens, images and audio bytes are integer counts; audio duration is taken in seconds and
// stored as integer milliseconds (`audio_ms`); cost is integer billionths of a US dollar
// (`cost_nano_usd`), so sums are exact. Fractions are rounded to the nearest integer.
import type { Store } from '../store/db.ts';
import { insertUsageEvents, upsertUsageDaily, upsertUsageRollups, type UsageDailyRow, type UsageEventRow } from '../store/usage-writes.ts';
import { compactMinuteRollups, rollupRows } from './usage-rollups.ts';
import { ID_PREFIX, newId } from './ids.ts';
import { utcDay } from './usage.ts';

export type CredentialSource = 'tenant' | 'platform_default' | 'free_trial';

/** One metered request as the gateway saw it. */
export interface GatewayUsage {
  orgId: string;
  /** The key's project; null for keys without one. */
  projectId: string | null;
  apiKeyId: string | null;
  keyOwnerType: 'user' | 'service_account' | null;
  keyOwnerId: string | null;
  /** The end user as the client named it (the body's `user`, or `x-keyplane-user`): any string. */
  endUser: string | null;
  sessionId: string | null;
  /** The model as requested. */
  model: string;
  /** The model the provider ran. */
  servedModel: string;
  provider: string;
  /** Whose provider credential served the request. */
  credentialSource: CredentialSource;
  /** The gateway endpoint, e.g. `chat.completions`. */
  endpoint: string;
  inputTokens: number;
  /** The part of inputTokens the provider served from its cache (OpenAI's `cached_tokens`). */
  cachedInputTokens: number;
  outputTokens: number;
  images: number;
  /** Audio duration in seconds (stored as integer milliseconds). */
  audioSeconds: number;
  audioBytes: number;
  /** Cost in billionths of a US dollar (1e-9 USD). */
  costNanoUsd: number;
  /** The HTTP status answered; anything outside 200–299 counts as an error in the rollups. */
  status: number;
  latencyMs: number;
  stream: boolean;
  /** When the request happened, epoch milliseconds. */
  at: number;
  /** The service tier the upstream reported (else the one requested); absent or null when neither said. */
  serviceTier?: string | null;
  /** A batch request (the gateway's never are). */
  batch?: boolean;
  /** Characters of a speech request's input. */
  characters?: number;
  /** The size an image request asked for (`1024x1024`); kept in the image rollups, not in the event. */
  imageSize?: string | null;
  /** costNanoUsd split by line item (input, cached input, output); absent: all of it counts as input. */
  costParts?: { input: number; cachedInput: number; output: number };
}

/** What a flush listener learns of each event written. */
export type FlushedUsage = Pick<UsageEventRow, 'org_id' | 'project_id' | 'cost_nano_usd' | 'created_at'>;

export interface UsageRecorderOptions {
  /** How often the timer flushes (default 1000 ms). */
  flushMs?: number;
  /** The most events held while the store refuses writes (default 100 000); the oldest go beyond it. */
  maxBuffered?: number;
  /** Receives every problem: clamped or dropped events, failed flushes, overflow. Never on the caller's stack as a throw. */
  onError?: (err: Error) => void;
  now?: () => number;
  /**
   * Days per-minute rollups are kept (KEYPLANE_USAGE_MINUTE_RETENTION_DAYS, default 7); older ones
   * are deleted every compactEveryMs (default one hour) while the timer runs. 0: never.
   */
  minuteRetentionDays?: number;
  compactEveryMs?: number;
}

/** An event as buffered: its row, plus the cost split that only the rollups keep. */
type EventRow = UsageEventRow & { status: number; cost_input: number; cost_cached_input: number; cost_output: number; image_size: string | null };

/** The largest value of one counter of one event: far above any real request, and sums stay exact. */
export const MAX_COUNT = 2 ** 45;
const MAX_INT32 = 2 ** 31 - 1;
const MAX_TEXT = 255;
/**
 * Rows per rollup upsert and per organization lookup (far below SQLite's 32 766 and PostgreSQL's
 * 65 535 parameters). The events themselves are written by src/store/usage-writes.ts, which keeps
 * every synchronous step of a flush well under a millisecond.
 */
export const CHUNK = 200;

/** Lets pending I/O (requests) run before the next statement of a long flush. */
export const yieldToEventLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
const OWNER_TYPES = new Set(['user', 'service_account']);
const CREDENTIAL_SOURCES = new Set(['tenant', 'platform_default', 'free_trial']);

/** A FIFO with O(1) removal at the front (dropping the oldest under overflow). */
class Fifo<T> {
  private items: Array<T | undefined> = [];
  private head = 0;

  get length(): number {
    return this.items.length - this.head;
  }

  push(x: T): void {
    this.items.push(x);
  }

  /** Removes the oldest `n`; `each` sees every one removed. */
  dropFront(n: number, each?: (x: T) => void): void {
    for (let i = 0; i < n && this.head < this.items.length; i++) {
      if (each) each(this.items[this.head] as T);
      this.items[this.head++] = undefined;
    }
    if (this.head >= 1024 && this.head * 2 >= this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
  }

  takeAll(): T[] {
    const out = (this.head ? this.items.slice(this.head) : this.items) as T[];
    this.items = [];
    this.head = 0;
    return out;
  }

  /** Puts `older` back in front of what is there. */
  unshiftAll(older: T[]): void {
    this.items = [...older, ...(this.takeAll() as T[])];
  }
}

export class UsageRecorder {
  private readonly flushMs: number;
  private readonly maxBuffered: number;
  private readonly onError: (err: Error) => void;
  private readonly now: () => number;
  private pending = new Fifo<EventRow>();
  private tail: Promise<void> = Promise.resolve();
  private inFlight = 0;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  private overflowing = false;
  private droppedTotal = 0;
  /** Cost (nano-USD) buffered and not yet written, per organization and per project (the spend limits read it). */
  private readonly unflushedOrg = new Map<string, number>();
  private readonly unflushedProject = new Map<string, number>();
  private readonly flushedListeners = new Set<(rows: ReadonlyArray<FlushedUsage>) => void>();
  private readonly timedListeners = new Set<(seconds: number, ok: boolean) => void>();
  private readonly minuteRetentionDays: number;
  private readonly compactEveryMs: number;
  private compactTimer: NodeJS.Timeout | null = null;
  private firstCompact: NodeJS.Timeout | null = null;
  private compacting: Promise<number> | null = null;

  constructor(
    private readonly store: Pick<Store, 'db'> & Partial<Pick<Store, 'sqlite'>>,
    opts: UsageRecorderOptions = {},
  ) {
    this.flushMs = opts.flushMs ?? 1000;
    this.maxBuffered = Math.max(1, opts.maxBuffered ?? 100_000);
    this.onError = opts.onError ?? ((err) => console.error(`keyplane usage recorder: ${err.message}`));
    this.now = opts.now ?? Date.now;
    this.minuteRetentionDays = Math.max(0, opts.minuteRetentionDays ?? 7);
    this.compactEveryMs = Math.max(1000, opts.compactEveryMs ?? 3_600_000);
  }

  /**
   * Deletes the per-minute rollups older than the retention (hour and day rows stay); returns how
   * many. Runs off the request path, on the compaction timer; one at a time.
   */
  compact(now = this.now()): Promise<number> {
    if (!this.minuteRetentionDays) return Promise.resolve(0);
    if (this.compacting) return this.compacting;
    const run = compactMinuteRollups(this.store, now - this.minuteRetentionDays * 86_400_000).finally(() => {
      this.compacting = null;
    });
    this.compacting = run;
    return run;
  }

  /** Cost in nano-USD this recorder holds and has not written yet, of an organization or (with projectId) of one of its projects. */
  unflushedNanoUsd(orgId: string, projectId?: string): number {
    return (projectId === undefined ? this.unflushedOrg.get(orgId) : this.unflushedProject.get(projectId)) ?? 0;
  }

  /**
   * Calls `fn` right after each flush committed, with the events it wrote (synchronously with the
   * unflushed cost going down, so that recorded spend never disappears between the two); returns
   * its unregistration.
   */
  onFlushed(fn: (rows: ReadonlyArray<FlushedUsage>) => void): () => void {
    this.flushedListeners.add(fn);
    return () => this.flushedListeners.delete(fn);
  }

  /** Calls `fn` after each flush that had events to write, with its duration and whether it committed (the metrics). */
  onFlushTimed(fn: (seconds: number, ok: boolean) => void): () => void {
    this.timedListeners.add(fn);
    return () => this.timedListeners.delete(fn);
  }

  private countCost(row: EventRow, sign: 1 | -1): void {
    if (!row.cost_nano_usd) return;
    const bump = (m: Map<string, number>, k: string) => {
      const v = (m.get(k) ?? 0) + sign * row.cost_nano_usd;
      if (v > 0) m.set(k, v);
      else m.delete(k);
    };
    bump(this.unflushedOrg, row.org_id);
    if (row.project_id) bump(this.unflushedProject, row.project_id);
  }

  /** Events waiting to be written. */
  get buffered(): number {
    return this.pending.length;
  }

  /** Events dropped so far: invalid, of unknown organizations, or beyond maxBuffered. */
  get dropped(): number {
    return this.droppedTotal;
  }

  /**
   * Buffers one metered request. Synchronous and never throws: numbers that are not finite or are
   * negative become 0, those above MAX_COUNT become MAX_COUNT, text is cut to 255 characters, each
   * with one error reported; an event without an organization or model is dropped with an error.
   */
  add(ev: GatewayUsage): void {
    try {
      if (this.stopped) {
        this.drop(1, new Error('usage event dropped: the recorder is stopped'));
        return;
      }
      const problems: string[] = [];
      const row = this.normalize(ev, problems);
      if (!row) {
        this.drop(1, new Error(`usage event dropped: ${problems.join('; ')}`));
        return;
      }
      if (problems.length) this.report(new Error(`usage event of ${row.org_id} corrected: ${problems.join('; ')}`));
      if (this.pending.length >= this.maxBuffered) this.overflow(this.pending.length - this.maxBuffered + 1);
      this.pending.push(row);
      this.countCost(row, 1);
    } catch (err) {
      // nothing above should throw; if it does, the request still must not fail
      this.drop(1, err instanceof Error ? err : new Error(String(err)));
    }
  }

  /** Writes everything buffered now, in one transaction; rejects (keeping the events) when the store does. */
  flush(): Promise<void> {
    const run = this.tail.then(() => this.flushOnce());
    this.inFlight++;
    this.tail = run.then(
      () => void this.inFlight--,
      () => void this.inFlight--,
    );
    return run;
  }

  /** Flushes every flushMs; the timer does not keep the process alive. */
  start(): void {
    if (this.timer) return;
    this.stopped = false;
    this.timer = setInterval(() => {
      if (this.inFlight || !this.pending.length) return; // a slow flush is not queued up behind
      this.flush().catch((err) => this.report(err instanceof Error ? err : new Error(String(err))));
    }, this.flushMs);
    this.timer.unref();
    if (this.minuteRetentionDays && !this.compactTimer) {
      const run = () => {
        this.compact().catch((err) => this.report(new Error(`usage rollup compaction failed: ${err instanceof Error ? err.message : String(err)}`)));
      };
      // once a minute after start (a node restarted more often than compactEveryMs still compacts), then every compactEveryMs
      this.firstCompact = setTimeout(run, Math.min(60_000, this.compactEveryMs));
      this.firstCompact.unref();
      this.compactTimer = setInterval(run, this.compactEveryMs);
      this.compactTimer.unref();
    }
  }

  /** Stops the timer and flushes what is left; rejects when that last flush fails. Adds after it are dropped. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    if (this.compactTimer) clearInterval(this.compactTimer);
    this.compactTimer = null;
    if (this.firstCompact) clearTimeout(this.firstCompact);
    this.firstCompact = null;
    this.stopped = true;
    await this.compacting?.catch(() => 0);
    await this.flush();
  }

  private async flushOnce(): Promise<void> {
    if (!this.pending.length) return;
    if (!this.timedListeners.size) return this.writeBuffered();
    const t0 = performance.now();
    let ok = false;
    try {
      await this.writeBuffered();
      ok = true;
    } finally {
      const seconds = (performance.now() - t0) / 1000;
      for (const fn of this.timedListeners) fn(seconds, ok);
    }
  }

  private async writeBuffered(): Promise<void> {
    const batch = this.pending.takeAll();
    let unknownOrgs: string[] = [];
    let unknownEvents = 0;
    try {
      await this.store.db.transaction().execute(async (tx) => {
        const orgIds = [...new Set(batch.map((e) => e.org_id))];
        const known = new Set<string>();
        for (const ids of chunks(orgIds)) {
          for (const r of await tx.selectFrom('organizations').select('id').where('id', 'in', ids).execute()) known.add(r.id);
        }
        unknownOrgs = orgIds.filter((id) => !known.has(id));
        const rows = unknownOrgs.length ? batch.filter((e) => known.has(e.org_id)) : batch;
        unknownEvents = batch.length - rows.length;

        // events first; the rollups count only the rows actually inserted (see the header)
        const inserted = await insertUsageEvents(tx, rows, this.store.sqlite ?? null);
        await yieldToEventLoop();
        const written = inserted.size === rows.length ? rows : rows.filter((e) => inserted.has(e.id));
        // the Usage and Costs APIs count requests that were answered (2xx/3xx) or used something (a
        // stream the client closed after its usage arrived): a refusal or failure without usage is not counted
        await upsertUsageRollups(tx, rollupRows(written.filter(usedSomething), !this.store.sqlite), this.store.sqlite ?? null);
        await yieldToEventLoop();
        await upsertUsageDaily(tx, rollups(written), this.store.sqlite ?? null);
      });
    } catch (err) {
      this.requeue(batch);
      throw err;
    }
    for (const e of batch) this.countCost(e, -1);
    let written: EventRow[] = batch;
    if (unknownOrgs.length) {
      const unknown = new Set(unknownOrgs);
      written = batch.filter((e) => !unknown.has(e.org_id));
    }
    for (const fn of this.flushedListeners) {
      try {
        fn(written);
      } catch (err) {
        this.report(err instanceof Error ? err : new Error(String(err)));
      }
    }
    this.overflowing = false;
    if (unknownEvents) this.drop(unknownEvents, new Error(`${unknownEvents} usage event(s) dropped: no organization ${unknownOrgs.join(', ')}`));
  }

  /** Puts a failed batch back in front, keeping at most maxBuffered (the newest). */
  private requeue(batch: EventRow[]): void {
    this.pending.unshiftAll(batch);
    const over = this.pending.length - this.maxBuffered;
    if (over > 0) this.overflow(over);
  }

  private overflow(n: number): void {
    this.pending.dropFront(n, (e) => this.countCost(e, -1));
    this.droppedTotal += n;
    if (!this.overflowing) {
      this.overflowing = true;
      this.report(new Error(`usage buffer full (${this.maxBuffered} events): dropping the oldest until a flush succeeds`));
    }
  }

  private drop(n: number, err: Error): void {
    this.droppedTotal += n;
    this.report(err);
  }

  private report(err: Error): void {
    try {
      this.onError(err);
    } catch {
      // a failing logger must not reach the request path or the timer
    }
  }

  private normalize(ev: GatewayUsage, problems: string[]): EventRow | null {
    if (!ev || typeof ev !== 'object') {
      problems.push('not an object');
      return null;
    }
    const orgId = requiredText(ev.orgId, 'orgId', problems);
    const model = requiredText(ev.model, 'model', problems);
    if (orgId === null || model === null) return null;
    let at = ev.at;
    if (typeof at !== 'number' || !Number.isFinite(at) || at < 0 || at > 8.64e15) {
      problems.push(`at: ${describe(at)} is not epoch milliseconds, now used`);
      at = this.now();
    }
    at = Math.round(at);
    const status = bounded(ev.status, 'status', 999, problems);
    const cost = count(ev.costNanoUsd, 'costNanoUsd', problems);
    const parts = ev.costParts;
    let costInput = cost;
    let costCached = 0;
    let costOutput = 0;
    if (parts && typeof parts === 'object') {
      costInput = count(parts.input, 'costParts.input', problems);
      costCached = count(parts.cachedInput, 'costParts.cachedInput', problems);
      costOutput = count(parts.output, 'costParts.output', problems);
    }
    return {
      id: newId(ID_PREFIX.usage, at),
      org_id: orgId,
      project_id: text(ev.projectId, 'projectId', problems),
      api_key_id: text(ev.apiKeyId, 'apiKeyId', problems),
      user_id: text(ev.endUser, 'endUser', problems),
      session_id: text(ev.sessionId, 'sessionId', problems),
      model,
      prompt_tokens: count(ev.inputTokens, 'inputTokens', problems),
      completion_tokens: count(ev.outputTokens, 'outputTokens', problems),
      created_at: at,
      key_owner_type: oneOf(ev.keyOwnerType, 'keyOwnerType', OWNER_TYPES, problems) as EventRow['key_owner_type'],
      key_owner_id: text(ev.keyOwnerId, 'keyOwnerId', problems),
      served_model: text(ev.servedModel, 'servedModel', problems),
      provider: text(ev.provider, 'provider', problems),
      credential_source: oneOf(ev.credentialSource, 'credentialSource', CREDENTIAL_SOURCES, problems) as EventRow['credential_source'],
      endpoint: text(ev.endpoint, 'endpoint', problems),
      cached_input_tokens: count(ev.cachedInputTokens, 'cachedInputTokens', problems),
      images: count(ev.images, 'images', problems),
      audio_ms: count(typeof ev.audioSeconds === 'number' ? ev.audioSeconds * 1000 : ev.audioSeconds, 'audioSeconds (ms)', problems),
      audio_bytes: count(ev.audioBytes, 'audioBytes', problems),
      cost_nano_usd: cost,
      status,
      latency_ms: bounded(ev.latencyMs, 'latencyMs', MAX_INT32, problems),
      stream: ev.stream ? 1 : 0,
      service_tier: text(ev.serviceTier, 'serviceTier', problems),
      batch: ev.batch ? 1 : 0,
      characters: ev.characters === undefined ? 0 : count(ev.characters, 'characters', problems),
      cost_input: costInput,
      cost_cached_input: costCached,
      cost_output: costOutput,
      image_size: text(ev.imageSize, 'imageSize', problems),
    };
  }
}

/** The day rollups of `rows`, one per distinct key, in key order (the same lock order on every node). */
function rollups(rows: EventRow[]): UsageDailyRow[] {
  const byKey = new Map<string, UsageDailyRow>();
  const days = new Map<number, string>();
  for (const e of rows) {
    const dayNo = Math.floor(e.created_at / 86_400_000);
    let day = days.get(dayNo);
    if (day === undefined) days.set(dayNo, (day = utcDay(e.created_at)));
    const key = `${e.org_id}\u0001${day}\u0001${e.project_id ?? ''}\u0001${e.user_id ?? ''}\u0001${e.session_id ?? ''}\u0001${e.model}`;
    const error = e.status < 200 || e.status > 299 ? 1 : 0;
    const r = byKey.get(key);
    if (r) {
      r.requests += 1;
      r.prompt_tokens += e.prompt_tokens;
      r.completion_tokens += e.completion_tokens;
      r.cached_input_tokens += e.cached_input_tokens;
      r.cost_nano_usd += e.cost_nano_usd;
      r.errors += error;
    } else {
      byKey.set(key, {
        org_id: e.org_id,
        day,
        project_id: e.project_id ?? '',
        user_id: e.user_id ?? '',
        session_id: e.session_id ?? '',
        model: e.model,
        requests: 1,
        prompt_tokens: e.prompt_tokens,
        completion_tokens: e.completion_tokens,
        cached_input_tokens: e.cached_input_tokens,
        cost_nano_usd: e.cost_nano_usd,
        errors: error,
      });
    }
  }
  return [...byKey.keys()].sort().map((k) => byKey.get(k)!);
}

/** Whether an event counts in the Usage and Costs APIs. */
function usedSomething(e: EventRow): boolean {
  return (e.status >= 200 && e.status < 400) || e.prompt_tokens + e.completion_tokens + e.images + e.characters + e.audio_ms + e.cost_nano_usd > 0;
}

function chunks<T>(xs: T[]): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < xs.length; i += CHUNK) out.push(xs.slice(i, i + CHUNK));
  return out;
}

function describe(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);
  if (typeof v === 'number' || typeof v === 'boolean' || v === null || v === undefined) return String(v);
  return typeof v;
}

/** A non-negative integer counter, at most MAX_COUNT; fractions rounded. */
function count(v: unknown, field: string, problems: string[]): number {
  return bounded(v, field, MAX_COUNT, problems);
}

function bounded(v: unknown, field: string, max: number, problems: string[]): number {
  if (typeof v !== 'number' || Number.isNaN(v) || v < 0) {
    problems.push(`${field}: ${describe(v)} is not a non-negative number, 0 used`);
    return 0;
  }
  if (v > max) {
    problems.push(`${field}: ${describe(v)} is above ${max}, ${max} used`);
    return max;
  }
  return Math.round(v);
}

/** Text as stored: NUL removed (PostgreSQL refuses it), at most 255 characters; '' or absent is null. */
function text(v: unknown, field: string, problems: string[]): string | null {
  if (v === undefined || v === null) return null;
  if (typeof v !== 'string') {
    problems.push(`${field}: ${describe(v)} is not text, null used`);
    return null;
  }
  let s = v.includes('\u0000') ? v.replaceAll('\u0000', '') : v;
  if (s.length > MAX_TEXT) {
    problems.push(`${field}: ${s.length} characters, cut to ${MAX_TEXT}`);
    s = s.slice(0, MAX_TEXT);
    // do not leave half of a surrogate pair behind
    if (/[\uD800-\uDBFF]$/.test(s)) s = s.slice(0, -1);
  }
  return s === '' ? null : s;
}

function requiredText(v: unknown, field: string, problems: string[]): string | null {
  const s = text(v, field, problems);
  if (s === null) problems.push(`${field} is required`);
  return s;
}

function oneOf(v: unknown, field: string, allowed: Set<string>, problems: string[]): string | null {
  if (v === undefined || v === null) return null;
  if (typeof v === 'string' && allowed.has(v)) return v;
  problems.push(`${field}: ${describe(v)} is not one of ${[...allowed].join(', ')}, null used`);
  return null;
}
