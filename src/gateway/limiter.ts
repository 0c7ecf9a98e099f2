// The gateway's rate limiter: per bucket (a project × model, opaque here) limits on requests per
// minute, tokens per minute, requests per day, images per minute and audio megabytes per minute.
//
// Algorithm — continuous replenishment (a token bucket, the same thing as GCRA seen from the other
// side), which is how OpenAI describes its own limits ("rate limits can be applied over shorter
// periods — 1 request per second for a 60 RPM limit"; x-ratelimit-reset-* is "the time until the
// rate limit resets to its initial state"):
//   - every limit is a bucket of capacity `limit` that refills linearly at `limit / window`
//     (window = 60 s, or 24 h for requests per day); a full bucket stays full;
//   - per limit we keep only `used` (capacity taken, may exceed `limit` = debt) and `at` (when `used`
//     was last brought up to date): O(1) state, O(1) work, no timers;
//   - `reserve` takes 1 request (per minute and per day), the token estimate, the images and the
//     audio megabytes, all or nothing: when any limit lacks room, nothing is taken and the refusal
//     names the binding limit (the one that needs the longest wait, since all must fit);
//   - a cost larger than a limit's whole capacity can never fit: refused at once with
//     `tooLarge: true` (OpenAI's "Request too large … on tokens per min (TPM)"), not to be retried;
//   - tokens are reserved before the upstream call (an estimate — ideally prompt + max output
//     tokens, an upper bound) and reconciled by `settle`: a refund when fewer were used, a charge
//     when more, which may leave `used` above `limit` — debt that refuses later requests until it
//     has replenished. Concurrent requests therefore never admit more than the capacity at one
//     instant; what goes over comes only from estimates that were too low, and is paid back;
//   - a limit changed between requests applies on the next `reserve`: the elapsed time replenishes
//     at the old rate, then capacity already used carries over (remaining = new limit − used, never
//     below 0 — a lowered limit creates no debt; debt from real usage is kept), refill at the new rate.
// Memory: buckets sit in an intrusive LRU list (no allocation per touch); each `reserve` drops up
// to two least-recently-used buckets that are fully replenished (forgetting them changes nothing),
// and `maxBuckets` caps the count by evicting the least recently used bucket even when it is not
// idle (that forgives its usage — size the cap above the number of active buckets).
// The `Limiter` interface admits promises: `MemoryLimiter` answers synchronously, the shared
// `RedisLimiter` (redis-limiter.ts) runs the same arithmetic in a Lua script and builds its refusals
// and states with the functions exported here (`limitsOf`, `costsOf`, `refusalOf`, `stateOf`).
import type { RateLimitInfo } from '../domain/errors.ts';

export interface LimitSet {
  requestsPerMinute?: number;
  tokensPerMinute?: number;
  requestsPerDay?: number;
  imagesPerMinute?: number;
  audioMegabytesPerMinute?: number;
}

export interface ReserveInput {
  /** The bucket key, e.g. `${projectId}\u0000${model}`. */
  bucket: string;
  limits: LimitSet;
  /** Estimated tokens of the request (≥ 0). */
  tokens: number;
  images?: number;
  audioBytes?: number;
  /** Epoch milliseconds. */
  now: number;
}

export interface WindowState {
  limit: number;
  /** Whole units left now (never negative; 0 while in debt). */
  remaining: number;
  /** Milliseconds until fully replenished (OpenAI's x-ratelimit-reset-*). */
  resetMs: number;
}

export interface LimitState {
  /** The per-minute request limit. */
  requests?: WindowState;
  /** The per-minute token limit. */
  tokens?: WindowState;
  requestsPerDay?: WindowState;
  images?: WindowState;
  audioMegabytes?: WindowState;
}

export interface Reservation {
  readonly bucket: string;
  readonly tokens: number;
}

/** A refusal: what `rateLimited()` needs, plus the exact wait and a ready OpenAI-style message. */
export interface RateLimitRefusal extends RateLimitInfo {
  /** Exact wait in milliseconds (the `retry-after-ms` header), ≥ 1. */
  readonly retryAfterMs: number;
  /** What this request asked of the failing limit (1 request, the token estimate, images, MB). */
  readonly requested: number;
  /** The request exceeds the limit's whole capacity: it can never pass, retrying does not help. */
  readonly tooLarge: boolean;
  /** In OpenAI's words, without model or organization (the gateway may write its own). */
  readonly message: string;
}

