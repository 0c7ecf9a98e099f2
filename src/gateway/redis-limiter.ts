// The gateway's shared rate limiter: the same limits, arithmetic and answers as `MemoryLimiter`
// (limiter.ts — read its header), with the state in Redis so every keyplane node draws on one bucket.
//
// Storage: one Redis hash per bucket (project × model), `<prefix>:v1:rl:{<projectId>}:<model>`, with
// three fields per limit i (0 requests/min, 1 tokens/min, 2 requests/day, 3 images/min, 4 audio
// MB/min): `l<i>` the limit, `u<i>` the capacity used (may exceed the limit: debt), `a<i>` when `u`
// was last brought up to date (epoch ms). Numbers are written with 17 significant digits, so the
// script's doubles are exactly the ones MemoryLimiter would hold. The project id is the hash tag:
// all of a project's buckets live in one cluster slot. Each key expires when every limit in it has
// replenished, plus a minute (`TTL_MARGIN_MS`): an expired bucket is a full one, so expiry changes
// nothing but memory.
//
// Scripts: `reserve` brings every limit of the bucket up to date (replenishes, applies changed or
// removed limits), and either takes the request's cost from all of them or from none; `adjust`
// refunds or charges the difference once the usage is known (settle: tokens; cancel: tokens, images,
// audio). Each is one atomic EVALSHA (ioredis `defineCommand`, which falls back to EVAL after a
// Redis restart). Both read the time with `redis.call('TIME')`: every node uses Redis' clock, never
// its own. The reserve's `now` is used only to express `resetAt` on the caller's clock
// (`now + retryAfterMs`, the wait being measured in Redis time); settle's and cancel's are ignored.
// (`clock: 'caller'` makes the scripts use the `now` given instead — for tests, which need to move
// time by hand; never in production.)
//
// Versions: the layout of the stored state and the scripts' semantics carry a version, `v1`, in the
// key names and in the script (command) names. A release that changes either bumps it, so nodes of
// two releases can run side by side during a rolling upgrade without misreading each other's state
// (each release then keeps its own buckets until the old nodes are gone).
//
// When Redis fails (not connected, an error, no answer within `commandTimeoutMs`) requests are
// neither lost nor unlimited: the limiter switches to an in-memory `MemoryLimiter` in which each
// limit is this node's share — the limit divided by the number of live nodes, known from a
// heartbeat (`<prefix>:v1:nodes`, a sorted set of node id → last seen in Redis time; live = seen
// in the last `NODE_TTL_MS`), as it was when Redis was last reachable. The client never queues
// commands while disconnected and never retries one, so the request path waits at most
// `commandTimeoutMs` on a dead Redis, and only until the failure is noticed: from then on requests
// go straight to memory, while a probe (PING every second) and ioredis' reconnection bring the
// shared limits back. Entering and leaving this degraded mode is logged once each. Reservations made
// in Redis whose settlement fails are left at their estimate (refused or lost settlements only ever
// over-count).
import os from 'node:os';
import { randomBytes } from 'node:crypto';
import type { Redis, Cluster } from 'ioredis';
import { loadLazily } from '../lazy.ts';
import {
  MemoryLimiter,
  costsOf,
  limitsOf,
  refusalOf,
  stateOf,
  validAmount,
  WINDOWS,
  TPM,
  IPM,
  APM,
  type DimView,
  type LimitSet,
  type Limiter,
  type Reservation,
  type ReserveInput,
  type ReserveResult,
} from './limiter.ts';

/** The version of the stored layout and of the scripts: in every key and script name. */
export const REDIS_LIMITER_VERSION = 'v1';
/** How long a bucket outlives its full replenishment. */
export const TTL_MARGIN_MS = 60_000;
/** A node is live while its heartbeat is younger than this. */
export const NODE_TTL_MS = 10_000;
const HEARTBEAT_MS = 3_000;
const PROBE_MS = 1_000;

