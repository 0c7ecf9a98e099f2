// Project service accounts: non-human principals of one project that own project API keys.
import type { Executor, Store } from '../store/db.ts';
import type { ServiceAccountsTable } from '../store/schema.ts';
import type { Selectable } from 'kysely';
import { KEY_PREFIX } from '../crypto/keys.ts';
import { type Actor, requireProjectWrite, requireProjectRead } from './actor.ts';
import { recordAudit } from './audit.ts';
import { invalid, notFound } from './errors.ts';
import { ID_PREFIX, newId } from './ids.ts';
import type { ExpiryInput } from './expiry.ts';
import type { IssuedKey, KeyService } from './keys.ts';
import { keysetPage, type Page, type PageQuery } from './paging.ts';
import { loadActiveProject, loadProject } from './projects.ts';

export type ServiceAccount = Selectable<ServiceAccountsTable>;

export async function loadServiceAccount(db: Executor, orgId: string, projectId: string, id: string): Promise<ServiceAccount> {
  const sa = await db.selectFrom('service_accounts').selectAll().where('org_id', '=', orgId).where('project_id', '=', projectId).where('id', '=', id).executeTakeFirst();
  if (!sa) throw notFound(`No such service account: '${id}'.`, 'service_account_id');
  return sa;
}

function cleanName(name: string | undefined, param = 'name'): string {
  const n = name?.trim();
  if (!n || n.length > 256) throw invalid('A name is 1 to 256 characters.', param);
  return n;
}

export class ServiceAccountService {
  constructor(
    private readonly store: Store,
    private readonly keys: KeyService,
    private readonly now: () => number = Date.now,
  ) {}

  /** Creates a service account and, unless `accountOnly`, its first API key (returned once). */
  async create(actor: Actor, orgId: string, projectId: string, input: { name: string; accountOnly?: boolean } & ExpiryInput): Promise<{ account: ServiceAccount; key: IssuedKey | null }> {
    requireProjectWrite(actor, orgId, projectId);
    const name = cleanName(input.name);
    return this.store.db.transaction().execute(async (tx) => {
      await loadActiveProject(tx, orgId, projectId);
      const now = this.now();
      const account: ServiceAccount = { id: newId(ID_PREFIX.serviceAccount, now), org_id: orgId, project_id: projectId, name, role: input.accountOnly ? 'none' : 'member', created_at: now };
      await tx.insertInto('service_accounts').values(account).execute();
      await recordAudit(tx, actor, { orgId, type: 'service_account.created', targetType: 'service_account', targetId: account.id, projectId, payload: { name, role: account.role } }, now);
      const key = input.accountOnly
        ? null
        : await this.keys.issue(tx, actor, { orgId, kind: 'project', projectId, ownerType: 'service_account', ownerId: account.id, name: 'Secret Key', prefix: KEY_PREFIX.serviceAccount, expiresAt: input.expiresAt, expiresInSeconds: input.expiresInSeconds });
      return { account, key };
    });
  }

  async list(actor: Actor, orgId: string, projectId: string, page: PageQuery): Promise<Page<ServiceAccount>> {
    requireProjectRead(actor, orgId, projectId);
    await loadActiveProject(this.store.db, orgId, projectId);
    const q = this.store.db.selectFrom('service_accounts').selectAll().where('org_id', '=', orgId).where('project_id', '=', projectId);
    return keysetPage(q, 'service_accounts', page);
  }

  async get(actor: Actor, orgId: string, projectId: string, id: string): Promise<ServiceAccount> {
    requireProjectRead(actor, orgId, projectId);
    await loadProject(this.store.db, orgId, projectId);
    return loadServiceAccount(this.store.db, orgId, projectId, id);
  }

  async update(actor: Actor, orgId: string, projectId: string, id: string, input: { name?: string; role?: string }): Promise<ServiceAccount> {
    requireProjectWrite(actor, orgId, projectId);
    if (input.role !== undefined && input.role !== 'owner' && input.role !== 'member') throw invalid(`Invalid role '${input.role}': use owner or member.`, 'role');
    const set: Partial<ServiceAccount> = {};
    if (input.name !== undefined) set.name = cleanName(input.name);
    if (input.role !== undefined) set.role = input.role as 'owner' | 'member';
    return this.store.db.transaction().execute(async (tx) => {
      await loadActiveProject(tx, orgId, projectId);
      const sa = await loadServiceAccount(tx, orgId, projectId, id);
      if (!Object.keys(set).length) return sa;
      await tx.updateTable('service_accounts').set(set).where('id', '=', id).execute();
      await recordAudit(tx, actor, { orgId, type: 'service_account.updated', targetType: 'service_account', targetId: id, projectId, payload: { changes: set } });
      return { ...sa, ...set };
    });
  }

  /** Deletes a service account and every key it owns; the keys are refused on the very next request. */
  async delete(actor: Actor, orgId: string, projectId: string, id: string): Promise<ServiceAccount> {
    requireProjectWrite(actor, orgId, projectId);
    const { sa, hashes } = await this.store.db.transaction().execute(async (tx) => {
      await loadActiveProject(tx, orgId, projectId);
      const sa = await loadServiceAccount(tx, orgId, projectId, id);
      const keys = await tx.selectFrom('api_keys').select(['id', 'secret_hash']).where('owner_type', '=', 'service_account').where('owner_id', '=', id).execute();
      if (keys.length) await tx.deleteFrom('api_keys').where('id', 'in', keys.map((k) => k.id)).execute();
      await tx.deleteFrom('service_accounts').where('id', '=', id).execute();
      await recordAudit(tx, actor, { orgId, type: 'service_account.deleted', targetType: 'service_account', targetId: id, projectId, payload: { name: sa.name, deletedKeyIds: keys.map((k) => k.id) } });
      return { sa, hashes: keys.map((k) => k.secret_hash) };
    });
    for (const h of hashes) await this.keys.invalidate(h);
    return sa;
  }

  /** Issues another key for a service account (the secret is returned once). */
  async createKey(actor: Actor, orgId: string, projectId: string, id: string, input: { name?: string | undefined; scopes?: string[] | undefined } & ExpiryInput): Promise<IssuedKey> {
    requireProjectWrite(actor, orgId, projectId);
    const name = input.name === undefined ? 'Secret Key' : cleanName(input.name);
    return this.store.db.transaction().execute(async (tx) => {
      await loadActiveProject(tx, orgId, projectId);
      await loadServiceAccount(tx, orgId, projectId, id);
      return this.keys.issue(tx, actor, { orgId, kind: 'project', projectId, ownerType: 'service_account', ownerId: id, name, scopes: input.scopes ?? null, prefix: KEY_PREFIX.serviceAccount, expiresAt: input.expiresAt, expiresInSeconds: input.expiresInSeconds });
    });
  }
}
