// Free trials: an organization in its trial uses the platform's default provider credential up to an
// allowance of tokens (and optionally requests). The allowance is the operator's default
// (KEYPLANE_FREE_TRIAL_TOKENS, KEYPLANE_FREE_TRIAL_REQUESTS) unless the organization's free-trial
// metadata names its own (`{"tokens": n, "requests": n}`). What was used is the usage recorded with
// the `free_trial` credential source, read at most once a second per organization and counted locally
// in between; so the trial can run past its allowance by what is in flight at that moment, no more.
import { sql } from 'kysely';
import type { Store } from '../store/db.ts';
import { DomainError } from './errors.ts';

export interface TrialAllowance {
  /** Tokens (input + output); null: no token cap. */
  tokens: number | null;
  /** Requests; null: no request cap. */
  requests: number | null;
}

interface Entry {
  at: number;
  allowance: TrialAllowance;
  used: { tokens: number; requests: number };
}

const TTL_MS = 1000;

const positive = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? Math.floor(v) : null);

/** OpenAI's 429 `insufficient_quota`, saying the trial is over and what to do. */
export function trialOver(what: string): DomainError {
  return new DomainError(
    'rate_limited',
    `You exceeded your free trial: the organization has used its ${what}. Ask your administrator to add a provider credential or to turn on the default LLM key.`,
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
    const org = await db.selectFrom('organizations').select('free_trial_metadata').where('id', '=', orgId).executeTakeFirst();
    let meta: Record<string, unknown> = {};
    try {
      meta = org?.free_trial_metadata ? (JSON.parse(org.free_trial_metadata) as Record<string, unknown>) : {};
    } catch {
      meta = {};
    }
    const allowance: TrialAllowance = {
      tokens: 'tokens' in meta ? positive(meta.tokens) : this.defaults.tokens,
      requests: 'requests' in meta ? positive(meta.requests) : this.defaults.requests,
    };
    const row = await db
      .selectFrom('usage_events')
      .select([sql<string | number>`coalesce(sum(prompt_tokens + completion_tokens), 0)`.as('tokens'), sql<string | number>`count(*)`.as('requests')])
      .where('org_id', '=', orgId)
      .where('credential_source', '=', 'free_trial')
      .executeTakeFirst();
    return { at: this.now(), allowance, used: { tokens: Number(row?.tokens ?? 0), requests: Number(row?.requests ?? 0) } };
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

  /** Throws `insufficient_quota` when the organization's trial allowance is used up. */
  async check(orgId: string): Promise<void> {
    const e = await this.entry(orgId);
    if (e.allowance.tokens !== null && e.used.tokens >= e.allowance.tokens) throw trialOver(`${e.allowance.tokens} trial tokens`);
    if (e.allowance.requests !== null && e.used.requests >= e.allowance.requests) throw trialOver(`${e.allowance.requests} trial requests`);
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
