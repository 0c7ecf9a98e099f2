// Per-project, per-model rate limits. Every project has one rate limit per model of the catalog
// (config: KEYPLANE_MODELS_FILE, else the built-in one): the catalog's defaults, overridden field by
// field by what was set for the project (table rate_limits, one row per project and model, NULL
// meaning "the default"). A limit's id is `rl-<model>`, as in OpenAI's API.
import type { Executor, Store } from '../store/db.ts';
import { type Actor, requireProjectWrite, requireProjectRead } from './actor.ts';
import { recordAudit } from './audit.ts';
import { invalid, notFound } from './errors.ts';
import { ID_PREFIX, newId } from './ids.ts';
import { LIMIT_FIELDS, MAX_LIMIT, type LimitField, type ModelCatalog, type ModelLimits } from './model-catalog.ts';
import type { Page } from './paging.ts';
import { loadActiveProject, loadProject } from './projects.ts';

export interface RateLimit {
  /** `rl-<model>` */
  id: string;
  model: string;
  /** The limits that exist for this model (the catalog's fields), with the project's overrides applied. */
  limits: ModelLimits;
}

export type RateLimitChanges = Partial<Record<LimitField, number>>;

export interface RateLimitPageQuery {
  limit: number;
  after?: string | undefined;
  before?: string | undefined;
}

export const RATE_LIMIT_ID_PREFIX = 'rl-';
export const rateLimitId = (model: string): string => RATE_LIMIT_ID_PREFIX + model;

type Override = Partial<Record<LimitField, number | null>>;

function merge(model: string, defaults: Readonly<ModelLimits>, override: Override | undefined): RateLimit {
  const limits = { ...defaults } as ModelLimits;
  if (override) {
    for (const f of LIMIT_FIELDS) {
      const v = override[f];
      if (v !== null && v !== undefined && defaults[f] !== undefined) limits[f] = Number(v);
    }
  }
  return { id: rateLimitId(model), model, limits };
}

export class RateLimitService {
  private readonly models: string[];

  private readonly listeners: Array<(projectId: string) => void> = [];

  /** Calls `fn` after a project's limits changed (committed). */
  onChange(fn: (projectId: string) => void): void {
    this.listeners.push(fn);
  }

  constructor(
    private readonly store: Store,
    private readonly catalog: ModelCatalog,
    private readonly now: () => number = Date.now,
  ) {
    this.models = [...catalog.keys()];
  }

  private async overrides(db: Executor, projectId: string, models?: string[]): Promise<Map<string, Override>> {
    let q = db.selectFrom('rate_limits').selectAll().where('project_id', '=', projectId);
    if (models) q = q.where('model', 'in', models);
    const rows = await q.execute();
    return new Map(rows.map((r) => [r.model, r]));
  }

  private index(id: string, param: string): number {
    const i = id.startsWith(RATE_LIMIT_ID_PREFIX) ? this.models.indexOf(id.slice(RATE_LIMIT_ID_PREFIX.length)) : -1;
    if (i < 0) throw invalid(`No such rate limit to page from: '${id}'.`, param, 'invalid_cursor');
    return i;
  }

  /**
   * What the gateway enforces for a project, read by keyplane itself (no actor: the gateway has
   * already admitted the caller's key for this project): whether it is archived, and every model's
   * limits with the project's overrides applied. Two indexed reads; the gateway caches the answer
   * for at most a second, so a change applies within one second.
   */
  async enforcedFor(orgId: string, projectId: string): Promise<{ archived: boolean; limits: Map<string, ModelLimits> } | null> {
    const db = this.store.db;
    const project = await db.selectFrom('projects').select('status').where('org_id', '=', orgId).where('id', '=', projectId).executeTakeFirst();
    if (!project) return null;
    const over = await this.overrides(db, projectId);
    const limits = new Map<string, ModelLimits>();
    for (const [model, defaults] of this.catalog) limits.set(model, merge(model, defaults, over.get(model)).limits);
    return { archived: project.status === 'archived', limits };
  }

  /** The project's rate limits, in catalog order; archived projects can be read. */
  async list(actor: Actor, orgId: string, projectId: string, page: RateLimitPageQuery): Promise<Page<RateLimit>> {
    requireProjectRead(actor, orgId, projectId);
    await loadProject(this.store.db, orgId, projectId);
    const start = page.after !== undefined ? this.index(page.after, 'after') + 1 : 0;
    const end = page.before !== undefined ? this.index(page.before, 'before') : this.models.length;
    let slice: string[];
    let hasMore: boolean;
    if (page.before !== undefined && page.after === undefined) {
      // walking backwards: the `limit` models right before the cursor
      const from = Math.max(start, end - page.limit);
      slice = this.models.slice(from, end);
      hasMore = from > start;
    } else {
      slice = this.models.slice(start, Math.max(start, Math.min(end, start + page.limit)));
      hasMore = start + page.limit < end;
    }
    const over = slice.length ? await this.overrides(this.store.db, projectId, slice) : new Map<string, Override>();
    return { items: slice.map((m) => merge(m, this.catalog.get(m)!, over.get(m))), hasMore };
  }

  /** Sets some limits of one model for an active project; the others keep their values. */
  async update(actor: Actor, orgId: string, projectId: string, id: string, changes: RateLimitChanges): Promise<RateLimit> {
    requireProjectWrite(actor, orgId, projectId);
    const model = id.startsWith(RATE_LIMIT_ID_PREFIX) ? id.slice(RATE_LIMIT_ID_PREFIX.length) : '';
    const defaults = this.catalog.get(model);
    const set: RateLimitChanges = {};
    for (const f of LIMIT_FIELDS) {
      const v = changes[f];
      if (v === undefined) continue;
      if (!Number.isInteger(v) || v < 1 || v > MAX_LIMIT) throw invalid(`${f} must be a positive integer up to ${MAX_LIMIT}.`, f);
      set[f] = v;
    }
    const result = await this.store.db.transaction().execute(async (tx) => {
      await loadActiveProject(tx, orgId, projectId);
      if (!defaults) throw notFound(`No such rate limit: '${id}'.`, 'rate_limit_id');
      for (const f of Object.keys(set) as LimitField[]) {
        if (defaults[f] === undefined) throw invalid(`Model '${model}' has no ${f} limit.`, f, 'limit_not_applicable');
      }
      if (Object.keys(set).length) {
        const now = this.now();
        await tx
          .insertInto('rate_limits')
          .values({ id: newId(ID_PREFIX.rateLimit, now), org_id: orgId, project_id: projectId, model, ...set, updated_at: now })
          .onConflict((oc) => oc.columns(['project_id', 'model']).doUpdateSet({ ...set, updated_at: now }))
          .execute();
        await recordAudit(tx, actor, { orgId, type: 'rate_limit.updated', targetType: 'rate_limit', targetId: id, projectId, payload: { model, changes: set } }, now);
      }
      const over = await this.overrides(tx, projectId, [model]);
      return merge(model, defaults, over.get(model));
    });
    if (Object.keys(set).length) for (const l of this.listeners) l(projectId);
    return result;
  }

  /** The effective limits of `model` in a project (for the gateway), or null when the model is not in the catalog. */
  async effective(projectId: string, model: string): Promise<ModelLimits | null> {
    const defaults = this.catalog.get(model);
    if (!defaults) return null;
    const over = await this.overrides(this.store.db, projectId, [model]);
    return merge(model, defaults, over.get(model)).limits;
  }
}
