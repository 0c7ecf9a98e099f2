// Per-organization platform settings the gateway obeys: whether the tenant uses the platform's
// default LLM key, its free trial (on/off and free-form metadata), and its platform metadata: per
// provider LLM options, which providers are listed, and the active LLM / speech-to-text /
// text-to-speech providers. An active provider must have an LLM credential in the vault.
import type { Selectable } from 'kysely';
import type { Executor, Store } from '../store/db.ts';
import type { Organization, PlatformSettingsTable } from '../store/schema.ts';
import { isOperator, requireOrgAdmin, type Actor, requireOrgRead } from './actor.ts';
import { recordAudit } from './audit.ts';
import { MAX_VALUE_BYTES, type CredentialService } from './credentials.ts';
import { forbidden, invalid, notFound } from './errors.ts';
import { lockOrganization } from './locks.ts';
import { resolveOrgUser } from './usage.ts';

type SettingsRow = Selectable<PlatformSettingsTable>;

export interface TenantSettings {
  useDefaultLlmKey: boolean;
  freeTrialEnabled: boolean;
  freeTrialMetadata: Record<string, unknown> | null;
  /** When the free trial started (epoch ms); null: never switched on (or before migration 0005). */
  freeTrialStartedAt: number | null;
}

/** What setFreeTrial changes; at least one of enabled, metadata or restart: true. */
export interface FreeTrialInput {
  enabled?: boolean;
  /** Replaces the metadata; null clears it. */
  metadata?: Record<string, unknown> | null;
  /** The operator only: the trial starts over now (its days, and the usage counted against it). */
  restart?: boolean;
}

/** The allowance fields of free-trial metadata (src/domain/free-trial.ts): whole numbers ≥ 0, or null (no cap). */
const TRIAL_ALLOWANCE_FIELDS = ['tokens', 'requests', 'days'] as const;

export type LlmOptions = Record<string, unknown>;

export interface PlatformMetadata {
  /** One entry per listed provider that has an LLM credential (credentials are never shown here). */
  services: Record<string, { llm_options: LlmOptions }>;
  active_llm: string | null;
  active_stt: string | null;
  active_tts: string | null;
}

export type ActiveField = 'active_llm' | 'active_stt' | 'active_tts';
const ACTIVE_FIELDS: readonly ActiveField[] = ['active_llm', 'active_stt', 'active_tts'];

export interface CreateMetadataInput {
  /** Per provider: a credential to store in the vault (created or replaced) and/or its LLM options. */
  llms?: Record<string, { credential?: unknown; llm_options?: LlmOptions }>;
  active_llm?: string | null;
  active_stt?: string | null;
  active_tts?: string | null;
  /** The organization's platform key (slug), recorded on credentials written here. */
  platform: string;
}

export interface UpdateMetadataInput {
  /** The providers listed in `services` (each needs an LLM credential). */
  llms?: string[];
  active_llm?: string | null;
  active_stt?: string | null;
  active_tts?: string | null;
}

/** A metadata update in the audit catalog's words: the fields it set. */
function settingsChanges(input: UpdateMetadataInput, listed: string[] | null): { llms?: string[] | null; activeLlm?: string | null; activeStt?: string | null; activeTts?: string | null } {
  return {
    ...(input.llms !== undefined ? { llms: listed } : {}),
    ...(input.active_llm !== undefined ? { activeLlm: input.active_llm } : {}),
    ...(input.active_stt !== undefined ? { activeStt: input.active_stt } : {}),
    ...(input.active_tts !== undefined ? { activeTts: input.active_tts } : {}),
  };
}

export const MAX_SETTINGS_BYTES = 16 * 1024;
const MAX_PROVIDERS = 100;
// the credential vault's name rule (src/domain/credentials.ts), checked before anything is written
const PROVIDER = /^[A-Za-z0-9][A-Za-z0-9_.:\- ]{0,254}$/;

const isPlainObject = (v: unknown): v is Record<string, unknown> => !!v && typeof v === 'object' && !Array.isArray(v);
const jsonBytes = (v: unknown): number => Buffer.byteLength(JSON.stringify(v) ?? '', 'utf8');

