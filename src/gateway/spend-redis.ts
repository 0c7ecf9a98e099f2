// Spend reservations shared through Redis (REDIS_URL), so that requests in flight on every node count
// against a hard spend limit together (src/gateway/spend.ts keeps the rest: recorded and unflushed
// spend are each node's own view).
//
// Storage: one hash per organization and month, `<prefix>:v1:spend:{<orgId>}:<YYYY-MM>` (the
// organization id is the hash tag: one cluster slot), with two fields per scope (`o`: the
// organization, `p:<projectId>`: a project) and node: `<scope>|<node>` the nano-USD that node has
// reserved, `<scope>|<node>|t` when it last touched them (Redis time, ms). A node's fields are
// ignored once untouched for STALE_MS (a node that died with reservations open frees them then); a
// node with open reservations touches its fields every HEARTBEAT_MS.
//
// `reserve` is one atomic script: the reservations of the other live nodes, plus this request's cost,
// must fit in the room the caller computed from its own view (limit − recorded − unflushed − its own
// reservations); then the cost is added to this node's fields. `release` takes it back. Redis
// unusable (the rate limiter's degraded mode, an error, a timeout): the request is judged by this
// node's view only, as without Redis.
import type { Redis, Cluster } from 'ioredis';
import { REDIS_LIMITER_VERSION } from './redis-limiter.ts';

export const STALE_MS = 30_000;
const HEARTBEAT_MS = 5_000;
/** Keys outlive their month by a few days at most: a month is at most 31 days. */
const KEY_TTL_MS = 35 * 86_400_000;

const RESERVE_LUA = `-- keyplane spend reserve ${REDIS_LIMITER_VERSION}
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local node = ARGV[1]
local stale = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local n = tonumber(ARGV[4])
local all = redis.call('HGETALL', KEYS[1])
local amount, touched = {}, {}
for i = 1, #all, 2 do
  local f = all[i]
  if string.sub(f, -2) == '|t' then touched[string.sub(f, 1, -3)] = tonumber(all[i + 1]) else amount[f] = tonumber(all[i + 1]) end
end
local others = {}
for f, v in pairs(amount) do
  local bar = string.find(f, '|', 1, true)
  local scope, who = string.sub(f, 1, bar - 1), string.sub(f, bar + 1)
  if who ~= node and (touched[f] or 0) >= now - stale then others[scope] = (others[scope] or 0) + v end
end
for i = 1, n do
  local scope = ARGV[3 + 2 * i]
  local room = tonumber(ARGV[4 + 2 * i])
  local o = others[scope] or 0
  if o + cost > room then return {i, tostring(o)} end
end
for i = 1, n do
  local f = ARGV[3 + 2 * i] .. '|' .. node
  redis.call('HINCRBY', KEYS[1], f, cost)
  redis.call('HSET', KEYS[1], f .. '|t', now)
end
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[#ARGV]))
return {0, '0'}
`;

const RELEASE_LUA = `-- keyplane spend release ${REDIS_LIMITER_VERSION}
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local cost = tonumber(ARGV[2])
for i = 3, #ARGV do
  local f = ARGV[i] .. '|' .. ARGV[1]
  local v = tonumber(redis.call('HINCRBY', KEYS[1], f, -cost))
  if v <= 0 then redis.call('HDEL', KEYS[1], f, f .. '|t') else redis.call('HSET', KEYS[1], f .. '|t', now) end
end
return 1
`;

const TOUCH_LUA = `-- keyplane spend touch ${REDIS_LIMITER_VERSION}
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
for i = 2, #ARGV do
  local f = ARGV[i] .. '|' .. ARGV[1]
  if redis.call('HEXISTS', KEYS[1], f) == 1 then redis.call('HSET', KEYS[1], f .. '|t', now) end
end
return 1
`;