export type ReserveResult =
  | { ok: true; reservation: Reservation; state: LimitState }
  | { ok: false; refused: RateLimitRefusal; state: LimitState };

export interface Limiter {
  reserve(input: ReserveInput): ReserveResult | Promise<ReserveResult>;
  /** Reconcile a reservation with the actual tokens used (refund or charge the difference); `actualTokens` undefined = keep the estimate. */
  settle(reservation: Reservation, actualTokens: number | undefined, now: number): void | Promise<void>;
  /** Release a reservation entirely for a request that never reached the upstream or failed before any token (refund tokens; the request still counts). */
  cancel?(reservation: Reservation, now: number): void | Promise<void>;
}

/** Bytes in one "audio megabyte" (decimal, SI). */
export const AUDIO_BYTES_PER_MEGABYTE = 1_000_000;

const MINUTE = 60_000;
const DAY = 86_400_000;

// The five limits, by index into `Entry.dims` (and into the arrays of `limitsOf` and `costsOf`).
export const RPM = 0;
export const TPM = 1;
export const RPD = 2;
export const IPM = 3;
export const APM = 4;
const N = 5;
/** Each limit's window in milliseconds, by index. */
export const WINDOWS = [MINUTE, MINUTE, DAY, MINUTE, MINUTE] as const;
const NAMES = ['requests_per_minute', 'tokens_per_minute', 'requests_per_day', 'images_per_minute', 'audio_megabytes_per_minute'] as const;
const LABELS = ['requests per min (RPM)', 'tokens per min (TPM)', 'requests per day (RPD)', 'images per min (IPM)', 'audio megabytes per min'] as const;
const UNITS = ['requests', 'input or output tokens', 'requests', 'images', 'audio megabytes'] as const;

/** Float slack for comparisons (replenishment arithmetic is in floating point). */
const eps = (limit: number) => 1e-9 + limit * 1e-12;

/** What the state and refusal builders read of a limit: its size, window and capacity taken. */
export interface DimView {
  readonly limit: number;
  readonly windowMs: number;
  readonly used: number;
}

class Dim {
  constructor(
    public limit: number,
    readonly windowMs: number,
    /** Capacity taken as of `at` (may exceed `limit`: debt). */
    public used: number,
    public at: number,
  ) {}
}

class Entry {
  readonly dims: (Dim | undefined)[] = [undefined, undefined, undefined, undefined, undefined];
  prev: Entry | null = null;
  next: Entry | null = null;
  constructor(readonly key: string) {}
}

class MemoryReservation implements Reservation {
  done = false;
  constructor(
    readonly bucket: string,
    readonly tokens: number,
    readonly images: number,
    readonly audioMegabytes: number,
    /** The token limit when reserved: recreates the bucket if it was evicted before a charge. */
    readonly tokensLimit: number | undefined,
  ) {}
}

/** Bring a limit's `used` up to `now` (replenish). Never moves `at` backwards. */
function advance(d: Dim, now: number): void {
  if (now <= d.at) return;
  if (d.used > 0 && d.limit > 0) {
    d.used -= ((now - d.at) * d.limit) / d.windowMs;
    if (d.used < eps(d.limit)) d.used = 0;
  }
  d.at = now;
}

/** Milliseconds until `used` has come down to `target` (0 if already). */
function msUntil(d: DimView, target: number): number {
  const excess = d.used - target;
  if (excess <= eps(d.limit)) return 0;
  if (d.limit <= 0) return d.windowMs; // nothing replenishes a zero limit; any finite answer will do
  return (excess * d.windowMs) / d.limit;
}

function windowState(d: DimView): WindowState {
  const left = d.limit - d.used;
  return { limit: d.limit, remaining: left > 0 ? Math.floor(left + eps(d.limit)) : 0, resetMs: Math.ceil(msUntil(d, 0)) };
}

function validLimit(v: number | undefined, name: string): number | undefined {
  if (v === undefined || v === Infinity) return undefined;
  if (!(v >= 0)) throw new RangeError(`limit ${name} must be a number ≥ 0, got ${v}`);
  return v;
}