function parseJson<T>(text: string | null, fallback: T): T {
  if (text === null) return fallback;
  try {
    return JSON.parse(text) as T;
  } catch {
    return fallback;
  }
}

/** When the organization first used the platform's key in a free trial (epoch ms), if it did. */
async function firstTrialUse(db: Executor, orgId: string): Promise<number | null> {
  const row = await db
    .selectFrom('usage_events')
    .select((eb) => eb.fn.min('created_at').as('first'))
    .where('org_id', '=', orgId)
    .where('credential_source', '=', 'free_trial')
    .executeTakeFirst();
  return row?.first === null || row?.first === undefined ? null : Number(row.first);
}

async function loadOrg(db: Executor, orgId: string): Promise<Organization> {
  const org = await db.selectFrom('organizations').selectAll().where('id', '=', orgId).executeTakeFirst();
  if (!org) throw notFound(`No such organization: '${orgId}'.`, 'org');
  return org;
}

export class PlatformService {
  private settingsListeners: Array<(orgId: string) => void> = [];

  constructor(
    private readonly store: Store,
    private readonly credentials: CredentialService,
    private readonly now: () => number = Date.now,
  ) {}

  /** Calls `fn` after a committed change of an organization's default-LLM-key or free-trial switch. */
  onSettingsChange(fn: (orgId: string) => void): void {
    this.settingsListeners.push(fn);
  }

  private settingsChanged(orgId: string): void {
    for (const l of this.settingsListeners) l(orgId);
  }

  async settings(actor: Actor, orgId: string): Promise<TenantSettings> {
    requireOrgRead(actor, orgId);
    const org = await loadOrg(this.store.db, orgId);
    return {
      useDefaultLlmKey: org.use_default_llm_key === 1,
      freeTrialEnabled: org.free_trial_enabled === 1,
      freeTrialMetadata: parseJson<Record<string, unknown> | null>(org.free_trial_metadata, null),
      freeTrialStartedAt: org.free_trial_started_at === null ? null : Number(org.free_trial_started_at),
    };
  }

  /** Turns the use of the platform's default LLM key on or off for the tenant. */
  async setDefaultLlmKey(actor: Actor, orgId: string, enabled: boolean): Promise<boolean> {
    requireOrgAdmin(actor, orgId);
    if (typeof enabled !== 'boolean') throw invalid('enabled must be a boolean.', 'enable');
    const now = this.now();
    await this.store.db.transaction().execute(async (tx) => {
      await loadOrg(tx, orgId);
      await tx.updateTable('organizations').set({ use_default_llm_key: enabled ? 1 : 0, updated_at: now }).where('id', '=', orgId).execute();
      await recordAudit(tx, actor, { orgId, type: 'organization.default_llm_key_updated', targetType: 'organization', targetId: orgId, payload: { enabled } }, now);
    });
    this.settingsChanged(orgId);
    return enabled;
  }

