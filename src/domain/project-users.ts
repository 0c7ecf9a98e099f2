// Project memberships: organization members added to a project as `owner` or `member`.
import type { Executor, Store, Tx } from '../store/db.ts';
import { type Actor, requireProjectWrite, requireProjectRead } from './actor.ts';
import { recordAudit } from './audit.ts';
import { conflict, invalid, notFound } from './errors.ts';
import { keysetPage, type Page, type PageQuery } from './paging.ts';
import { loadActiveProject, loadProject } from './projects.ts';
import { loadMember, normalizeEmail } from './users.ts';

export type ProjectRole = 'owner' | 'member';
export const PROJECT_ROLES: readonly ProjectRole[] = ['owner', 'member'];

export interface ProjectUser {
  id: string;
  email: string;
  name: string;
  role: ProjectRole;
  added_at: number;
}

export function checkProjectRole(role: string | null | undefined): ProjectRole {
  if (!role || !(PROJECT_ROLES as readonly string[]).includes(role)) throw invalid(`Invalid role '${role ?? ''}': use owner or member.`, 'role');
  return role as ProjectRole;
}

function projectUsersQuery(db: Executor, projectId: string) {
  return db
    .selectFrom('project_members')
    .innerJoin('users', 'users.id', 'project_members.user_id')
    .select(['users.id as id', 'users.email as email', 'users.name as name', 'project_members.role as role', 'project_members.created_at as added_at'])
    .where('project_members.project_id', '=', projectId);
}

export async function loadProjectUser(db: Executor, projectId: string, userId: string): Promise<ProjectUser> {
  const u = await projectUsersQuery(db, projectId).where('project_members.user_id', '=', userId).executeTakeFirst();
  if (!u) throw notFound(`No such user in project: '${userId}'.`, 'user_id');
  return u;
}

/** Adds an organization member to a project inside `tx` (shared with invite acceptance). */
export async function addProjectMember(tx: Tx, actor: Actor, orgId: string, projectId: string, userId: string, role: ProjectRole, now: number): Promise<ProjectUser> {
  await loadActiveProject(tx, orgId, projectId);
  const member = await loadMember(tx, orgId, userId);
  const existing = await tx.selectFrom('project_members').select('user_id').where('project_id', '=', projectId).where('user_id', '=', userId).executeTakeFirst();
  if (existing) throw conflict(`${member.email} is already a member of this project.`, 'user_id');
  await tx.insertInto('project_members').values({ project_id: projectId, user_id: userId, org_id: orgId, role, created_at: now }).execute();
  await recordAudit(tx, actor, { orgId, type: 'user.added', targetType: 'user', targetId: userId, projectId, payload: { role, projectId } }, now);
  return { id: member.id, email: member.email, name: member.name, role, added_at: now };
}

export class ProjectUserService {
  constructor(
    private readonly store: Store,
    private readonly now: () => number = Date.now,
  ) {}

  async list(actor: Actor, orgId: string, projectId: string, page: PageQuery): Promise<Page<ProjectUser>> {
    requireProjectRead(actor, orgId, projectId);
    const project = await loadProject(this.store.db, orgId, projectId);
    if (project.status === 'archived') throw invalid(`Project '${projectId}' is archived.`, 'project_id', 'project_archived');
    return keysetPage(projectUsersQuery(this.store.db, projectId), 'project_members', page, 'user_id');
  }

  /** Adds a user by id or email; they must already belong to the organization. */
  async add(actor: Actor, orgId: string, projectId: string, input: { userId?: string | null; email?: string | null; role: string }): Promise<ProjectUser> {
    requireProjectWrite(actor, orgId, projectId);
    const role = checkProjectRole(input.role);
    if (!input.userId && !input.email) throw invalid('Give the user_id or the email of an organization member.', 'user_id');
    return this.store.db.transaction().execute(async (tx) => {
      let userId = input.userId ?? null;
      if (!userId) {
        const email = normalizeEmail(input.email!);
        const u = await tx.selectFrom('users').innerJoin('org_memberships', 'org_memberships.user_id', 'users.id').select('users.id').where('org_memberships.org_id', '=', orgId).where('users.email', '=', email).executeTakeFirst();
        if (!u) throw notFound(`No organization member with email '${email}'.`, 'email');
        userId = u.id;
      }
      return addProjectMember(tx, actor, orgId, projectId, userId, role, this.now());
    });
  }

  async get(actor: Actor, orgId: string, projectId: string, userId: string): Promise<ProjectUser> {
    requireProjectRead(actor, orgId, projectId);
    await loadProject(this.store.db, orgId, projectId);
    return loadProjectUser(this.store.db, projectId, userId);
  }

  async updateRole(actor: Actor, orgId: string, projectId: string, userId: string, role: string | null | undefined): Promise<ProjectUser> {
    requireProjectWrite(actor, orgId, projectId);
    const newRole = checkProjectRole(role);
    return this.store.db.transaction().execute(async (tx) => {
      await loadActiveProject(tx, orgId, projectId);
      const u = await loadProjectUser(tx, projectId, userId);
      if (u.role === newRole) return u;
      await tx.updateTable('project_members').set({ role: newRole }).where('project_id', '=', projectId).where('user_id', '=', userId).execute();
      await recordAudit(tx, actor, { orgId, type: 'user.updated', targetType: 'user', targetId: userId, projectId, payload: { role: newRole, projectId } });
      return { ...u, role: newRole };
    });
  }

  /** Removes a user from a project; their project API keys in it are deleted with them. */
  async remove(actor: Actor, orgId: string, projectId: string, userId: string, onKeysGone: (hashes: string[]) => Promise<void>): Promise<ProjectUser> {
    requireProjectWrite(actor, orgId, projectId);
    const { user, hashes } = await this.store.db.transaction().execute(async (tx) => {
      await loadActiveProject(tx, orgId, projectId);
      const user = await loadProjectUser(tx, projectId, userId);
      const keys = await tx.selectFrom('api_keys').select(['id', 'secret_hash']).where('project_id', '=', projectId).where('owner_type', '=', 'user').where('owner_id', '=', userId).execute();
      if (keys.length) await tx.deleteFrom('api_keys').where('id', 'in', keys.map((k) => k.id)).execute();
      await tx.deleteFrom('role_assignments').where('project_id', '=', projectId).where('principal_type', '=', 'user').where('principal_id', '=', userId).execute();
      await tx.deleteFrom('project_members').where('project_id', '=', projectId).where('user_id', '=', userId).execute();
      await recordAudit(tx, actor, { orgId, type: 'user.deleted', targetType: 'user', targetId: userId, projectId, payload: { projectId, deletedKeyIds: keys.map((k) => k.id) } });
      return { user, hashes: keys.map((k) => k.secret_hash) };
    });
    await onKeysGone(hashes);
    return user;
  }
}