function fmt(n: number): string {
  return Number.isInteger(n) ? String(n) : String(Math.round(n * 1000) / 1000);
}

/** The five limits of a set, validated, by index (undefined: no such limit). */
export function limitsOf(limits: LimitSet, out: (number | undefined)[] = [undefined, undefined, undefined, undefined, undefined]): (number | undefined)[] {
  out[RPM] = validLimit(limits.requestsPerMinute, 'requestsPerMinute');
  out[TPM] = validLimit(limits.tokensPerMinute, 'tokensPerMinute');
  out[RPD] = validLimit(limits.requestsPerDay, 'requestsPerDay');
  out[IPM] = validLimit(limits.imagesPerMinute, 'imagesPerMinute');
  out[APM] = validLimit(limits.audioMegabytesPerMinute, 'audioMegabytesPerMinute');
  return out;
}

/** What a request takes of each limit, validated, by index: 1 request (minute and day), tokens, images, audio MB. */
export function costsOf(input: Pick<ReserveInput, 'tokens' | 'images' | 'audioBytes'>, out: Float64Array = new Float64Array(N)): Float64Array {
  out[RPM] = 1;
  out[TPM] = validAmount(input.tokens, 'tokens');
  out[RPD] = 1;
  out[IPM] = validAmount(input.images ?? 0, 'images');
  out[APM] = validAmount(input.audioBytes ?? 0, 'audioBytes') / AUDIO_BYTES_PER_MEGABYTE;
  return out;
}

/** A checked amount (actual tokens of a settlement): finite and ≥ 0, else a RangeError. */
export function validAmount(v: number, name: string): number {
  if (!(v >= 0) || v === Infinity) throw new RangeError(`${name} must be a finite number ≥ 0, got ${v}`);
  return v;
}

/**
 * The refusal for limit `i` (already brought up to date in `d`): `waitMs` is the exact wait until the
 * request fits (or until fully replenished when `tooLarge`), `now` the caller's clock for `resetAt`.
 */
export function refusalOf(i: number, d: DimView, requested: number, waitMs: number, tooLarge: boolean, now: number): RateLimitRefusal {
  const retryAfterMs = Math.max(1, Math.ceil(waitMs));
  const label = LABELS[i]!;
  const message = tooLarge
    ? `Request too large on ${label}: Limit ${fmt(d.limit)}, Requested ${fmt(requested)}. The ${UNITS[i]} must be reduced in order to run successfully.`
    : `Rate limit reached on ${label}: Limit ${fmt(d.limit)}, Used ${fmt(Math.max(0, Math.ceil(d.used - eps(d.limit))))}, Requested ${fmt(requested)}. Please try again in ${openaiDuration(retryAfterMs)}.`;
  const remaining = d.limit - d.used;
  return {
    limitName: NAMES[i]!,
    limit: d.limit,
    remaining: remaining > 0 ? Math.floor(remaining + eps(d.limit)) : 0,
    resetAt: now + retryAfterMs,
    retryAfterSeconds: Math.max(1, Math.ceil(retryAfterMs / 1000)),
    retryAfterMs,
    requested,
    tooLarge,
    message,
  };
}

export class MemoryLimiter implements Limiter {
  readonly maxBuckets: number;
  private readonly map = new Map<string, Entry>();
  private head: Entry | null = null; // least recently used
  private tail: Entry | null = null; // most recently used
  private readonly costs = new Float64Array(N);
  private readonly limits: (number | undefined)[] = [undefined, undefined, undefined, undefined, undefined];

  constructor(opts: { maxBuckets?: number } = {}) {
    const max = opts.maxBuckets ?? 100_000;
    if (!Number.isInteger(max) || max < 1) throw new RangeError(`maxBuckets must be an integer ≥ 1, got ${max}`);
    this.maxBuckets = max;
  }

  /** How many buckets are held. */
  get size(): number {
    return this.map.size;
  }

  /** Whether a bucket is held (for tests and diagnostics). */
  has(bucket: string): boolean {
    return this.map.has(bucket);
  }