  /**
   * Turns the free trial on or off and/or replaces its metadata (null clears it), or (the operator
   * only) restarts it.
   *
   * The trial's start (`free_trial_started_at`, where its days and counted usage begin) is set the
   * first time it is switched on, and kept from then on: saving it again, or switching it off and on
   * again, does not restart it, so a tenant administrator cannot renew their own trial. A trial on
   * since before migration 0005 (no start recorded) gets, when switched on, the time of its first
   * use of the platform's key if it had any (all that usage still counts), else now. `restart: true`
   * (operator only, e.g. POST /platform/v1/organizations/{slug}/free_trial) sets the start to now,
   * whether the trial is on or not: the days and the usage counted start over.
   */
  async setFreeTrial(actor: Actor, orgId: string, input: FreeTrialInput): Promise<TenantSettings> {
    requireOrgAdmin(actor, orgId);
    if (input.enabled !== undefined && typeof input.enabled !== 'boolean') throw invalid('enabled must be a boolean.', 'enable');
    if (input.restart !== undefined && typeof input.restart !== 'boolean') throw invalid('restart must be a boolean.', 'restart');
    if (input.restart && !isOperator(actor)) throw forbidden('Only the keyplane operator may restart a free trial.');
    if (input.metadata !== undefined && input.metadata !== null) {
      if (!isPlainObject(input.metadata)) throw invalid('Free-trial metadata is a JSON object.', 'metadata');
      if (jsonBytes(input.metadata) > MAX_SETTINGS_BYTES) throw invalid(`Free-trial metadata is at most ${MAX_SETTINGS_BYTES} bytes of JSON.`, 'metadata');
      for (const k of TRIAL_ALLOWANCE_FIELDS) {
        const v = input.metadata[k];
        if (v !== undefined && v !== null && !(typeof v === 'number' && Number.isSafeInteger(v) && v >= 0)) {
          throw invalid(`Free-trial metadata "${k}" is a whole number of ${k} (0 or more), or null for no limit.`, 'metadata');
        }
      }
    }
    if (input.enabled === undefined && input.metadata === undefined && !input.restart) {
      throw invalid(isOperator(actor) ? 'Pass enabled, metadata or restart: true.' : 'Pass enable, disable or metadata.', null, 'nothing_to_change');
    }
    const now = this.now();
    await this.store.db.transaction().execute(async (tx) => {
      const org = await loadOrg(tx, orgId);
      const set: { free_trial_enabled?: number; free_trial_metadata?: string | null; free_trial_started_at?: number; updated_at: number } = { updated_at: now };
      if (input.enabled !== undefined) set.free_trial_enabled = input.enabled ? 1 : 0;
      if (input.metadata !== undefined) set.free_trial_metadata = input.metadata === null ? null : JSON.stringify(input.metadata);
      if (input.restart) set.free_trial_started_at = now;
      else if (input.enabled === true && org.free_trial_started_at === null) set.free_trial_started_at = (await firstTrialUse(tx, orgId)) ?? now;
      await tx.updateTable('organizations').set(set).where('id', '=', orgId).execute();
      await recordAudit(tx, actor, {
        orgId,
        type: 'organization.free_trial_updated',
        targetType: 'organization',
        targetId: orgId,
        payload: {
          ...(input.enabled !== undefined ? { enabled: input.enabled } : {}),
          metadataChanged: input.metadata !== undefined,
          ...(set.free_trial_started_at !== undefined ? { startedAt: set.free_trial_started_at } : {}),
          ...(input.restart ? { restarted: true } : {}),
        },
      }, now);
    });
    this.settingsChanged(orgId);
    return this.settings(actor, orgId);
  }

  /** Whether requests of this user (a member, by id or email) may use the platform's default LLM key. */
  async userUsesDefaultLlmKey(actor: Actor, orgId: string, userRef: string): Promise<boolean> {
    requireOrgRead(actor, orgId);
    await resolveOrgUser(this.store.db, orgId, userRef);
    return (await this.settings(actor, orgId)).useDefaultLlmKey;
  }

  /** Whether this user (a member, by id or email) is in the tenant's free trial. */
  async userInFreeTrial(actor: Actor, orgId: string, userRef: string): Promise<boolean> {
    requireOrgRead(actor, orgId);
    await resolveOrgUser(this.store.db, orgId, userRef);
    return (await this.settings(actor, orgId)).freeTrialEnabled;
  }

  private async row(db: Executor, orgId: string): Promise<SettingsRow | undefined> {
    return db.selectFrom('platform_settings').selectAll().where('org_id', '=', orgId).executeTakeFirst();
  }

  private async build(orgId: string, row: SettingsRow): Promise<PlatformMetadata> {
    const names = await this.credentials.names(orgId, 'llm');
    const listed = parseJson<string[] | null>(row.llms, null);
    const stored = parseJson<Record<string, { llm_options?: LlmOptions }>>(row.services, {});
    const visible = listed ? names.filter((n) => listed.includes(n)) : names;
    const services: PlatformMetadata['services'] = {};
    for (const n of visible) services[n] = { llm_options: stored[n]?.llm_options ?? {} };
    // an active provider whose credential is gone reads as none: the gateway cannot use it
    const active = (p: string | null) => (p !== null && names.includes(p) ? p : null);
    return { services, active_llm: active(row.active_llm), active_stt: active(row.active_stt), active_tts: active(row.active_tts) };
  }

