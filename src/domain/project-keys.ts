// Project API keys as a project sees them: keys of kind `project` owned by its users or service
// accounts, with their owners resolved.
import type { Store } from '../store/db.ts';
import type { ApiKeyRow } from '../store/schema.ts';
import { type Actor, requireProjectWrite, requireProjectRead, projectAccess } from './actor.ts';
import { notFound } from './errors.ts';
import type { ExpiryInput } from './expiry.ts';
import type { IssuedKey, KeyService } from './keys.ts';
import { loadProjectUser } from './project-users.ts';
import { KEY_PREFIX } from '../crypto/keys.ts';
import type { Page, PageQuery } from './paging.ts';
import { loadActiveProject, loadProject } from './projects.ts';

export type OwnerAccess = 'active' | 'inactive' | 'any';

export interface KeyOwner {
  type: 'user' | 'service_account';
  id: string;
  name: string;
  email?: string;
  role: string;
  created_at: number;
}

export class ProjectKeyService {
  constructor(
    private readonly store: Store,
    private readonly keys: KeyService,
  ) {}

  async list(actor: Actor, orgId: string, projectId: string, access: OwnerAccess, page: PageQuery): Promise<Page<ApiKeyRow>> {
    requireProjectRead(actor, orgId, projectId);
    await loadProject(this.store.db, orgId, projectId);
    const statuses = access === 'active' ? (['active'] as const) : access === 'inactive' ? (['deactivated', 'revoked'] as const) : undefined;
    return this.keys.list(actor, orgId, { kind: 'project', projectId, ...(statuses ? { statuses: [...statuses] } : {}) }, page);
  }

  async get(actor: Actor, orgId: string, projectId: string, keyId: string): Promise<ApiKeyRow> {
    requireProjectRead(actor, orgId, projectId);
    await loadProject(this.store.db, orgId, projectId);
    const row = await this.keys.get(actor, orgId, keyId, 'project');
    if (row.project_id !== projectId) throw notFound(`No such API key: '${keyId}'.`, 'api_key_id');
    return row;
  }

  async update(actor: Actor, orgId: string, projectId: string, keyId: string, input: { scopes?: string[] | undefined } & ExpiryInput): Promise<ApiKeyRow> {
    requireProjectWrite(actor, orgId, projectId);
    await loadActiveProject(this.store.db, orgId, projectId);
    return this.keys.modify(actor, orgId, keyId, input, { kind: 'project', projectId });
  }

  /** Issues a project key owned by a project member (the secret is returned once). */
  async createForUser(actor: Actor, orgId: string, projectId: string, userId: string, input: { name?: string | undefined } & ExpiryInput): Promise<IssuedKey> {
    // project owners issue keys to any member; a member (`api.project.api_keys.own`) to themselves
    const self = actor.type === 'console_user' && actor.user.userId === userId && projectAccess(actor, orgId, projectId) === 'member';
    if (!self) requireProjectWrite(actor, orgId, projectId);
    return this.store.db.transaction().execute(async (tx) => {
      await loadActiveProject(tx, orgId, projectId);
      await loadProjectUser(tx, projectId, userId);
      return this.keys.issue(tx, actor, { orgId, kind: 'project', projectId, ownerType: 'user', ownerId: userId, name: input.name ?? 'Secret Key', prefix: KEY_PREFIX.project, expiresAt: input.expiresAt, expiresInSeconds: input.expiresInSeconds });
    });
  }

  async delete(actor: Actor, orgId: string, projectId: string, keyId: string): Promise<ApiKeyRow> {
    await this.get(actor, orgId, projectId, keyId);
    await loadActiveProject(this.store.db, orgId, projectId);
    return this.keys.delete(actor, orgId, keyId, 'project');
  }

  /** The owners of `keys` (users with their project role, service accounts), by owner id. */
  async owners(actor: Actor, orgId: string, projectId: string, keys: ApiKeyRow[]): Promise<Map<string, KeyOwner>> {
    requireProjectRead(actor, orgId, projectId);
    const out = new Map<string, KeyOwner>();
    const userIds = [...new Set(keys.filter((k) => k.owner_type === 'user' && k.owner_id).map((k) => k.owner_id!))];
    const saIds = [...new Set(keys.filter((k) => k.owner_type === 'service_account' && k.owner_id).map((k) => k.owner_id!))];
    if (userIds.length) {
      const rows = await this.store.db
        .selectFrom('users')
        .leftJoin('project_members', (j) => j.onRef('project_members.user_id', '=', 'users.id').on('project_members.project_id', '=', projectId))
        .select(['users.id', 'users.name', 'users.email', 'users.created_at', 'project_members.role'])
        .where('users.id', 'in', userIds)
        .execute();
      for (const r of rows) out.set(r.id, { type: 'user', id: r.id, name: r.name, email: r.email, role: r.role ?? 'none', created_at: r.created_at });
    }
    if (saIds.length) {
      const rows = await this.store.db.selectFrom('service_accounts').selectAll().where('org_id', '=', orgId).where('id', 'in', saIds).execute();
      for (const r of rows) out.set(r.id, { type: 'service_account', id: r.id, name: r.name, role: r.role, created_at: r.created_at });
    }
    return out;
  }
}