  reserve(input: ReserveInput): ReserveResult {
    const { bucket, limits, now } = input;
    const cost = costsOf(input, this.costs);
    if (!Number.isFinite(now)) throw new RangeError(`now must be a finite epoch ms, got ${now}`);
    const lim = limitsOf(limits, this.limits);

    this.sweep(now, bucket);
    let e = this.map.get(bucket);
    if (e) this.touch(e);
    else e = this.insert(bucket);

    // Bring every limit up to date (replenish, apply changed limits) and find the binding refusal.
    let failed = -1;
    let failedWait = 0;
    let failedTooLarge = false;
    for (let i = 0; i < N; i++) {
      const limit = lim[i];
      let d = e.dims[i];
      if (limit === undefined) {
        e.dims[i] = undefined;
        continue;
      }
      if (!d) {
        d = e.dims[i] = new Dim(limit, WINDOWS[i]!, 0, now);
      } else {
        advance(d, now);
        if (d.limit !== limit) rescale(d, limit);
      }
      const c = cost[i]!;
      if (d.used + c <= d.limit + eps(d.limit)) continue;
      const tooLarge = c > d.limit + eps(d.limit);
      const wait = tooLarge ? Math.max(msUntil(d, 0), 1) : msUntil(d, d.limit - c);
      if (failed < 0 || (tooLarge && !failedTooLarge) || (tooLarge === failedTooLarge && wait > failedWait)) {
        failed = i;
        failedWait = wait;
        failedTooLarge = tooLarge;
      }
    }

    if (failed >= 0) {
      return { ok: false, refused: refusalOf(failed, e.dims[failed]!, cost[failed]!, failedWait, failedTooLarge, now), state: stateOf(e.dims) };
    }

    for (let i = 0; i < N; i++) {
      const d = e.dims[i];
      if (d) d.used += cost[i]!;
    }
    const reservation = new MemoryReservation(bucket, cost[TPM]!, cost[IPM]!, cost[APM]!, lim[TPM]);
    return { ok: true, reservation, state: stateOf(e.dims) };
  }

  settle(reservation: Reservation, actualTokens: number | undefined, now: number): void {
    const r = own(reservation);
    if (r.done) return;
    r.done = true;
    if (actualTokens === undefined) return;
    const diff = validAmount(actualTokens, 'actualTokens') - r.tokens;
    if (diff === 0) return;
    let e = this.map.get(r.bucket);
    if (!e) {
      // Forgotten meanwhile (idle or LRU-evicted): a refund is moot, a charge recreates the bucket.
      if (diff < 0 || r.tokensLimit === undefined) return;
      e = this.insert(r.bucket);
      e.dims[TPM] = new Dim(r.tokensLimit, MINUTE, 0, now);
    } else this.touch(e);
    const d = e.dims[TPM];
    if (!d) return; // the token limit was removed since
    advance(d, now);
    d.used += diff;
    if (d.used < 0) d.used = 0;
  }

  cancel(reservation: Reservation, now: number): void {
    const r = own(reservation);
    if (r.done) return;
    r.done = true;
    const e = this.map.get(r.bucket);
    if (!e) return;
    refund(e.dims[TPM], r.tokens, now);
    refund(e.dims[IPM], r.images, now);
    refund(e.dims[APM], r.audioMegabytes, now);
  }

  // — the LRU list —

  private insert(key: string): Entry {
    const e = new Entry(key);
    this.map.set(key, e);
    e.prev = this.tail;
    if (this.tail) this.tail.next = e;
    else this.head = e;
    this.tail = e;
    while (this.map.size > this.maxBuckets && this.head && this.head !== e) this.remove(this.head);
    return e;
  }

  private touch(e: Entry): void {
    if (this.tail === e) return;
    // unlink (e is not the tail, so e.next exists)
    if (e.prev) e.prev.next = e.next;
    else this.head = e.next;
    e.next!.prev = e.prev;
    // append
    e.prev = this.tail;
    e.next = null;
    this.tail!.next = e;
    this.tail = e;
  }

  private remove(e: Entry): void {
    this.map.delete(e.key);
    if (e.prev) e.prev.next = e.next;
    else this.head = e.next;
    if (e.next) e.next.prev = e.prev;
    else this.tail = e.prev;
    e.prev = e.next = null;
  }

  /** Drop up to two least-recently-used buckets that are fully replenished at `now`. */
  private sweep(now: number, keep: string): void {
    for (let n = 0; n < 2; n++) {
      const h = this.head;
      if (!h || h.key === keep || !idle(h, now)) return;
      this.remove(h);
    }
  }
}

