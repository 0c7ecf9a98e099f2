// A project's settings beside its rate limits: which models it may use (model permissions), which
// hosted tools of the Responses API it may ask for, which service tiers it may use and which one
// its requests get by default, and its data retention setting; and the organization's data
// retention setting. The first three are enforced by the gateway (src/gateway/project-settings.ts)
// through its per-project policy cache, dropped on every node when they change (Core.changed).
//
// Storage: table project_settings, one row per project that has any setting (no row: every
// default); table organization_data_retention, one row per organization that set one.
//
// Model permissions name models as the client does: a catalog model or one of its aliases. A
// permission applies to the model a name resolves to, so `mini` (an alias of gpt-4o-mini) in an
// allow list allows gpt-4o-mini under both names, and in a deny list denies it under both.
import type { Executor, Store } from '../store/db.ts';
import type { ProjectSettingsTable } from '../store/schema.ts';
import { requireOrgAdmin, type Actor, requireProjectWrite, requireProjectRead, requireOrgRead } from './actor.ts';
import { recordAudit } from './audit.ts';
import { invalid } from './errors.ts';
import { loadActiveProject, loadProject } from './projects.ts';

export const MODEL_MODES = ['allow_list', 'deny_list'] as const;
export type ModelMode = (typeof MODEL_MODES)[number];
export interface ModelPermissions {
  mode: ModelMode;
  /** As given (deduplicated, in order). */
  modelIds: string[];
}
/** Most model ids one policy may name. */
export const MAX_MODEL_IDS = 1000;

/** The hosted tools whose use a project's permissions govern (OpenAI's ProjectHostedToolPermissions). */
export const HOSTED_TOOLS = ['file_search', 'web_search', 'image_generation', 'mcp', 'code_interpreter'] as const;
export type HostedTool = (typeof HOSTED_TOOLS)[number];
export type HostedToolPermissions = Record<HostedTool, boolean>;

/** Tiers a project's requests may get by default. */
export const DEFAULT_TIERS = ['standard', 'fast', 'scale'] as const;
export type DefaultTier = (typeof DEFAULT_TIERS)[number];
/** Tiers beyond Standard a project may be allowed to use. */
export const OPTIONAL_TIERS = ['flex', 'fast', 'ultrafast'] as const;
export type OptionalTier = (typeof OPTIONAL_TIERS)[number];
export interface ServiceTierSettings {
  default: DefaultTier;
  /** `all`: every tier, future ones included; `[]`: Standard only. */
  enabledTiers: 'all' | OptionalTier[];
}
export interface ServiceTierChanges {
  default?: DefaultTier;
  enabledTiers?: 'all' | OptionalTier[];
}

export const ORG_RETENTION_TYPES = ['zero_data_retention', 'modified_abuse_monitoring', 'enhanced_zero_data_retention', 'enhanced_modified_abuse_monitoring'] as const;
export type OrgRetentionType = (typeof ORG_RETENTION_TYPES)[number];
export const PROJECT_RETENTION_TYPES = ['organization_default', 'none', ...ORG_RETENTION_TYPES] as const;
export type ProjectRetentionType = (typeof PROJECT_RETENTION_TYPES)[number];
/**
 * An organization's retention setting until one is set: keyplane keeps no request or response
 * bodies (only usage metadata), which is what zero data retention says.
 */
export const DEFAULT_ORG_RETENTION: OrgRetentionType = 'zero_data_retention';

export interface ProjectSettings {
  /** null: none set, every model allowed. */
  models: ModelPermissions | null;
  tools: HostedToolPermissions;
  tiers: ServiceTierSettings;
  dataRetention: ProjectRetentionType;
}

/** What the gateway enforces: model permissions resolved to catalog models. */
export interface EnforcedSettings {
  /** null: every model allowed. */
  models: { mode: ModelMode; models: ReadonlySet<string> } | null;
  tools: HostedToolPermissions;
  tiers: ServiceTierSettings;
}

export const DEFAULT_ENFORCED: EnforcedSettings = Object.freeze({
  models: null,
  tools: Object.freeze({ file_search: true, web_search: true, image_generation: true, mcp: true, code_interpreter: true }),
  tiers: Object.freeze({ default: 'standard' as const, enabledTiers: 'all' as const }),
});

/** Whether a project with these settings may use catalog model `model`. */
export function modelAllowed(s: EnforcedSettings, model: string): boolean {
  if (!s.models) return true;
  return s.models.mode === 'allow_list' ? s.models.models.has(model) : !s.models.models.has(model);
}

/** Whether optional tier `tier` is enabled. */
export function tierEnabled(s: ServiceTierSettings, tier: OptionalTier): boolean {
  return s.enabledTiers === 'all' || s.enabledTiers.includes(tier);
}