const PRELUDE = `-- keyplane rate limiter ${REDIS_LIMITER_VERSION}
local W = {60000, 60000, 86400000, 60000, 60000}
local function eps(l) return 1e-9 + l * 1e-12 end
local function num(x) return string.format('%.17g', x) end
local function clock(arg)
  local now = tonumber(arg)
  if now then return now end
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
-- replenish used from at to now at the limit's rate; at never moves backwards
local function advance(l, u, a, now, w)
  if now <= a then return u, a end
  if u > 0 and l > 0 then
    u = u - ((now - a) * l) / w
    if u < eps(l) then u = 0 end
  end
  return u, now
end
-- keep the key until every limit in it has replenished, plus the margin
local function expire(key, L, U, margin)
  local ms = 0
  for i = 1, 5 do
    if L[i] then
      local t = 0
      if U[i] > 0 then
        if L[i] > 0 then t = math.ceil(U[i] * W[i] / L[i]) else t = W[i] end
      end
      if t > ms then ms = t end
    end
  end
  redis.call('PEXPIRE', key, ms + margin)
end
local FIELDS = {'l0','u0','a0','l1','u1','a1','l2','u2','a2','l3','u3','a3','l4','u4','a4'}
`;

/**
 * KEYS[1] the bucket; ARGV[1] now ('' = Redis time), ARGV[2..6] the limits ('' = none),
 * ARGV[7..11] the costs, ARGV[12] the TTL margin. Returns {ok, failed (1-5, 0 = none), wait,
 * tooLarge, then limit and used of each limit ('' = none)}, numbers as strings.
 */
const RESERVE_LUA = `${PRELUDE}
local key = KEYS[1]
local now = clock(ARGV[1])
local margin = tonumber(ARGV[12])
local s = redis.call('HMGET', key, unpack(FIELDS))
local L, U, A = {}, {}, {}
local failed, fwait, ftoo = 0, 0, false
local dels, any = {}, false
for i = 1, 5 do
  local limit = tonumber(ARGV[1 + i])
  local sl = tonumber(s[3 * i - 2])
  if not limit then
    if sl then
      dels[#dels + 1] = FIELDS[3 * i - 2]; dels[#dels + 1] = FIELDS[3 * i - 1]; dels[#dels + 1] = FIELDS[3 * i]
    end
  else
    any = true
    local l, u, a = limit, 0, now
    if sl then
      l = sl
      u, a = advance(sl, tonumber(s[3 * i - 1]), tonumber(s[3 * i]), now, W[i])
      if l ~= limit then
        -- used capacity carries over: no new debt from a lowered limit, old debt kept
        local nxt = math.max(math.min(l - u, 0), limit - u)
        if limit == 0 then u = 0 else u = limit - nxt end
        l = limit
      end
    end
    L[i], U[i], A[i] = l, u, a
    local c = tonumber(ARGV[6 + i])
    if u + c > l + eps(l) then
      local too = c > l + eps(l)
      local target = 0
      if not too then target = l - c end
      local wait = 0
      local excess = u - target
      if excess > eps(l) then
        if l <= 0 then wait = W[i] else wait = (excess * W[i]) / l end
      end
      if too and wait < 1 then wait = 1 end
      if failed == 0 or (too and not ftoo) or (too == ftoo and wait > fwait) then
        failed, fwait, ftoo = i, wait, too
      end
    end
  end
end
if failed == 0 then
  for i = 1, 5 do
    if L[i] then U[i] = U[i] + tonumber(ARGV[6 + i]) end
  end
end
if not any then
  redis.call('DEL', key)
else
  local set = {}
  for i = 1, 5 do
    if L[i] then
      set[#set + 1] = FIELDS[3 * i - 2]; set[#set + 1] = num(L[i])
      set[#set + 1] = FIELDS[3 * i - 1]; set[#set + 1] = num(U[i])
      set[#set + 1] = FIELDS[3 * i]; set[#set + 1] = num(A[i])
    end
  end
  redis.call('HSET', key, unpack(set))
  if #dels > 0 then redis.call('HDEL', key, unpack(dels)) end
  expire(key, L, U, margin)
end
local out = {failed == 0 and 1 or 0, failed, num(fwait), ftoo and 1 or 0}
for i = 1, 5 do
  if L[i] then out[#out + 1] = num(L[i]); out[#out + 1] = num(U[i]) else out[#out + 1] = ''; out[#out + 1] = '' end
end
return out
`;