function own(r: Reservation): MemoryReservation {
  if (!(r instanceof MemoryReservation)) throw new TypeError('not a reservation of this limiter');
  return r;
}

function refund(d: Dim | undefined, amount: number, now: number): void {
  if (!d || amount === 0) return;
  advance(d, now);
  d.used -= amount;
  if (d.used < 0) d.used = 0;
}

/** Apply a new limit to an up-to-date Dim: used capacity carries over; no new debt, old debt kept. */
function rescale(d: Dim, limit: number): void {
  const remaining = d.limit - d.used;
  const next = Math.max(Math.min(remaining, 0), limit - d.used);
  d.used = limit === 0 ? 0 : limit - next;
  d.limit = limit;
}

function idle(e: Entry, now: number): boolean {
  for (let i = 0; i < N; i++) {
    const d = e.dims[i];
    if (!d || d.used === 0) continue;
    if (d.limit <= 0) return false;
    const elapsed = now > d.at ? now - d.at : 0;
    if (d.used - (elapsed * d.limit) / d.windowMs > eps(d.limit)) return false;
  }
  return true;
}

/** The headers' view of a bucket's limits (by index, undefined: no such limit), as they are now. */
export function stateOf(dims: readonly (DimView | undefined)[]): LimitState {
  const s: LimitState = {};
  const [rpm, tpm, rpd, ipm, apm] = dims;
  if (rpm) s.requests = windowState(rpm);
  if (tpm) s.tokens = windowState(tpm);
  if (rpd) s.requestsPerDay = windowState(rpd);
  if (ipm) s.images = windowState(ipm);
  if (apm) s.audioMegabytes = windowState(apm);
  return s;
}

/** OpenAI's x-ratelimit-* headers for the per-minute request and token limits that exist. */
export function rateLimitHeaders(state: LimitState): Record<string, string> {
  const h: Record<string, string> = {};
  const { requests, tokens } = state;
  if (requests) {
    h['x-ratelimit-limit-requests'] = fmt(requests.limit);
    h['x-ratelimit-remaining-requests'] = String(Math.max(0, Math.floor(requests.remaining)));
    h['x-ratelimit-reset-requests'] = openaiDuration(requests.resetMs);
  }
  if (tokens) {
    h['x-ratelimit-limit-tokens'] = fmt(tokens.limit);
    h['x-ratelimit-remaining-tokens'] = String(Math.max(0, Math.floor(tokens.remaining)));
    h['x-ratelimit-reset-tokens'] = openaiDuration(tokens.resetMs);
  }
  return h;
}

/**
 * A duration the way OpenAI writes x-ratelimit-reset-* and "Please try again in …": Go's
 * `time.Duration.String()` format. Sources: OpenAI's rate-limits guide ("Rate limits in headers":
 * sample values `1s` for x-ratelimit-reset-requests and `6m0s` for x-ratelimit-reset-tokens, seen
 * in a mirror of guides/rate-limits.md), real responses quoted on community.openai.com
 * (`x-ratelimit-reset-requests: 12ms`, `x-ratelimit-reset-tokens: 9ms`) and OpenAI 429 messages
 * ("Please try again in 41.724s"). So: under a second, whole milliseconds (`20ms`); from a second,
 * `[Nh][Nm]N[.fff]s` with the fraction's trailing zeros trimmed and the smaller units written once
 * a larger one is (`59.5s`, `6m0s`, `1h0m0s`, `1h2m3s`); zero is `0s`. Resolution is 1 ms (rounded
 * up, so a wait is never understated).
 */
export function openaiDuration(ms: number): string {
  if (!(ms > 0)) return '0s';
  const total = Math.ceil(ms);
  if (total < 1000) return `${total}ms`;
  const frac = total % 1000;
  const secs = Math.floor(total / 1000);
  const s = secs % 60;
  const m = Math.floor(secs / 60) % 60;
  const h = Math.floor(secs / 3600);
  const sec = frac === 0 ? `${s}s` : `${s}.${String(frac).padStart(3, '0').replace(/0+$/, '')}s`;
  if (h > 0) return `${h}h${m}m${sec}`;
  if (m > 0) return `${m}m${sec}`;
  return sec;
}
