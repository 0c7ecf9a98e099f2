// Hard spend limits on the gateway's request path (the limits: src/domain/spend-limits.ts).
//
// A request of an organization that has a limit (its own, or its project's) reserves its largest
// possible cost at admission — the prompt estimate × the input price + its output cap (max_tokens,
// or KEYPLANE_DEFAULT_OUTPUT_TOKENS) × the output price — and is refused with OpenAI's 429
// `insufficient_quota`, before any upstream call, when
//     recorded spend of the month + this node's unflushed spend + its open reservations + that cost
// would pass the limit. The reservation is released when the request ends (settleAndRecord), in the
// same turn as its actual cost goes to the usage buffer, so spend is never counted twice nor missed.
//
// - Recorded spend: usage_daily.cost_nano_usd of the calendar month (UTC), read at most once a
//   second per organization and per limited project (REFRESH_MS); when this node's flush commits,
//   what it wrote moves from "unflushed" to the cached recorded spend at once, and a read that was
//   under way during the flush is discarded (it may not have seen it).
// - Limits: read once a second per organization at most, dropped at once on a change (Core.changed →
//   every node); an organization without limits costs one Map lookup per request and no reservation.
// - One node: what passes the limit comes only from actual costs above the reservation (a prompt
//   estimate below the provider's count; streams without usage are recorded at 0). Several nodes: a
//   node sees the others' spend once they flushed it (KEYPLANE_USAGE_FLUSH_MS) and it re-read
//   (≤ 1 s): each other node may admit up to what fits in the limit during that window. With Redis
//   (REDIS_URL) the open reservations of every node are shared (spend-redis.ts): a burst across
//   nodes cannot pass the limit; finished but unflushed spend of another node still can, for at most
//   its flush interval + 1 s.
import type { Core } from '../domain/core.ts';
import { DomainError } from '../domain/errors.ts';
import { costNanoUsd } from '../domain/model-routes.ts';
import { monthOf, NANO_PER_CENT, recordedMonthSpend, usd, type OrgSpendLimits } from '../domain/spend-limits.ts';
import type { FlushedUsage } from '../domain/usage-recorder.ts';
import type { SharedHold, SharedSpendReservations } from './spend-redis.ts';

/** Longest time a cached limit or a cached recorded spend is used without a new read. */
export const REFRESH_MS = 1000;

interface ScopeSpend {
  orgId: string;
  projectId: string | null;
  period: string;
  /** Recorded spend of the period as last read, plus what this node flushed since (nano-USD). */
  recorded: number;
  readAt: number;
  reading: Promise<void> | null;
  /** Bumped by every flush of this node: a read under way across a flush is discarded. */
  flushes: number;
  /** Open reservations of this node (nano-USD). */
  reserved: number;
}

/** What a request holds until it ends. */
export interface SpendHold {
  scopes: ScopeSpend[];
  nano: number;
  /** Its share in Redis, when reservations are shared. */
  shared: SharedHold | null;
}

/** OpenAI's 429 `insufficient_quota`, naming the limit and the amounts. */
export function spendLimitReached(what: string, limitCents: number, spentNano: number, costNano: number, period: string): DomainError {
  const spent = spentNano / NANO_PER_CENT;
  const reached = spent >= limitCents;
  return new DomainError(
    'rate_limited',
    `You exceeded your current quota, please check your plan and billing details. ${what} has a hard spend limit of ${usd(limitCents)} per month; ` +
      (reached
        ? `its spend in ${period} is ${usd(spent)}, which reached it.`
        : `its spend in ${period} is ${usd(spent)}, and this request could cost up to ${usd(costNano / NANO_PER_CENT)}, which would pass it.`) +
      ' For more information on this error, read the docs: https://platform.openai.com/docs/guides/error-codes/api-errors.',
    null,
    'insufficient_quota',
  );
}

export class SpendGuard {
  private readonly limits = new Map<string, { at: number; value: Promise<OrgSpendLimits | null>; resolved?: OrgSpendLimits | null }>();
  private readonly scopes = new Map<string, ScopeSpend>();
  private readonly undo: Array<() => void> = [];

  constructor(
    private readonly core: Core,
    private readonly now: () => number = Date.now,
    /** Reservations shared with the other nodes through Redis (REDIS_URL), or none. */
    private readonly shared: SharedSpendReservations | null = null,
  ) {
    this.undo.push(
      core.onDropCaches((scope) => {
        if (!scope) this.limits.clear();
        else if ('orgId' in scope) this.limits.delete(scope.orgId);
      }),
      core.usageRecorder.onFlushed((rows) => this.flushed(rows)),
    );
  }

  /** Stops listening (the server closes). */
  dispose(): void {
    for (const u of this.undo) u();
    this.shared?.dispose();
  }

  private limitsOf(orgId: string): OrgSpendLimits | null | Promise<OrgSpendLimits | null> {
    const now = this.now();
    const hit = this.limits.get(orgId);
    if (hit && now - hit.at < REFRESH_MS) return hit.resolved !== undefined ? hit.resolved : hit.value;
    const entry: { at: number; value: Promise<OrgSpendLimits | null>; resolved?: OrgSpendLimits | null } = { at: now, value: this.core.spendLimits.enforcedFor(orgId) };
    entry.value.then(
      (v) => (entry.resolved = v),
      () => this.limits.get(orgId) === entry && this.limits.delete(orgId),
    );
    if (this.limits.size > 100_000) this.limits.clear();
    this.limits.set(orgId, entry);
    return entry.value;
  }

