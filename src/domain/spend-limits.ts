// Hard spend limits: one per organization and one per project, a monthly amount in cents (OpenAI's
// `threshold_amount`, `currency: USD`, `interval: month`). The period is the calendar month in UTC;
// the period's spend is what usage_daily.cost_nano_usd records for it (the gateway adds what it has
// not flushed yet and its open reservations: src/gateway/spend.ts). A change is audited and, once
// committed, announced through onChange (Core turns it into a cache-drop notice for every node).
import type { Executor, Store } from '../store/db.ts';
import { requireOrgAdmin, type Actor, requireProjectWrite, requireProjectRead, requireOrgRead } from './actor.ts';
import { recordAudit } from './audit.ts';
import { notFound } from './errors.ts';
import { loadActiveProject, loadProject } from './projects.ts';

/** 1 cent in nano-USD (the unit of recorded cost). */
export const NANO_PER_CENT = 10_000_000;
/** The largest amount accepted, in cents (USD 1 000 000 000). */
export const MAX_THRESHOLD_CENTS = 100_000_000_000;

export interface SpendLimit {
  orgId: string;
  /** null: the organization's limit. */
  projectId: string | null;
  thresholdCents: number;
  currency: string;
  interval: string;
  /** The period's recorded spend (nano-USD), when it was read. */
  spentNanoUsd: number;
}

export interface SpendLimitInput {
  thresholdCents: number;
  currency: string;
  interval: string;
}

/** The limits of one organization, as the gateway enforces them (cents). */
export interface OrgSpendLimits {
  org: number | null;
  projects: Map<string, number>;
}

/** The calendar month (UTC) holding `ms`: its name `YYYY-MM`, first day, first day of the next, and when it ends. */
export function monthOf(ms: number): Month {
  // the gateway asks on every limited request: the current month is kept
  if (lastMonth && ms >= lastMonth.startsAt && ms < lastMonth.endsAt) return lastMonth;
  const m = computeMonth(ms);
  lastMonth = m;
  return m;
}

interface Month {
  period: string;
  firstDay: string;
  nextFirstDay: string;
  startsAt: number;
  endsAt: number;
}
let lastMonth: Month | null = null;

function computeMonth(ms: number): Month {
  const d = new Date(ms);
  const y = d.getUTCFullYear();
  const m = d.getUTCMonth();
  const endsAt = Date.UTC(y, m + 1, 1);
  const iso = (t: number) => new Date(t).toISOString().slice(0, 10);
  const startsAt = Date.UTC(y, m, 1);
  return { period: iso(startsAt).slice(0, 7), firstDay: iso(startsAt), nextFirstDay: iso(endsAt), startsAt, endsAt };
}

/**
 * The recorded spend (nano-USD) of the month holding `now`, of an organization or (projectId) of
 * one of its projects: one indexed range read of usage_daily.
 */
export async function recordedMonthSpend(db: Executor, orgId: string, projectId: string | null, now: number): Promise<number> {
  const { firstDay, nextFirstDay } = monthOf(now);
  let q = db
    .selectFrom('usage_daily')
    .select((eb) => eb.fn.sum<number | string | null>('cost_nano_usd').as('spent'))
    .where('org_id', '=', orgId)
    .where('day', '>=', firstDay)
    .where('day', '<', nextFirstDay);
  if (projectId !== null) q = q.where('project_id', '=', projectId);
  const r = await q.executeTakeFirst();
  return Number(r?.spent ?? 0);
}

/** USD from cents or nano-USD, as messages show it: `$12.34`. */
export const usd = (cents: number): string => `$${(cents / 100).toFixed(2)}`;

export class SpendLimitService {
  private readonly listeners: Array<(orgId: string) => void> = [];

  constructor(
    private readonly store: Store,
    private readonly now: () => number = Date.now,
  ) {}

  /** Calls `fn` after a limit of the organization changed (committed). */
  onChange(fn: (orgId: string) => void): void {
    this.listeners.push(fn);
  }

  private async row(db: Executor, orgId: string, projectId: string | null) {
    return db.selectFrom('spend_limits').selectAll().where('org_id', '=', orgId).where('project_id', '=', projectId ?? '').executeTakeFirst();
  }

