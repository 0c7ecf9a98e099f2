// Spend alerts of an organization (project_id '') or of a project: a monthly threshold in cents and
// OpenAI's notification channel (email recipients, kept as given). keyplane itself does not send
// email: when the month's recorded spend reaches an alert's threshold it records the audit event
// `spend_alert.triggered` once per alert and period — a row of spend_alert_firings keyed (alert,
// period), so two nodes cannot both fire — and, when the operator configured a webhook
// (KEYPLANE_SPEND_ALERT_WEBHOOK_URL), queues a signed notification (spend-webhook.ts).
// The check runs after each usage flush of this node (checkAfterFlush), never on a request path.
import type { Executor, Store } from '../store/db.ts';
import type { SpendAlertsTable } from '../store/schema.ts';
import { requireOrgAdmin, SYSTEM, type Actor, requireOrgRead, requireProjectRead, requireProjectWrite } from './actor.ts';
import { recordAudit } from './audit.ts';
import { invalid, notFound } from './errors.ts';
import { ID_PREFIX, newId } from './ids.ts';
import { lockOrganization } from './locks.ts';
import type { Page } from './paging.ts';
import { loadActiveProject, loadProject } from './projects.ts';
import { monthOf, NANO_PER_CENT, recordedMonthSpend } from './spend-limits.ts';
import type { SpendAlertWebhook } from './spend-webhook.ts';

export interface SpendAlert {
  id: string;
  orgId: string;
  /** null: the organization's alert. */
  projectId: string | null;
  thresholdCents: number;
  currency: string;
  interval: string;
  channel: { type: string; recipients: string[]; subjectPrefix: string | null };
}

export interface SpendAlertInput {
  thresholdCents: number;
  currency: string;
  interval: string;
  channel: { type: string; recipients: string[]; subjectPrefix: string | null };
}

export interface SpendAlertPageQuery {
  limit: number;
  after?: string | undefined;
  before?: string | undefined;
  order?: 'asc' | 'desc' | undefined;
}

/** Alerts per organization or project. */
export const MAX_ALERTS_PER_SCOPE = 100;
const EMAIL = /^[^\s@]{1,64}@[^\s@]{1,255}$/;
/** How long the alerts of an organization are cached for the flush check (changes drop it at once). */
const ALERTS_TTL_MS = 5_000;

function toAlert(r: SpendAlertsTable): SpendAlert {
  let recipients: string[] = [];
  try {
    const v = JSON.parse(r.recipients) as unknown;
    if (Array.isArray(v)) recipients = v.filter((x): x is string => typeof x === 'string');
  } catch {
    // stored by this module: always a JSON array
  }
  return {
    id: r.id,
    orgId: r.org_id,
    projectId: r.project_id === '' ? null : r.project_id,
    thresholdCents: Number(r.threshold_cents),
    currency: r.currency,
    interval: r.interval,
    channel: { type: r.channel_type, recipients, subjectPrefix: r.subject_prefix },
  };
}

function check(input: SpendAlertInput): void {
  if (input.channel.recipients.length === 0) throw invalid('notification_channel.recipients must name at least one email address.', 'notification_channel.recipients');
  for (const e of input.channel.recipients) {
    if (!EMAIL.test(e)) throw invalid(`'${e.slice(0, 320)}' is not an email address.`, 'notification_channel.recipients');
  }
  if (new Set(input.channel.recipients.map((e) => e.toLowerCase())).size !== input.channel.recipients.length) {
    throw invalid('notification_channel.recipients names an address twice.', 'notification_channel.recipients');
  }
}

/** The columns an alert's settings are stored in (create and update write the same ones). */
function settingsOf(input: SpendAlertInput, now: number) {
  return {
    threshold_cents: input.thresholdCents,
    currency: input.currency,
    interval: input.interval,
    channel_type: input.channel.type,
    recipients: JSON.stringify(input.channel.recipients),
    subject_prefix: input.channel.subjectPrefix,
    updated_at: now,
  };
}