  /** Checks active_* choices: each provider must have an LLM credential (and be listed, when a list is set). */
  private checkActive(input: Partial<Record<ActiveField, string | null>>, withCredential: Set<string>, listed: string[] | null): void {
    for (const f of ACTIVE_FIELDS) {
      const v = input[f];
      if (v === undefined || v === null) continue;
      if (typeof v !== 'string' || !v) throw invalid('Must be a provider name.', f);
      if (!withCredential.has(v)) throw invalid(`No LLM credential for provider '${v}': add one first.`, f, 'no_credential');
      if (listed && !listed.includes(v)) throw invalid(`Provider '${v}' is not in llms.`, f);
    }
  }

  /**
   * Adds platform metadata (also when some exists: the given providers' options and the given
   * active providers replace theirs). Credentials given per provider are stored in the vault first.
   */
  async createMetadata(actor: Actor, orgId: string, input: CreateMetadataInput): Promise<PlatformMetadata> {
    requireOrgAdmin(actor, orgId);
    const llms = input.llms ?? {};
    if (!isPlainObject(llms)) throw invalid('llms is an object of providers.', 'data');
    const providers = Object.keys(llms);
    if (providers.length > MAX_PROVIDERS) throw invalid(`At most ${MAX_PROVIDERS} providers.`, 'data');
    for (const p of providers) {
      if (!PROVIDER.test(p)) throw invalid(`'${p}' is not a valid provider name.`, 'data');
      const entry = llms[p];
      if (!isPlainObject(entry)) throw invalid(`llms.${p} must be an object.`, 'data');
      if (entry.llm_options !== undefined && !isPlainObject(entry.llm_options)) throw invalid(`llms.${p}.llm_options must be an object.`, 'data');
      if (entry.credential !== undefined && jsonBytes(entry.credential) > MAX_VALUE_BYTES) throw invalid(`llms.${p}.credential is too large.`, 'data');
    }
    const existing = await this.row(this.store.db, orgId);
    const names = new Set(await this.credentials.names(orgId, 'llm'));
    const withCredential = new Set([...names, ...providers.filter((p) => llms[p]!.credential !== undefined)]);
    const listed = existing ? parseJson<string[] | null>(existing.llms, null) : null;
    this.checkActive(input, withCredential, listed);
    /** The stored options with the given providers' replaced (the others' kept). */
    const merged = (row: SettingsRow | undefined) => {
      const services = row ? parseJson<Record<string, { llm_options?: LlmOptions }>>(row.services, {}) : {};
      for (const p of providers) {
        const opts = llms[p]!.llm_options;
        if (opts !== undefined) services[p] = { llm_options: opts };
      }
      if (jsonBytes(services) > MAX_SETTINGS_BYTES) throw invalid(`LLM options are at most ${MAX_SETTINGS_BYTES} bytes of JSON in all.`, 'data');
      return services;
    };
    merged(existing);

    // everything is valid: the credentials, then the settings, are written in one transaction
    const written: string[] = [];
    const row = await this.store.db.transaction().execute(async (tx) => {
      // read again inside the transaction, which runs again when a concurrent identical request
      // won a race (src/store/db.ts): what it stored is then updated, not created a second time
      written.length = 0;
      // the options are merged into what is stored: concurrent calls take turns, so that none loses
      // another's providers (the organization's row written first: src/domain/locks.ts)
      await lockOrganization(tx, orgId);
      const stored = new Set(await this.credentials.names(orgId, 'llm', tx));
      for (const p of providers) {
        const value = llms[p]!.credential;
        if (value === undefined) continue;
        if (stored.has(p)) await this.credentials.update(actor, orgId, 'llm', p, { value }, tx);
        else await this.credentials.create(actor, orgId, 'llm', { name: p, value, platform: input.platform }, tx);
        written.push(p);
      }
      const now = this.now();
      const current = await this.row(tx, orgId);
      const next: SettingsRow = {
        org_id: orgId,
        services: JSON.stringify(merged(current)),
        active_llm: input.active_llm !== undefined ? input.active_llm : (current?.active_llm ?? null),
        active_stt: input.active_stt !== undefined ? input.active_stt : (current?.active_stt ?? null),
        active_tts: input.active_tts !== undefined ? input.active_tts : (current?.active_tts ?? null),
        llms: current?.llms ?? null,
        created_at: current?.created_at ?? now,
        updated_at: now,
      };
      if (current) await tx.updateTable('platform_settings').set(next).where('org_id', '=', orgId).execute();
      else await tx.insertInto('platform_settings').values(next).execute();
      await recordAudit(tx, actor, {
        orgId,
        type: current ? 'platform_settings.updated' : 'platform_settings.created',
        targetType: 'platform_settings',
        targetId: orgId,
        payload: { providers, credentialsWritten: written, activeLlm: next.active_llm, activeStt: next.active_stt, activeTts: next.active_tts },
      }, now);
      return next;
    });
    // the credentials were written in this transaction: their change notices follow its commit
    for (const p of written) this.credentials.changed(orgId, 'llm', p);
    return this.build(orgId, row);
  }