/**
 * KEYS[1] the bucket; ARGV[1] now ('' = Redis time), ARGV[2] the TTL margin, ARGV[3..5] the change
 * to tokens, images and audio MB (negative: a refund), ARGV[6] the token limit to recreate a
 * forgotten bucket with for a charge ('' = do not). Returns 1 when something changed.
 */
const ADJUST_LUA = `${PRELUDE}
local key = KEYS[1]
local now = clock(ARGV[1])
local margin = tonumber(ARGV[2])
local delta = {0, tonumber(ARGV[3]), 0, tonumber(ARGV[4]), tonumber(ARGV[5])}
if redis.call('EXISTS', key) == 0 then
  local recreate = tonumber(ARGV[6])
  if not recreate or delta[2] <= 0 then return 0 end
  redis.call('HSET', key, 'l1', num(recreate), 'u1', '0', 'a1', num(now))
end
local s = redis.call('HMGET', key, unpack(FIELDS))
local L, U = {}, {}
local set = {}
for i = 1, 5 do
  local l = tonumber(s[3 * i - 2])
  if l then
    local u, a = tonumber(s[3 * i - 1]), tonumber(s[3 * i])
    if delta[i] ~= 0 then
      u, a = advance(l, u, a, now, W[i])
      u = u + delta[i]
      if u < 0 then u = 0 end
      set[#set + 1] = FIELDS[3 * i - 1]; set[#set + 1] = num(u)
      set[#set + 1] = FIELDS[3 * i]; set[#set + 1] = num(a)
    end
    L[i], U[i] = l, u
  end
end
if #set == 0 then return 0 end
redis.call('HSET', key, unpack(set))
expire(key, L, U, margin)
return 1
`;

/** KEYS[1] the node set; ARGV[1] this node, ARGV[2] how long a node stays live. Returns the live count. */
const HEARTBEAT_LUA = `-- keyplane node heartbeat ${REDIS_LIMITER_VERSION}
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[2])
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - ttl)
redis.call('PEXPIRE', KEYS[1], ttl * 3)
return redis.call('ZCARD', KEYS[1])
`;

const CMD_RESERVE = `keyplaneRateReserve_${REDIS_LIMITER_VERSION}`;
const CMD_ADJUST = `keyplaneRateAdjust_${REDIS_LIMITER_VERSION}`;
const CMD_HEARTBEAT = `keyplaneNodeHeartbeat_${REDIS_LIMITER_VERSION}`;

type Client = Redis | Cluster;
type Scripted = Record<string, (...args: (string | number)[]) => Promise<unknown>>;

export interface LimiterLog {
  warn(msg: string): void;
  info(msg: string): void;
}

export interface RedisLimiterOptions {
  /** redis:// or rediss:// URL; ignored when `client` is given. */
  url?: string;
  /** A client to use instead (a Cluster, or a test's); the limiter defines its scripts on it but does not close it. */
  client?: Client;
  /** First part of every key (default `kp`), e.g. to share one Redis between deployments or tests. */
  prefix?: string;
  /** `redis` (default): the scripts read Redis' clock. `caller`: they use the `now` given — tests only. */
  clock?: 'redis' | 'caller';
  /**
   * Longest wait for one Redis command on the request path (default 1000 ms: long enough that a busy
   * event loop, whose timers run before its socket reads, does not mistake itself for a stalled Redis).
   */
  commandTimeoutMs?: number;
  /** Live nodes assumed until a heartbeat has counted them (default 1). */
  nodes?: number;
  /** This node's id in the heartbeat set (default host, pid and a random suffix). */
  nodeId?: string;
  /** Heartbeat period (default 3 s; 0: no heartbeat, the node count stays `nodes`). */
  heartbeatMs?: number;
  log?: LimiterLog;
}