export class SpendAlertService {
  private readonly cache = new Map<string, { at: number; alerts: Promise<SpendAlert[]> }>();
  /** (alert, period, threshold) already settled on this node: fired, or found fired by another. */
  private readonly settled = new Set<string>();
  private readonly listeners: Array<(orgId: string) => void> = [];
  private checking: Promise<void> = Promise.resolve();

  constructor(
    private readonly store: Store,
    private readonly now: () => number = Date.now,
    private readonly webhook: SpendAlertWebhook | null = null,
    private readonly onError: (err: Error) => void = () => {},
  ) {}

  /** Calls `fn` after an alert of the organization changed (committed). */
  onChange(fn: (orgId: string) => void): void {
    this.listeners.push(fn);
  }

  /** Forgets the cached alerts of an organization (none: of every one). */
  forget(orgId?: string): void {
    if (orgId === undefined) this.cache.clear();
    else this.cache.delete(orgId);
  }

  private changed(orgId: string): void {
    this.forget(orgId);
    for (const l of this.listeners) l(orgId);
  }

  /** `write`: the project must be active; `mutates`: the caller changes something (a delete may act on an archived project's alert). */
  private async scope(db: Executor, actor: Actor, orgId: string, projectId: string | null, write: boolean, mutates = write): Promise<void> {
    if (projectId === null) (mutates ? requireOrgAdmin : requireOrgRead)(actor, orgId);
    else (mutates ? requireProjectWrite : requireProjectRead)(actor, orgId, projectId);
    if (projectId !== null) await (write ? loadActiveProject(db, orgId, projectId) : loadProject(db, orgId, projectId));
  }

  private async rows(db: Executor, orgId: string, projectId: string | null): Promise<SpendAlertsTable[]> {
    return db.selectFrom('spend_alerts').selectAll().where('org_id', '=', orgId).where('project_id', '=', projectId ?? '').orderBy('created_at', 'asc').orderBy('id', 'asc').execute();
  }

  private async one(db: Executor, orgId: string, projectId: string | null, id: string): Promise<SpendAlertsTable> {
    const r = await db.selectFrom('spend_alerts').selectAll().where('org_id', '=', orgId).where('project_id', '=', projectId ?? '').where('id', '=', id).executeTakeFirst();
    if (!r) throw notFound(`No such spend alert: '${id}'.`, 'alert_id');
    return r;
  }

  /** One page of the alerts (oldest first unless `order: desc`); `after`/`before` are alert ids of this listing. */
  async list(actor: Actor, orgId: string, projectId: string | null, q: SpendAlertPageQuery): Promise<Page<SpendAlert>> {
    const db = this.store.db;
    await this.scope(db, actor, orgId, projectId, false);
    const all = (await this.rows(db, orgId, projectId)).map(toAlert);
    if (q.order === 'desc') all.reverse();
    const at = (id: string, param: string) => {
      const i = all.findIndex((a) => a.id === id);
      if (i < 0) throw invalid(`No such spend alert to page from: '${id}'.`, param, 'invalid_cursor');
      return i;
    };
    const start = q.after !== undefined ? at(q.after, 'after') + 1 : 0;
    const end = q.before !== undefined ? at(q.before, 'before') : all.length;
    if (q.before !== undefined && q.after === undefined) {
      const from = Math.max(start, end - q.limit);
      return { items: all.slice(from, end), hasMore: from > start };
    }
    const stop = Math.max(start, Math.min(end, start + q.limit));
    return { items: all.slice(start, stop), hasMore: stop < end };
  }

  async get(actor: Actor, orgId: string, projectId: string | null, id: string): Promise<SpendAlert> {
    const db = this.store.db;
    await this.scope(db, actor, orgId, projectId, false);
    return toAlert(await this.one(db, orgId, projectId, id));
  }