  /** The platform metadata; not found until some was created. */
  async getMetadata(actor: Actor, orgId: string): Promise<PlatformMetadata> {
    requireOrgRead(actor, orgId);
    const row = await this.row(this.store.db, orgId);
    if (!row) throw notFound('No platform metadata for this organization.');
    return this.build(orgId, row);
  }

  /** Changes the listed providers and/or the active ones; not found until metadata was created. */
  async updateMetadata(actor: Actor, orgId: string, input: UpdateMetadataInput): Promise<PlatformMetadata> {
    requireOrgAdmin(actor, orgId);
    const names = new Set(await this.credentials.names(orgId, 'llm'));
    if (input.llms !== undefined) {
      if (!Array.isArray(input.llms) || input.llms.some((n) => typeof n !== 'string')) throw invalid('llms is a list of provider names.', 'llms');
      if (input.llms.length > MAX_PROVIDERS) throw invalid(`At most ${MAX_PROVIDERS} providers.`, 'llms');
      const missing = input.llms.filter((n) => !names.has(n));
      if (missing.length) throw invalid(`No LLM credential for provider${missing.length > 1 ? 's' : ''} ${missing.map((n) => `'${n}'`).join(', ')}.`, 'llms', 'no_credential');
    }
    const now = this.now();
    const row = await this.store.db.transaction().execute(async (tx) => {
      const current = await this.row(tx, orgId);
      if (!current) throw notFound('No platform metadata for this organization.');
      const listed = input.llms !== undefined ? [...new Set(input.llms)] : parseJson<string[] | null>(current.llms, null);
      this.checkActive(input, names, listed);
      // only what differs from the stored settings: nothing to change, nothing written or audited
      const changed: UpdateMetadataInput = {};
      const set: Partial<SettingsRow> = {};
      if (input.llms !== undefined && JSON.stringify(listed) !== current.llms) {
        set.llms = JSON.stringify(listed);
        changed.llms = input.llms;
      }
      for (const f of ACTIVE_FIELDS) {
        if (input[f] !== undefined && input[f] !== current[f]) {
          set[f] = input[f];
          changed[f] = input[f];
        }
      }
      if (!Object.keys(set).length) return current;
      set.updated_at = now;
      await tx.updateTable('platform_settings').set(set).where('org_id', '=', orgId).execute();
      await recordAudit(tx, actor, { orgId, type: 'platform_settings.updated', targetType: 'platform_settings', targetId: orgId, payload: { changes: settingsChanges(changed, listed) } }, now);
      return { ...current, ...set };
    });
    return this.build(orgId, row);
  }
}