class RedisReservation implements Reservation {
  done = false;
  constructor(
    readonly bucket: string,
    readonly tokens: number,
    /** The Redis key, or null when the reservation was made in memory (degraded) or no limit applied. */
    readonly key: string | null,
    readonly images: number,
    readonly audioMegabytes: number,
    readonly tokensLimit: number | undefined,
    /** The in-memory reservation when Redis was unusable. */
    readonly local: Reservation | null,
  ) {}
}

function own(r: Reservation): RedisReservation {
  if (!(r instanceof RedisReservation)) throw new TypeError('not a reservation of this limiter');
  return r;
}

/** One node's share of a limit among `nodes`: whole units when there are enough of them, never 0 for a nonzero limit. */
export function shareOf(limit: number | undefined, nodes: number): number | undefined {
  if (limit === undefined || nodes <= 1) return limit;
  const s = limit / nodes;
  return s >= 1 ? Math.floor(s) : Math.min(limit, 1);
}

export class RedisLimiter implements Limiter {
  readonly client: Client;
  readonly prefix: string;
  readonly nodeId: string;
  private readonly owns: boolean;
  private readonly callerClock: boolean;
  private readonly log: LimiterLog | undefined;
  private readonly cmd: Scripted;
  /** Live nodes, from the last heartbeat. */
  private nodes: number;
  /** A command failed or timed out since Redis was last known good. */
  private failing = false;
  private degraded = false;
  private fallback = new MemoryLimiter();
  private heartbeatTimer: NodeJS.Timeout | null = null;
  private probeTimer: NodeJS.Timeout | null = null;
  private lastError = '';
  private closed = false;