  private missing(projectId: string | null) {
    return notFound(projectId === null ? 'No spend limit is set for this organization.' : `No spend limit is set for project '${projectId}'.`);
  }

  /** The limit of the organization (projectId null) or of one of its projects; 404 when none is set. */
  async get(actor: Actor, orgId: string, projectId: string | null): Promise<SpendLimit> {
    (projectId === null ? requireOrgRead(actor, orgId) : requireProjectRead(actor, orgId, projectId));
    const db = this.store.db;
    if (projectId !== null) await loadProject(db, orgId, projectId);
    const r = await this.row(db, orgId, projectId);
    if (!r) throw this.missing(projectId);
    const spent = await recordedMonthSpend(db, orgId, projectId, this.now());
    return { orgId, projectId, thresholdCents: Number(r.threshold_cents), currency: r.currency, interval: r.interval, spentNanoUsd: spent };
  }

  /** Creates or replaces the limit; an archived project's limit cannot be set. */
  async set(actor: Actor, orgId: string, projectId: string | null, input: SpendLimitInput): Promise<SpendLimit> {
    (projectId === null ? requireOrgAdmin(actor, orgId) : requireProjectWrite(actor, orgId, projectId));
    const now = this.now();
    const spent = await this.store.db.transaction().execute(async (tx) => {
      if (projectId !== null) await loadActiveProject(tx, orgId, projectId);
      const before = await this.row(tx, orgId, projectId);
      await tx
        .insertInto('spend_limits')
        .values({ org_id: orgId, project_id: projectId ?? '', threshold_cents: input.thresholdCents, currency: input.currency, interval: input.interval, created_at: now, updated_at: now })
        .onConflict((oc) => oc.columns(['org_id', 'project_id']).doUpdateSet({ threshold_cents: input.thresholdCents, currency: input.currency, interval: input.interval, updated_at: now }))
        .execute();
      await recordAudit(
        tx,
        actor,
        {
          orgId,
          type: 'spend_limit.updated',
          targetType: 'spend_limit',
          targetId: projectId ?? orgId,
          projectId,
          payload: { ...(projectId !== null ? { projectId } : {}), thresholdAmount: input.thresholdCents, currency: input.currency, interval: input.interval, previous: before ? Number(before.threshold_cents) : null },
        },
        now,
      );
      return recordedMonthSpend(tx, orgId, projectId, now);
    });
    this.changed(orgId);
    return { orgId, projectId, ...input, spentNanoUsd: spent };
  }

  /** Deletes the limit; 404 when none is set. */
  async delete(actor: Actor, orgId: string, projectId: string | null): Promise<void> {
    (projectId === null ? requireOrgAdmin(actor, orgId) : requireProjectWrite(actor, orgId, projectId));
    const now = this.now();
    await this.store.db.transaction().execute(async (tx) => {
      if (projectId !== null) await loadProject(tx, orgId, projectId);
      const r = await this.row(tx, orgId, projectId);
      if (!r) throw this.missing(projectId);
      await tx.deleteFrom('spend_limits').where('org_id', '=', orgId).where('project_id', '=', projectId ?? '').execute();
      await recordAudit(
        tx,
        actor,
        { orgId, type: 'spend_limit.deleted', targetType: 'spend_limit', targetId: projectId ?? orgId, projectId, payload: { ...(projectId !== null ? { projectId } : {}), thresholdAmount: Number(r.threshold_cents) } },
        now,
      );
    });
    this.changed(orgId);
  }

  /**
   * Every limit of an organization, for the gateway (no actor: it has admitted the key already); null
   * when it has none. One indexed read; the gateway caches the answer for at most a second.
   */
  async enforcedFor(orgId: string): Promise<OrgSpendLimits | null> {
    const rows = await this.store.db.selectFrom('spend_limits').select(['project_id', 'threshold_cents']).where('org_id', '=', orgId).execute();
    if (!rows.length) return null;
    const out: OrgSpendLimits = { org: null, projects: new Map() };
    for (const r of rows) {
      if (r.project_id === '') out.org = Number(r.threshold_cents);
      else out.projects.set(r.project_id, Number(r.threshold_cents));
    }
    return out;
  }

  private changed(orgId: string): void {
    for (const l of this.listeners) l(orgId);
  }
}
