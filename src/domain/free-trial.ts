// Free trials: an organization in its trial uses the platform's default provider credential up to an
// allowance of tokens (and optionally requests and days). The allowance is the operator's default
// (KEYPLANE_FREE_TRIAL_TOKENS, KEYPLANE_FREE_TRIAL_REQUESTS, KEYPLANE_FREE_TRIAL_DAYS) unless the
// organization's free-trial metadata names its own (`{"tokens": n, "requests": n, "days": n}`; null:
// no cap).
//
// The trial starts when it is first switched on (`organizations.free_trial_started_at`, set by
// PlatformService.setFreeTrial): switching it off and on again, or saving it again, does not restart
// it; only the operator restarts it (`restart`, the platform API). Its days run from that start, and
// what counts against its tokens and requests is the usage recorded with the `free_trial` credential
// source since then. A trial switched on before migration 0005 has no recorded start: it is taken to
// have started at its first use of the platform's key (its earliest `free_trial` usage event), so
// all its usage counts and its days run from that use; unused, its days have not started yet. (Not
// the migration's time: that would restart the days of trials already running.)
//
// What was used is read at most once a second per organization and counted locally in between; so
// the trial can run past its token or request allowance by what is in flight at that moment, no
// more. The days are compared with the clock at each check.
import { sql } from 'kysely';
import type { Store } from '../store/db.ts';
import { DomainError } from './errors.ts';

export interface TrialAllowance {
  /** Tokens (input + output); null: no token cap. */
  tokens: number | null;
  /** Requests; null: no request cap. */
  requests: number | null;
  /** Days from the trial's start; null: no time limit. */
  days: number | null;
}

interface Entry {
  at: number;
  allowance: TrialAllowance;
  /** When the trial started (epoch ms); null: not yet (a trial from before migration 0005, unused). */
  startedAt: number | null;
  used: { tokens: number; requests: number };
}

const TTL_MS = 1000;
export const DAY_MS = 86_400_000;

const positive = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? Math.floor(v) : null);

/** OpenAI's 429 `insufficient_quota`, saying the trial is over (`reason`: why) and what to do. */
export function trialOver(reason: string): DomainError {
  return new DomainError(
    'rate_limited',
    `Your free trial is over: ${reason}. Ask your administrator to add a provider credential or to turn on the default LLM key.`,
    null,
    'insufficient_quota',
  );
}

export class FreeTrialService {
  private readonly entries = new Map<string, Promise<Entry>>();

  constructor(
    private readonly store: Store,
    private readonly defaults: TrialAllowance,
    private readonly now: () => number = Date.now,
  ) {}

  private async load(orgId: string): Promise<Entry> {
    const db = this.store.db;
    const org = await db.selectFrom('organizations').select(['free_trial_metadata', 'free_trial_started_at']).where('id', '=', orgId).executeTakeFirst();
    let meta: Record<string, unknown> = {};
    try {
      meta = org?.free_trial_metadata ? (JSON.parse(org.free_trial_metadata) as Record<string, unknown>) : {};
    } catch {
      meta = {};
    }
    const allowance: TrialAllowance = {
      tokens: 'tokens' in meta ? positive(meta.tokens) : this.defaults.tokens,
      requests: 'requests' in meta ? positive(meta.requests) : this.defaults.requests,
      days: 'days' in meta ? positive(meta.days) : this.defaults.days,
    };
    const recorded = org?.free_trial_started_at ?? null;
    let usage = db
      .selectFrom('usage_events')
      .select([
        sql<string | number>`coalesce(sum(prompt_tokens + completion_tokens), 0)`.as('tokens'),
        sql<string | number>`count(*)`.as('requests'),
        sql<string | number | null>`min(created_at)`.as('first'),
      ])
      .where('org_id', '=', orgId)
      .where('credential_source', '=', 'free_trial');
    if (recorded !== null) usage = usage.where('created_at', '>=', recorded);
    const row = await usage.executeTakeFirst();
    const first = row?.first === null || row?.first === undefined ? null : Number(row.first);
    return {
      at: this.now(),
      allowance,
      startedAt: recorded !== null ? Number(recorded) : first,
      used: { tokens: Number(row?.tokens ?? 0), requests: Number(row?.requests ?? 0) },
    };
  }

  private entry(orgId: string): Promise<Entry> {
    const hit = this.entries.get(orgId);
    if (hit) return hit.then((e) => (this.now() - e.at < TTL_MS ? e : this.reload(orgId)));
    return this.reload(orgId);
  }

  private reload(orgId: string): Promise<Entry> {
    const p = this.load(orgId);
    p.catch(() => this.entries.delete(orgId));
    if (this.entries.size > 100_000) this.entries.clear();
    this.entries.set(orgId, p);
    return p;
  }

  /** Throws `insufficient_quota` when the organization's trial period has ended or its allowance is used up. */
  async check(orgId: string): Promise<void> {
    const e = await this.entry(orgId);
    const { days, tokens, requests } = e.allowance;
    if (days !== null && e.startedAt !== null && this.now() >= e.startedAt + days * DAY_MS) {
      const ended = new Date(e.startedAt + days * DAY_MS).toISOString();
      throw trialOver(`the organization's ${days}-day trial period ended (${ended})`);
    }
    if (tokens !== null && e.used.tokens >= tokens) throw trialOver(`the organization has used its ${tokens} trial tokens`);
    if (requests !== null && e.used.requests >= requests) throw trialOver(`the organization has used its ${requests} trial requests`);
  }

  /** Drops what this node holds about the organization's trial (its settings changed): the next check reads the store. */
  forget(orgId: string): void {
    this.entries.delete(orgId);
  }

  /** Drops everything this node holds (changes may have been missed). */
  forgetAll(): void {
    this.entries.clear();
  }

  /** Counts a finished trial request until the next read of the recorded usage. */
  note(orgId: string, tokens: number): void {
    const p = this.entries.get(orgId);
    if (!p) return;
    void p.then((e) => {
      e.used.tokens += tokens;
      e.used.requests += 1;
    }, () => {});
  }
}