  private scope(orgId: string, projectId: string | null, period: string): ScopeSpend {
    const key = projectId === null ? `o\u0000${orgId}` : `p\u0000${projectId}`;
    let s = this.scopes.get(key);
    if (!s || s.period !== period) {
      // a new month starts from its own recorded spend; reservations of the old one end on their own
      s = { orgId, projectId, period, recorded: 0, readAt: -Infinity, reading: null, flushes: 0, reserved: 0 };
      if (this.scopes.size > 100_000) this.scopes.clear();
      this.scopes.set(key, s);
    }
    return s;
  }

  private refresh(s: ScopeSpend, now: number): Promise<void> | null {
    if (now - s.readAt < REFRESH_MS) return null;
    if (s.reading) return s.reading;
    s.reading = this.read(s, now).finally(() => (s.reading = null));
    return s.reading;
  }

  private async read(s: ScopeSpend, now: number): Promise<void> {
    for (let i = 0; i < 5; i++) {
      const flushes = s.flushes;
      const v = await recordedMonthSpend(this.core.store.db, s.orgId, s.projectId, now);
      // a flush of this node committed during the read: it may be missing from it; read again
      if (s.flushes !== flushes) continue;
      s.recorded = v;
      s.readAt = now;
      return;
    }
  }

  /** Spend of a scope as this node knows it: recorded + unflushed + reserved (nano-USD). */
  private known(s: ScopeSpend): number {
    const unflushed = s.projectId === null ? this.core.usageRecorder.unflushedNanoUsd(s.orgId) : this.core.usageRecorder.unflushedNanoUsd(s.orgId, s.projectId);
    return s.recorded + unflushed + s.reserved;
  }

  /**
   * Admits a request under its organization's and project's hard limits, reserving its largest cost;
   * null when neither has a limit (nothing to release). Throws `insufficient_quota` otherwise.
   */
  async reserve(orgId: string, projectId: string, prices: Parameters<typeof costNanoUsd>[0], promptTokens: number, outputTokens: number): Promise<SpendHold | null> {
    let limits = this.limitsOf(orgId);
    if (limits instanceof Promise) limits = await limits;
    if (limits === null) return null;
    const projectLimit = limits.projects.get(projectId);
    if (limits.org === null && projectLimit === undefined) return null;
    const now = this.now();
    const { period } = monthOf(now);
    const checks: Array<{ s: ScopeSpend; limit: number; what: string; field: string }> = [];
    if (limits.org !== null) checks.push({ s: this.scope(orgId, null, period), limit: limits.org, what: 'Your organization', field: 'o' });
    if (projectLimit !== undefined) checks.push({ s: this.scope(orgId, projectId, period), limit: projectLimit, what: `Project ${projectId}`, field: `p:${projectId}` });
    const reads = checks.map((c) => this.refresh(c.s, now)).filter((p): p is Promise<void> => p !== null);
    if (reads.length) await Promise.all(reads);
    const nano = costNanoUsd(prices, { inputTokens: promptTokens, cachedInputTokens: 0, outputTokens });
    // decided and reserved in one synchronous step: concurrent requests see each other's reservations
    const rooms: number[] = [];
    for (const c of checks) {
      const spent = this.known(c.s);
      const limit = c.limit * NANO_PER_CENT;
      // a reached limit refuses everything, even a request priced at nothing
      if (spent >= limit || spent + nano > limit) throw spendLimitReached(c.what, c.limit, spent, nano, period);
      rooms.push(limit - spent);
    }
    for (const c of checks) c.s.reserved += nano;
    const hold: SpendHold = { scopes: checks.map((c) => c.s), nano, shared: null };
    if (this.shared && nano > 0) {
      // the other nodes' requests in flight must fit too (one atomic script; Redis unusable: this node's view only)
      const r = await this.shared.reserve(this.shared.key(orgId, period), checks.map((c) => c.field), rooms, nano);
      if (r && 'refused' in r) {
        this.release(hold);
        const c = checks[r.refused]!;
        throw spendLimitReached(c.what, c.limit, c.limit * NANO_PER_CENT - rooms[r.refused]! + r.others, nano, period);
      }
      hold.shared = r;
    }
    return hold;
  }

  /** Releases a reservation: call in the same turn as the request's usage goes to the usage buffer. */
  release(hold: SpendHold | null): void {
    if (!hold) return;
    for (const s of hold.scopes) s.reserved = Math.max(0, s.reserved - hold.nano);
    hold.scopes = [];
    if (hold.shared) this.shared?.release(hold.shared);
    hold.shared = null;
  }

  /** A flush of this node committed: what it wrote is recorded spend now. */
  private flushed(rows: ReadonlyArray<FlushedUsage>): void {
    if (!this.scopes.size) return;
    const byKey = new Map<string, number>();
    for (const r of rows) {
      if (!r.cost_nano_usd) continue;
      const p = monthOf(r.created_at).period;
      byKey.set(`o\u0000${r.org_id}\u0000${p}`, (byKey.get(`o\u0000${r.org_id}\u0000${p}`) ?? 0) + r.cost_nano_usd);
      if (r.project_id) byKey.set(`p\u0000${r.project_id}\u0000${p}`, (byKey.get(`p\u0000${r.project_id}\u0000${p}`) ?? 0) + r.cost_nano_usd);
    }
    if (!byKey.size) return;
    for (const [key, s] of this.scopes) {
      const add = byKey.get(`${key}\u0000${s.period}`);
      if (!add) continue;
      s.flushes++;
      s.recorded += add;
    }
  }
}