  async create(actor: Actor, orgId: string, projectId: string | null, input: SpendAlertInput): Promise<SpendAlert> {
    check(input);
    const now = this.now();
    const id = newId(ID_PREFIX.spendAlert, now);
    const row: SpendAlertsTable = { id, org_id: orgId, project_id: projectId ?? '', ...settingsOf(input, now), created_at: now };
    await this.store.db.transaction().execute(async (tx) => {
      (projectId === null ? requireOrgAdmin(actor, orgId) : requireProjectWrite(actor, orgId, projectId));
      await lockOrganization(tx, orgId); // the cap is a count: concurrent creates take turns (locks.ts)
      await this.scope(tx, actor, orgId, projectId, true);
      const n = await tx.selectFrom('spend_alerts').select((eb) => eb.fn.countAll<number>().as('n')).where('org_id', '=', orgId).where('project_id', '=', projectId ?? '').executeTakeFirst();
      if (Number(n?.n ?? 0) >= MAX_ALERTS_PER_SCOPE) throw invalid(`At most ${MAX_ALERTS_PER_SCOPE} spend alerts per ${projectId === null ? 'organization' : 'project'}.`, null, 'too_many_spend_alerts');
      await tx.insertInto('spend_alerts').values(row).execute();
      await recordAudit(tx, actor, { orgId, type: 'spend_alert.created', targetType: 'spend_alert', targetId: id, projectId, payload: { ...(projectId !== null ? { projectId } : {}), thresholdAmount: input.thresholdCents, currency: input.currency, interval: input.interval, recipients: input.channel.recipients } }, now);
    });
    this.changed(orgId);
    return toAlert(row);
  }

  /** Replaces the alert's settings; a changed threshold may fire again in the current period. */
  async update(actor: Actor, orgId: string, projectId: string | null, id: string, input: SpendAlertInput): Promise<SpendAlert> {
    check(input);
    const now = this.now();
    const updated = await this.store.db.transaction().execute(async (tx) => {
      await this.scope(tx, actor, orgId, projectId, true);
      const before = await this.one(tx, orgId, projectId, id);
      const set = settingsOf(input, now);
      await tx.updateTable('spend_alerts').set(set).where('id', '=', id).execute();
      if (Number(before.threshold_cents) !== input.thresholdCents) await tx.deleteFrom('spend_alert_firings').where('alert_id', '=', id).execute();
      await recordAudit(tx, actor, { orgId, type: 'spend_alert.updated', targetType: 'spend_alert', targetId: id, projectId, payload: { ...(projectId !== null ? { projectId } : {}), thresholdAmount: input.thresholdCents, currency: input.currency, interval: input.interval, recipients: input.channel.recipients } }, now);
      return { ...before, ...set };
    });
    this.changed(orgId);
    return toAlert(updated);
  }

  async delete(actor: Actor, orgId: string, projectId: string | null, id: string): Promise<void> {
    const now = this.now();
    await this.store.db.transaction().execute(async (tx) => {
      await this.scope(tx, actor, orgId, projectId, false, true);
      const before = await this.one(tx, orgId, projectId, id);
      await tx.deleteFrom('spend_alert_firings').where('alert_id', '=', id).execute();
      await tx.deleteFrom('spend_alerts').where('id', '=', id).execute();
      await recordAudit(tx, actor, { orgId, type: 'spend_alert.deleted', targetType: 'spend_alert', targetId: id, projectId, payload: { ...(projectId !== null ? { projectId } : {}), thresholdAmount: Number(before.threshold_cents) } }, now);
    });
    this.changed(orgId);
  }

  private alertsOf(orgId: string): Promise<SpendAlert[]> {
    const now = this.now();
    const hit = this.cache.get(orgId);
    if (hit && now - hit.at < ALERTS_TTL_MS) return hit.alerts;
    const alerts = this.store.db
      .selectFrom('spend_alerts')
      .selectAll()
      .where('org_id', '=', orgId)
      .execute()
      .then((rows) => rows.map(toAlert));
    alerts.catch(() => this.cache.delete(orgId));
    if (this.cache.size > 100_000) this.cache.clear();
    this.cache.set(orgId, { at: now, alerts });
    return alerts;
  }