const CMD_RESERVE = `keyplaneSpendReserve_${REDIS_LIMITER_VERSION}`;
const CMD_RELEASE = `keyplaneSpendRelease_${REDIS_LIMITER_VERSION}`;
const CMD_TOUCH = `keyplaneSpendTouch_${REDIS_LIMITER_VERSION}`;
type Scripted = Record<string, (...args: (string | number)[]) => Promise<unknown>>;

/** What the shared limiter gives this module: its connection, its node id, its key prefix, its health. */
export interface SharedRedis {
  client: Redis | Cluster;
  nodeId: string;
  prefix: string;
  isDegraded: boolean;
}

/** A scope of one organization's hash: `o`, or `p:<projectId>`. */
export type SpendScopeField = string;

export interface SharedHold {
  key: string;
  scopes: SpendScopeField[];
  nano: number;
}

export class SharedSpendReservations {
  private readonly cmd: Scripted;
  /** Open reservations of this node per key and scope (what the heartbeat keeps alive). */
  private readonly open = new Map<string, Map<SpendScopeField, number>>();
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly redis: SharedRedis) {
    redis.client.defineCommand(CMD_RESERVE, { numberOfKeys: 1, lua: RESERVE_LUA });
    redis.client.defineCommand(CMD_RELEASE, { numberOfKeys: 1, lua: RELEASE_LUA });
    redis.client.defineCommand(CMD_TOUCH, { numberOfKeys: 1, lua: TOUCH_LUA });
    this.cmd = redis.client as unknown as Scripted;
    this.timer = setInterval(() => void this.touch(), HEARTBEAT_MS);
    this.timer.unref();
  }

  key(orgId: string, period: string): string {
    return `${this.redis.prefix}:${REDIS_LIMITER_VERSION}:spend:{${orgId}}:${period}`;
  }

  private usable(): boolean {
    return !this.redis.isDegraded && this.redis.client.status === 'ready';
  }

  /**
   * Reserves `nano` in every scope if the other nodes' reservations leave room (`rooms[i]`: what this
   * node's own view leaves in scope i). Returns the hold, or `{refused: i, others}` naming the scope
   * that has no room and the other nodes' reservations there, or null when Redis is unusable.
   */
  async reserve(key: string, scopes: SpendScopeField[], rooms: number[], nano: number): Promise<SharedHold | { refused: number; others: number } | null> {
    if (!this.usable()) return null;
    const args: Array<string | number> = [this.redis.nodeId, STALE_MS, nano, scopes.length];
    scopes.forEach((s, i) => args.push(s, Math.floor(rooms[i]!)));
    args.push(KEY_TTL_MS);
    const hold: SharedHold = { key, scopes, nano };
    // counted as open before the answer: a reservation that lands after a timeout is still released
    this.track(hold, 1);
    let r: unknown;
    try {
      r = await this.cmd[CMD_RESERVE]!(key, ...args);
    } catch {
      this.release(hold);
      return null;
    }
    const [refused, others] = r as [number, string];
    if (refused > 0) {
      this.track(hold, -1);
      return { refused: refused - 1, others: Number(others) };
    }
    return hold;
  }

  release(hold: SharedHold): void {
    this.track(hold, -1);
    if (this.redis.client.status !== 'ready') return;
    this.cmd[CMD_RELEASE]!(hold.key, this.redis.nodeId, hold.nano, ...hold.scopes).catch(() => {
      // left to go stale (STALE_MS): an over-count, never an under-count
    });
  }

  private track(hold: SharedHold, sign: 1 | -1): void {
    let m = this.open.get(hold.key);
    if (!m) this.open.set(hold.key, (m = new Map()));
    for (const s of hold.scopes) {
      const v = (m.get(s) ?? 0) + sign * hold.nano;
      if (v > 0.5) m.set(s, v);
      else m.delete(s);
    }
    if (!m.size) this.open.delete(hold.key);
  }

  private async touch(): Promise<void> {
    if (!this.usable()) return;
    for (const [key, m] of this.open) await this.cmd[CMD_TOUCH]!(key, this.redis.nodeId, ...m.keys()).catch(() => {});
  }

  dispose(): void {
    clearInterval(this.timer);
  }
}