const TOOL_COLUMN = {
  file_search: 'tool_file_search',
  web_search: 'tool_web_search',
  image_generation: 'tool_image_generation',
  mcp: 'tool_mcp',
  code_interpreter: 'tool_code_interpreter',
} as const satisfies Record<HostedTool, keyof ProjectSettingsTable>;

type Row = ProjectSettingsTable;

function parseJson(text: string | null): unknown {
  if (text === null) return null;
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

function settingsOf(row: Row | undefined): ProjectSettings {
  if (!row) return { models: null, tools: { ...DEFAULT_ENFORCED.tools }, tiers: { ...DEFAULT_ENFORCED.tiers }, dataRetention: 'organization_default' };
  const ids = parseJson(row.model_ids);
  const enabled = parseJson(row.tier_enabled);
  const tools = {} as HostedToolPermissions;
  for (const t of HOSTED_TOOLS) tools[t] = Number(row[TOOL_COLUMN[t]]) === 1;
  return {
    models: row.model_mode === 'allow_list' || row.model_mode === 'deny_list' ? { mode: row.model_mode, modelIds: Array.isArray(ids) ? ids.filter((x): x is string => typeof x === 'string') : [] } : null,
    tools,
    tiers: {
      default: (DEFAULT_TIERS as readonly string[]).includes(row.tier_default) ? (row.tier_default as DefaultTier) : 'standard',
      enabledTiers: enabled === 'all' ? 'all' : Array.isArray(enabled) ? enabled.filter((x): x is OptionalTier => (OPTIONAL_TIERS as readonly string[]).includes(x)) : 'all',
    },
    dataRetention: (PROJECT_RETENTION_TYPES as readonly string[]).includes(row.data_retention) ? (row.data_retention as ProjectRetentionType) : 'organization_default',
  };
}

/** A project's full row with every default, for the insert of an upsert. */
function defaultRow(orgId: string, projectId: string, now: number): Row {
  return {
    project_id: projectId,
    org_id: orgId,
    model_mode: null,
    model_ids: null,
    tool_file_search: 1,
    tool_web_search: 1,
    tool_image_generation: 1,
    tool_mcp: 1,
    tool_code_interpreter: 1,
    tier_default: 'standard',
    tier_enabled: '"all"',
    data_retention: 'organization_default',
    updated_at: now,
  };
}

export class ProjectSettingsService {
  private readonly listeners: Array<(projectId: string) => void> = [];

  constructor(
    private readonly store: Store,
    /** The catalog model a model name or alias resolves to; undefined for an unknown name. */
    private readonly resolveModel: (name: string) => string | undefined,
    private readonly now: () => number = Date.now,
  ) {}

  /** Calls `fn` after a setting the gateway enforces changed (committed). */
  onChange(fn: (projectId: string) => void): void {
    this.listeners.push(fn);
  }

  private changed(projectId: string): void {
    for (const l of this.listeners) l(projectId);
  }

  private async row(db: Executor, projectId: string): Promise<Row | undefined> {
    return db.selectFrom('project_settings').selectAll().where('project_id', '=', projectId).executeTakeFirst();
  }

  /** Writes `set` for an active project (the other columns keep their values, or get their defaults). */
  private async upsert(tx: Executor, orgId: string, projectId: string, set: Partial<Row>, now: number): Promise<void> {
    await tx
      .insertInto('project_settings')
      .values({ ...defaultRow(orgId, projectId, now), ...set })
      .onConflict((oc) => oc.column('project_id').doUpdateSet({ ...set, updated_at: now }))
      .execute();
  }

  /** A project's settings (archived projects can be read). */
  async get(actor: Actor, orgId: string, projectId: string): Promise<ProjectSettings> {
    requireProjectRead(actor, orgId, projectId);
    await loadProject(this.store.db, orgId, projectId);
    return settingsOf(await this.row(this.store.db, projectId));
  }

  /**
   * What the gateway enforces for a project, read by keyplane itself (the gateway has admitted the
   * caller's key for this project): one indexed read.
   */
  async enforcedFor(projectId: string): Promise<EnforcedSettings> {
    const row = await this.row(this.store.db, projectId);
    if (!row) return DEFAULT_ENFORCED;
    const s = settingsOf(row);
    let models: EnforcedSettings['models'] = null;
    if (s.models) {
      const set = new Set<string>();
      // an id the catalog no longer knows (KEYPLANE_MODELS_FILE changed) names no model
      for (const id of s.models.modelIds) {
        const m = this.resolveModel(id);
        if (m) set.add(m);
      }
      models = { mode: s.models.mode, models: set };
    }
    return { models, tools: s.tools, tiers: s.tiers };
  }

  /** Replaces a project's model permissions. */
  async setModelPermissions(actor: Actor, orgId: string, projectId: string, input: { mode: unknown; modelIds: unknown }): Promise<ModelPermissions> {
    requireProjectWrite(actor, orgId, projectId);
    if (typeof input.mode !== 'string' || !(MODEL_MODES as readonly string[]).includes(input.mode)) throw invalid(`mode must be one of ${MODEL_MODES.join(', ')}.`, 'mode');
    const mode = input.mode as ModelMode;
    if (!Array.isArray(input.modelIds)) throw invalid('model_ids must be an array of model ids.', 'model_ids');
    if (input.modelIds.length > MAX_MODEL_IDS) throw invalid(`model_ids may name at most ${MAX_MODEL_IDS} models.`, 'model_ids');
    const ids: string[] = [];
    for (const id of input.modelIds) {
      if (typeof id !== 'string' || id.length === 0 || id.length > 200) throw invalid('model_ids must be an array of model ids (non-empty strings).', 'model_ids');
      if (!this.resolveModel(id)) throw invalid(`Unknown model in model_ids: '${id}'.`, 'model_ids', 'model_not_found');
      if (!ids.includes(id)) ids.push(id);
    }
    await this.store.db.transaction().execute(async (tx) => {
      await loadActiveProject(tx, orgId, projectId);
      const now = this.now();
      await this.upsert(tx, orgId, projectId, { model_mode: mode, model_ids: JSON.stringify(ids) }, now);
      await recordAudit(tx, actor, { orgId, type: 'project.model_permissions_updated', targetType: 'project', targetId: projectId, projectId, payload: { mode, modelIds: ids } }, now);
    });
    this.changed(projectId);
    return { mode, modelIds: ids };
  }

  /** Removes a project's model permissions (every model allowed again); true when it had some. */
  async deleteModelPermissions(actor: Actor, orgId: string, projectId: string): Promise<boolean> {
    requireProjectWrite(actor, orgId, projectId);
    const had = await this.store.db.transaction().execute(async (tx) => {
      await loadActiveProject(tx, orgId, projectId);
      const row = await this.row(tx, projectId);
      if (!row || row.model_mode === null) return false;
      const now = this.now();
      await tx.updateTable('project_settings').set({ model_mode: null, model_ids: null, updated_at: now }).where('project_id', '=', projectId).execute();
      await recordAudit(tx, actor, { orgId, type: 'project.model_permissions_deleted', targetType: 'project', targetId: projectId, projectId, payload: { mode: row.model_mode as ModelMode } }, now);
      return true;
    });
    if (had) this.changed(projectId);
    return had;
  }

  /** Enables or disables some hosted tools; the others keep their state. */
  async updateHostedTools(actor: Actor, orgId: string, projectId: string, changes: Partial<HostedToolPermissions>): Promise<HostedToolPermissions> {
    requireProjectWrite(actor, orgId, projectId);
    const set: Partial<Row> = {};
    const given: Partial<HostedToolPermissions> = {};
    for (const t of HOSTED_TOOLS) {
      const v = changes[t];
      if (v === undefined) continue;
      if (typeof v !== 'boolean') throw invalid(`${t}.enabled must be a boolean.`, t);
      set[TOOL_COLUMN[t]] = v ? 1 : 0;
      given[t] = v;
    }
    const tools = await this.store.db.transaction().execute(async (tx) => {
      await loadActiveProject(tx, orgId, projectId);
      if (Object.keys(given).length) {
        const now = this.now();
        await this.upsert(tx, orgId, projectId, set, now);
        await recordAudit(tx, actor, { orgId, type: 'project.hosted_tool_permissions_updated', targetType: 'project', targetId: projectId, projectId, payload: { changes: given } }, now);
      }
      return settingsOf(await this.row(tx, projectId)).tools;
    });
    if (Object.keys(given).length) this.changed(projectId);
    return tools;
  }

  /** Sets the default tier, the enabled tiers, or both (at least one). */
  async updateServiceTiers(actor: Actor, orgId: string, projectId: string, changes: ServiceTierChanges): Promise<ServiceTierSettings> {
    requireProjectWrite(actor, orgId, projectId);
    if (changes.default === undefined && changes.enabledTiers === undefined) throw invalid('Supply at least one of default and enabled_tiers.', null, 'missing_required_parameter');
    if (changes.default !== undefined && !(DEFAULT_TIERS as readonly string[]).includes(changes.default)) throw invalid(`default must be one of ${DEFAULT_TIERS.join(', ')}.`, 'default');
    let enabled: 'all' | OptionalTier[] | undefined;
    if (changes.enabledTiers !== undefined) {
      if (changes.enabledTiers === 'all') enabled = 'all';
      else if (Array.isArray(changes.enabledTiers) && changes.enabledTiers.every((t) => (OPTIONAL_TIERS as readonly string[]).includes(t))) {
        enabled = OPTIONAL_TIERS.filter((t) => (changes.enabledTiers as string[]).includes(t));
      } else throw invalid(`enabled_tiers must be "all" or an array of ${OPTIONAL_TIERS.join(', ')}.`, 'enabled_tiers');
    }
    const tiers = await this.store.db.transaction().execute(async (tx) => {
      await loadActiveProject(tx, orgId, projectId);
      // the check below reads what it then writes: concurrent updates of one project's tiers take
      // turns (PostgreSQL: the project's row locked; SQLite runs one write transaction at a time)
      if (this.store.dialect === 'postgres') await tx.selectFrom('projects').select('id').where('id', '=', projectId).forUpdate().execute();
      const current = settingsOf(await this.row(tx, projectId)).tiers;
      const next: ServiceTierSettings = { default: changes.default ?? current.default, enabledTiers: enabled ?? current.enabledTiers };
      // the default must be a tier the project may use (Standard and Scale need no enabling)
      if (next.default === 'fast' && !tierEnabled(next, 'fast')) {
        throw invalid("The default tier 'fast' must be among enabled_tiers.", changes.enabledTiers !== undefined && changes.default === undefined ? 'enabled_tiers' : 'default');
      }
      const now = this.now();
      const set: Partial<Row> = {};
      if (changes.default !== undefined) set.tier_default = next.default;
      if (enabled !== undefined) set.tier_enabled = JSON.stringify(enabled);
      await this.upsert(tx, orgId, projectId, set, now);
      await recordAudit(
        tx,
        actor,
        { orgId, type: 'project.service_tier_settings_updated', targetType: 'project', targetId: projectId, projectId, payload: { changes: { ...(changes.default !== undefined ? { default: next.default } : {}), ...(enabled !== undefined ? { enabledTiers: enabled } : {}) } } },
        now,
      );
      return next;
    });
    this.changed(projectId);
    return tiers;
  }

  /** Sets a project's data retention type. */
  async setProjectRetention(actor: Actor, orgId: string, projectId: string, type: unknown): Promise<ProjectRetentionType> {
    requireProjectWrite(actor, orgId, projectId);
    if (typeof type !== 'string' || !(PROJECT_RETENTION_TYPES as readonly string[]).includes(type)) throw invalid(`retention_type must be one of ${PROJECT_RETENTION_TYPES.join(', ')}.`, 'retention_type');
    const t = type as ProjectRetentionType;
    await this.store.db.transaction().execute(async (tx) => {
      await loadActiveProject(tx, orgId, projectId);
      const now = this.now();
      await this.upsert(tx, orgId, projectId, { data_retention: t }, now);
      await recordAudit(tx, actor, { orgId, type: 'project.data_retention_updated', targetType: 'project', targetId: projectId, projectId, payload: { retentionType: t } }, now);
    });
    return t;
  }

  /** The organization's data retention type. */
  async orgRetention(actor: Actor, orgId: string): Promise<OrgRetentionType> {
    requireOrgRead(actor, orgId);
    const row = await this.store.db.selectFrom('organization_data_retention').select('retention_type').where('org_id', '=', orgId).executeTakeFirst();
    return row && (ORG_RETENTION_TYPES as readonly string[]).includes(row.retention_type) ? (row.retention_type as OrgRetentionType) : DEFAULT_ORG_RETENTION;
  }

  /** Sets the organization's data retention type. */
  async setOrgRetention(actor: Actor, orgId: string, type: unknown): Promise<OrgRetentionType> {
    requireOrgAdmin(actor, orgId);
    if (typeof type !== 'string' || !(ORG_RETENTION_TYPES as readonly string[]).includes(type)) throw invalid(`retention_type must be one of ${ORG_RETENTION_TYPES.join(', ')}.`, 'retention_type');
    const t = type as OrgRetentionType;
    await this.store.db.transaction().execute(async (tx) => {
      const now = this.now();
      await tx
        .insertInto('organization_data_retention')
        .values({ org_id: orgId, retention_type: t, updated_at: now })
        .onConflict((oc) => oc.column('org_id').doUpdateSet({ retention_type: t, updated_at: now }))
        .execute();
      await recordAudit(tx, actor, { orgId, type: 'organization.data_retention_updated', targetType: 'organization', targetId: orgId, payload: { retentionType: t } }, now);
    });
    return t;
  }
}