  /**
   * After a usage flush of this node: checks the alerts of the organizations it wrote usage for.
   * Runs in the background, one check at a time; failures are reported, and the next flush checks again.
   */
  checkAfterFlush(orgIds: Iterable<string>): Promise<void> {
    const ids = [...new Set(orgIds)];
    const run = this.checking.then(() => this.check(ids)).catch((err) => this.onError(err as Error));
    this.checking = run;
    return run;
  }

  /** Waits for the checks under way (tests, shutdown). */
  settledChecks(): Promise<void> {
    return this.checking;
  }

  private async check(orgIds: string[]): Promise<void> {
    const now = this.now();
    const { period } = monthOf(now);
    for (const orgId of orgIds) {
      const alerts = await this.alertsOf(orgId);
      if (!alerts.length) continue;
      const spent = new Map<string, number>();
      for (const a of alerts) {
        const key = `${a.id}\u0000${period}\u0000${a.thresholdCents}`;
        if (this.settled.has(key)) continue;
        const scope = a.projectId ?? '';
        if (!spent.has(scope)) spent.set(scope, await recordedMonthSpend(this.store.db, orgId, a.projectId, now));
        const nano = spent.get(scope)!;
        if (nano <= 0 || nano < a.thresholdCents * NANO_PER_CENT) continue;
        await this.fire(a, period, nano, now);
        this.settled.add(key);
      }
    }
    if (this.settled.size > 100_000) this.settled.clear();
  }

  /** Records the alert's firing for `period` unless a node did already; then queues its webhook. */
  private async fire(a: SpendAlert, period: string, nano: number, now: number): Promise<void> {
    const webhook = this.webhook !== null;
    const fired = await this.store.db.transaction().execute(async (tx) => {
      // gone since it was cached: nothing to fire
      const still = await tx.selectFrom('spend_alerts').select('id').where('id', '=', a.id).executeTakeFirst();
      if (!still) return false;
      const r = await tx
        .insertInto('spend_alert_firings')
        .values({ alert_id: a.id, period, org_id: a.orgId, spend_nano_usd: nano, fired_at: now })
        .onConflict((oc) => oc.columns(['alert_id', 'period']).doNothing())
        .executeTakeFirst();
      if (Number(r.numInsertedOrUpdatedRows ?? 0n) === 0) return false;
      await recordAudit(
        tx,
        SYSTEM,
        { orgId: a.orgId, type: 'spend_alert.triggered', targetType: 'spend_alert', targetId: a.id, projectId: a.projectId, payload: { ...(a.projectId !== null ? { projectId: a.projectId } : {}), thresholdAmount: a.thresholdCents, period, spendNanoUsd: nano, webhook } },
        now,
      );
      return true;
    });
    if (fired && this.webhook) {
      const id = `${a.id}:${period}`;
      this.webhook.send(a.orgId, id, {
        object: 'spend_alert.triggered',
        id,
        created_at: Math.floor(now / 1000),
        organization_id: a.orgId,
        project_id: a.projectId,
        period,
        threshold_amount: a.thresholdCents,
        spend_amount: Math.floor(nano / NANO_PER_CENT),
        spend_nano_usd: nano,
        currency: a.currency,
        alert: formatSpendAlertWire(a),
      });
    }
  }
}

/** The alert as OpenAI's API shows it (`organization.spend_alert` or `project.spend_alert`). */
export function formatSpendAlertWire(a: SpendAlert) {
  return {
    id: a.id,
    object: a.projectId === null ? ('organization.spend_alert' as const) : ('project.spend_alert' as const),
    threshold_amount: a.thresholdCents,
    currency: a.currency as 'USD',
    interval: a.interval as 'month',
    notification_channel: { type: a.channel.type as 'email', recipients: a.channel.recipients, subject_prefix: a.channel.subjectPrefix },
  };
}