  constructor(opts: RedisLimiterOptions) {
    this.prefix = opts.prefix ?? 'kp';
    this.callerClock = opts.clock === 'caller';
    this.log = opts.log;
    this.nodes = Math.max(1, Math.floor(opts.nodes ?? 1));
    this.nodeId = opts.nodeId ?? `${os.hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
    const timeout = opts.commandTimeoutMs ?? 1000;
    if (opts.client) {
      this.client = opts.client;
      this.owns = false;
    } else {
      if (!opts.url) throw new TypeError('RedisLimiter needs a url or a client');
      const { Redis: RedisClient } = loadLazily<typeof import('ioredis')>('ioredis'); // only with REDIS_URL
      this.client = new RedisClient(opts.url, {
        // never queue a command while disconnected, never retry one: a failing command falls back at once
        enableOfflineQueue: false,
        maxRetriesPerRequest: 0,
        commandTimeout: timeout,
        connectTimeout: 2_000,
        retryStrategy: (times) => Math.min(times * 100, 2_000),
        connectionName: `keyplane-limiter`,
      });
      this.owns = true;
    }
    this.client.defineCommand(CMD_RESERVE, { numberOfKeys: 1, lua: RESERVE_LUA });
    this.client.defineCommand(CMD_ADJUST, { numberOfKeys: 1, lua: ADJUST_LUA });
    this.client.defineCommand(CMD_HEARTBEAT, { numberOfKeys: 1, lua: HEARTBEAT_LUA });
    this.cmd = this.client as unknown as Scripted;
    this.client.on('error', (err: Error) => {
      this.lastError = err.message;
    });
    const every = opts.heartbeatMs ?? HEARTBEAT_MS;
    this.client.on('ready', () => {
      this.failing = false;
      this.up();
      if (every > 0) void this.heartbeat();
    });
    if (every > 0) {
      this.heartbeatTimer = setInterval(() => void this.heartbeat(), every);
      this.heartbeatTimer.unref();
    }
  }

  /** Waits until Redis answers, at most `timeoutMs`; false (and degraded mode) if it did not. */
  async ready(timeoutMs = 2_000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!this.usable() && Date.now() < deadline && !this.closed) await new Promise((r) => setTimeout(r, 25));
    if (this.usable()) return true;
    this.down(this.lastError || `no connection within ${timeoutMs} ms`);
    return false;
  }

  /** The Redis key of a bucket (`${projectId}\u0000${model}`): the project is the hash tag. */
  keyOf(bucket: string): string {
    const i = bucket.indexOf('\u0000');
    const tagged = i < 0 ? `{${bucket}}` : `{${bucket.slice(0, i)}}:${bucket.slice(i + 1)}`;
    return `${this.prefix}:${REDIS_LIMITER_VERSION}:rl:${tagged}`;
  }

  /** The sorted set of live nodes. */
  get nodesKey(): string {
    return `${this.prefix}:${REDIS_LIMITER_VERSION}:nodes`;
  }

  /** Live nodes as last counted (the divisor of each limit while degraded). */
  get liveNodes(): number {
    return this.nodes;
  }

  /** Whether requests are limited in memory because Redis is unusable. */
  get isDegraded(): boolean {
    return this.degraded;
  }

  reserve(input: ReserveInput): Promise<ReserveResult> | ReserveResult {
    const cost = costsOf(input);
    const lim = limitsOf(input.limits);
    const { now } = input;
    if (!Number.isFinite(now)) throw new RangeError(`now must be a finite epoch ms, got ${now}`);
    // No limit applies: nothing to count (a limit added later starts full).
    if (lim.every((l) => l === undefined)) {
      return { ok: true, reservation: new RedisReservation(input.bucket, cost[TPM]!, null, cost[IPM]!, cost[APM]!, undefined, null), state: {} };
    }
    if (!this.usable()) {
      this.down(this.lastError || 'not connected');
      return this.reserveLocally(input, cost);
    }
    return this.reserveShared(input, lim, cost);
  }

  private async reserveShared(input: ReserveInput, lim: (number | undefined)[], cost: Float64Array): Promise<ReserveResult> {
    const key = this.keyOf(input.bucket);
    const args: string[] = [this.callerClock ? String(input.now) : ''];
    for (let i = 0; i < 5; i++) args.push(lim[i] === undefined ? '' : String(lim[i]));
    for (let i = 0; i < 5; i++) args.push(String(cost[i]));
    args.push(String(TTL_MARGIN_MS));
    let out: unknown[];
    try {
      out = (await this.cmd[CMD_RESERVE]!(key, ...args)) as unknown[];
    } catch (err) {
      this.fail(err);
      return this.reserveLocally(input, cost);
    }
    this.up();
    const dims: (DimView | undefined)[] = [];
    for (let i = 0; i < 5; i++) {
      const l = out[4 + 2 * i];
      dims.push(l === '' || l == null ? undefined : { limit: Number(l), used: Number(out[5 + 2 * i]), windowMs: WINDOWS[i]! });
    }
    const state = stateOf(dims);
    if (Number(out[0]) !== 1) {
      const i = Number(out[1]) - 1;
      return { ok: false, refused: refusalOf(i, dims[i]!, cost[i]!, Number(out[2]), Number(out[3]) === 1, input.now), state };
    }
    return { ok: true, reservation: new RedisReservation(input.bucket, cost[TPM]!, key, cost[IPM]!, cost[APM]!, lim[TPM], null), state };
  }

  /** Degraded: this node's share of each limit, in memory. */
  private reserveLocally(input: ReserveInput, cost: Float64Array): ReserveResult {
    const n = this.nodes;
    const l = input.limits;
    const limits: LimitSet = {
      requestsPerMinute: shareOf(l.requestsPerMinute, n),
      tokensPerMinute: shareOf(l.tokensPerMinute, n),
      requestsPerDay: shareOf(l.requestsPerDay, n),
      imagesPerMinute: shareOf(l.imagesPerMinute, n),
      audioMegabytesPerMinute: shareOf(l.audioMegabytesPerMinute, n),
    };
    const r = this.fallback.reserve({ ...input, limits });
    if (!r.ok) return r;
    return { ok: true, reservation: new RedisReservation(input.bucket, cost[TPM]!, null, cost[IPM]!, cost[APM]!, undefined, r.reservation), state: r.state };
  }

  settle(reservation: Reservation, actualTokens: number | undefined, now: number): Promise<void> | void {
    const r = own(reservation);
    if (r.done) return;
    r.done = true;
    if (r.local) return this.fallback.settle(r.local, actualTokens, now);
    if (actualTokens === undefined || r.key === null) return;
    const diff = validAmount(actualTokens, 'actualTokens') - r.tokens;
    if (diff === 0) return;
    return this.adjust(r.key, now, diff, 0, 0, diff > 0 ? r.tokensLimit : undefined);
  }

  cancel(reservation: Reservation, now: number): Promise<void> | void {
    const r = own(reservation);
    if (r.done) return;
    r.done = true;
    if (r.local) return this.fallback.cancel(r.local, now);
    if (r.key === null || (r.tokens === 0 && r.images === 0 && r.audioMegabytes === 0)) return;
    return this.adjust(r.key, now, -r.tokens, -r.images, -r.audioMegabytes, undefined);
  }

  /** Never rejects: a settlement Redis cannot take is dropped (the estimate stands). */
  private async adjust(key: string, now: number, tokens: number, images: number, audioMb: number, recreate: number | undefined): Promise<void> {
    if (!this.usable()) return;
    try {
      await this.cmd[CMD_ADJUST]!(key, this.callerClock ? String(now) : '', String(TTL_MARGIN_MS), String(tokens), String(images), String(audioMb), recreate === undefined ? '' : String(recreate));
      this.up();
    } catch (err) {
      this.fail(err);
    }
  }

  private async heartbeat(): Promise<void> {
    if (!this.usable() || this.closed) return;
    try {
      const n = Number(await this.cmd[CMD_HEARTBEAT]!(this.nodesKey, this.nodeId, String(NODE_TTL_MS)));
      if (n >= 1) this.nodes = n;
    } catch (err) {
      this.fail(err);
    }
  }

  private usable(): boolean {
    return this.client.status === 'ready' && !this.failing && !this.closed;
  }

  private fail(err: unknown): void {
    this.lastError = (err as Error)?.message ?? String(err);
    this.failing = true;
    this.down(this.lastError);
    if (!this.probeTimer && !this.closed) {
      this.probeTimer = setInterval(() => {
        if (this.client.status !== 'ready') return; // ioredis reconnects; 'ready' ends the failure
        this.client.ping().then(
          () => {
            this.failing = false;
            this.up();
          },
          () => {},
        );
      }, PROBE_MS);
      this.probeTimer.unref();
    }
  }

  private down(reason: string): void {
    if (this.degraded || this.closed) return;
    this.degraded = true;
    this.fallback = new MemoryLimiter();
    this.log?.warn(`rate limiter: Redis unusable (${reason}); limiting in memory, this node taking 1/${this.nodes} of each limit, until Redis answers again`);
  }

  private up(): void {
    if (this.probeTimer && !this.failing) {
      clearInterval(this.probeTimer);
      this.probeTimer = null;
    }
    if (!this.degraded || this.failing || this.client.status !== 'ready') return;
    this.degraded = false;
    this.log?.info('rate limiter: Redis answers again; limits are shared across nodes once more');
  }

  /** Stops the timers, leaves the node set, and closes the connection it opened. */
  async close(): Promise<void> {
    if (this.closed) return;
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    if (this.probeTimer) clearInterval(this.probeTimer);
    this.heartbeatTimer = this.probeTimer = null;
    if (this.usable()) await this.client.zrem(this.nodesKey, this.nodeId).catch(() => {});
    this.closed = true;
    if (!this.owns) return;
    const quit = this.client.quit().catch(() => {});
    const timer = new Promise((r) => setTimeout(r, 500).unref());
    await Promise.race([quit, timer]);
    this.client.disconnect();
  }
}
