// The operator's default provider credentials: the platform's own LLM keys, one per provider, used
// for tenants that have the default LLM key or a free trial enabled (see provider-credentials.ts).
// They belong to no organization: each value is sealed under the platform data key (one row, wrapped
// by the master key like every organization's data key), bound to its provider. Only the operator
// manages them (platform API, CLI); reads are masked and audited like tenant credentials; every change
// is audited under the reserved audit organization PLATFORM_AUDIT_ORG (no tenant's).
import type { Store } from '../store/db.ts';
import { open, seal } from '../crypto/envelope.ts';
import { requireOperator, type Actor } from './actor.ts';
import { recordAudit } from './audit.ts';
import { maskSecrets, MAX_VALUE_BYTES, platformCredentialContext, type CredentialService } from './credentials.ts';
import { invalid, notFound } from './errors.ts';
import { ID_PREFIX, newId } from './ids.ts';
import { parseProviderSecret } from './provider-secret.ts';

/**
 * The `audit_logs.org_id` of platform-level events (the operator's default credentials). Not an
 * organization id (those start with `org-`), so no tenant ever lists these rows.
 */
export const PLATFORM_AUDIT_ORG = 'platform';

/** A provider name: the credential vault's name rule (tenants name their LLM credentials after providers). */
export const PROVIDER_NAME = /^[A-Za-z0-9][A-Za-z0-9_.:\- ]{0,254}$/;

export function checkProvider(provider: unknown): string {
  if (typeof provider !== 'string' || !PROVIDER_NAME.test(provider)) {
    throw invalid('A provider name is 1 to 255 characters: letters, digits, space, and _ . : -, starting with a letter or digit.', 'provider');
  }
  return provider;
}

export interface DefaultCredential {
  provider: string;
  /** Masked: every string inside keeps only a short tail. */
  value: unknown;
  created_at: number;
  updated_at: number;
}

/** Tells listeners that the default credential of `provider` changed (after the commit). */
export type DefaultCredentialListener = (provider: string) => void;

export class DefaultCredentialService {
  private listeners: DefaultCredentialListener[] = [];

  constructor(
    private readonly store: Store,
    private readonly credentials: CredentialService,
    private readonly now: () => number = Date.now,
  ) {}

  onChange(fn: DefaultCredentialListener): void {
    this.listeners.push(fn);
  }

  private changed(provider: string): void {
    for (const l of this.listeners) l(provider);
  }

  /** Creates or replaces the default credential of `provider`; the value must hold a usable API key. */
  async set(actor: Actor, provider: string, value: unknown): Promise<DefaultCredential & { created: boolean }> {
    requireOperator(actor);
    checkProvider(provider);
    if (value === undefined) throw invalid('A default credential needs a value.', 'value');
    parseProviderSecret(value, `The default credential for provider '${provider}'`);
    const plaintext = Buffer.from(JSON.stringify(value), 'utf8');
    if (plaintext.length > MAX_VALUE_BYTES) throw invalid(`A credential value is at most ${MAX_VALUE_BYTES} bytes of JSON.`, 'value');
    const now = this.now();
    const out = await this.store.db.transaction().execute(async (tx) => {
      const key = (await this.credentials.platformDataKey(tx, true))!;
      const ciphertext = seal(key, plaintext, platformCredentialContext(provider));
      const existing = await tx.selectFrom('platform_credentials').select(['id', 'created_at']).where('provider', '=', provider).executeTakeFirst();
      let id: string;
      let createdAt: number;
      if (existing) {
        id = existing.id;
        createdAt = Number(existing.created_at);
        await tx.updateTable('platform_credentials').set({ ciphertext, updated_at: now }).where('provider', '=', provider).execute();
      } else {
        id = newId(ID_PREFIX.credential, now);
        createdAt = now;
        await tx.insertInto('platform_credentials').values({ provider, id, ciphertext, created_at: now, updated_at: now }).execute();
      }
      await recordAudit(tx, actor, { orgId: PLATFORM_AUDIT_ORG, type: existing ? 'default_credential.updated' : 'default_credential.created', targetType: 'default_credential', targetId: id, payload: { provider } }, now);
      return { provider, value: maskSecrets(value), created_at: createdAt, updated_at: now, created: !existing };
    });
    this.changed(provider);
    return out;
  }

  /** Every default credential, masked (each decrypt audited as a masked read), by provider name. */
  async list(actor: Actor): Promise<DefaultCredential[]> {
    requireOperator(actor);
    return this.store.db.transaction().execute(async (tx) => {
      const rows = await tx.selectFrom('platform_credentials').selectAll().orderBy('provider').execute();
      if (!rows.length) return [];
      const key = await this.credentials.platformDataKey(tx, false);
      if (!key) throw new Error('platform credentials exist without the platform data key');
      const out: DefaultCredential[] = [];
      for (const r of rows) {
        const value = JSON.parse(open(key, r.ciphertext, platformCredentialContext(r.provider)).toString('utf8')) as unknown;
        await recordAudit(tx, actor, { orgId: PLATFORM_AUDIT_ORG, type: 'default_credential.decrypted', targetType: 'default_credential', targetId: r.id, payload: { provider: r.provider, purpose: 'masked_read' } }, this.now());
        out.push({ provider: r.provider, value: maskSecrets(value), created_at: Number(r.created_at), updated_at: Number(r.updated_at) });
      }
      return out;
    });
  }

  async delete(actor: Actor, provider: string): Promise<void> {
    requireOperator(actor);
    checkProvider(provider);
    await this.store.db.transaction().execute(async (tx) => {
      const row = await tx.selectFrom('platform_credentials').select('id').where('provider', '=', provider).executeTakeFirst();
      if (!row) throw notFound(`No default credential for provider '${provider}'.`, 'provider');
      await tx.deleteFrom('platform_credentials').where('provider', '=', provider).execute();
      await recordAudit(tx, actor, { orgId: PLATFORM_AUDIT_ORG, type: 'default_credential.deleted', targetType: 'default_credential', targetId: row.id, payload: { provider } }, this.now());
    });
    this.changed(provider);
  }

  /**
   * The plaintext default credential of `provider` with its id, or null: one read, no write, no audit
   * row (the resolver audits uses in aggregate). For the gateway's resolver only.
   */
  async open(provider: string): Promise<{ id: string; value: unknown } | null> {
    const row = await this.store.db.selectFrom('platform_credentials').select(['id', 'ciphertext']).where('provider', '=', provider).executeTakeFirst();
    if (!row) return null;
    const key = await this.credentials.platformDataKey(this.store.db, false);
    if (!key) throw new Error('platform credentials exist without the platform data key');
    return { id: row.id, value: JSON.parse(open(key, row.ciphertext, platformCredentialContext(provider)).toString('utf8')) as unknown };
  }
}
