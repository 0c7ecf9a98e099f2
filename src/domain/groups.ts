// Groups: organization groups of users. Members must belong to the organization; a group can be
// added to projects with a project role (which becomes a role assignment of the group in that
// project). Deleting a group removes its memberships, project accesses and role assignments.
import type { Selectable } from 'kysely';
import type { Executor, Store } from '../store/db.ts';
import type { GroupsTable } from '../store/schema.ts';
import { requireOrgAdmin, type Actor, requireProjectWrite, requireProjectRead, requireOrgRead } from './actor.ts';
import { recordAudit } from './audit.ts';
import { conflict, invalid, notFound } from './errors.ts';
import { ID_PREFIX, newId } from './ids.ts';
import { keysetPage, type Page, type PageQuery } from './paging.ts';
import { loadActiveProject, loadProject } from './projects.ts';
import { deleteAssignmentsOf, insertAssignment, loadAssignableRole } from './role-assignments.ts';
import { loadMember } from './users.ts';

export type Group = Selectable<GroupsTable>;

export interface GroupUser {
  id: string;
  email: string;
  name: string;
  /** When the user joined the group. */
  added_at: number;
}

export interface ProjectGroup {
  project_id: string;
  group_id: string;
  group_name: string;
  /** The project role the group was added with. */
  role: string;
  created_at: number;
}

function cleanGroupName(name: string | null | undefined): string {
  const n = name?.trim();
  if (!n || n.length > 255) throw invalid('A group needs a name of 1 to 255 characters.', 'name');
  return n;
}

/** Loads a group of the organization, or fails with not found. */
export async function loadGroup(db: Executor, orgId: string, groupId: string): Promise<Group> {
  const g = await db.selectFrom('groups').selectAll().where('org_id', '=', orgId).where('id', '=', groupId).executeTakeFirst();
  if (!g) throw notFound(`No such group: '${groupId}'.`, 'group_id');
  return g;
}

function groupUsersQuery(db: Executor, groupId: string) {
  return db
    .selectFrom('group_members')
    .innerJoin('users', 'users.id', 'group_members.user_id')
    .select(['users.id as id', 'users.email as email', 'users.name as name', 'group_members.created_at as added_at'])
    .where('group_members.group_id', '=', groupId);
}

function projectGroupsQuery(db: Executor, orgId: string, projectId: string) {
  return db
    .selectFrom('project_groups')
    .innerJoin('groups', 'groups.id', 'project_groups.group_id')
    .select([
      'project_groups.project_id as project_id',
      'project_groups.group_id as group_id',
      'groups.name as group_name',
      'project_groups.role as role',
      'project_groups.created_at as created_at',
    ])
    .where('project_groups.org_id', '=', orgId)
    .where('project_groups.project_id', '=', projectId);
}

export class GroupService {
  constructor(
    private readonly store: Store,
    private readonly now: () => number = Date.now,
  ) {}

  // ---- groups ----

  async list(actor: Actor, orgId: string, page: PageQuery): Promise<Page<Group>> {
    requireOrgRead(actor, orgId);
    return keysetPage(this.store.db.selectFrom('groups').selectAll().where('org_id', '=', orgId), 'groups', page);
  }

  async get(actor: Actor, orgId: string, groupId: string): Promise<Group> {
    requireOrgRead(actor, orgId);
    return loadGroup(this.store.db, orgId, groupId);
  }

  async create(actor: Actor, orgId: string, input: { name: string }): Promise<Group> {
    requireOrgAdmin(actor, orgId);
    const name = cleanGroupName(input.name);
    const now = this.now();
    const group: Group = { id: newId(ID_PREFIX.group, now), org_id: orgId, name, is_scim_managed: 0, created_at: now };
    await this.store.db.transaction().execute(async (tx) => {
      await tx.insertInto('groups').values(group).execute();
      await recordAudit(tx, actor, { orgId, type: 'group.created', targetType: 'group', targetId: group.id, payload: { name } }, now);
    });
    return group;
  }

  async rename(actor: Actor, orgId: string, groupId: string, input: { name: string }): Promise<Group> {
    requireOrgAdmin(actor, orgId);
    const name = cleanGroupName(input.name);
    return this.store.db.transaction().execute(async (tx) => {
      const g = await loadGroup(tx, orgId, groupId);
      if (g.name === name) return g;
      await tx.updateTable('groups').set({ name }).where('id', '=', groupId).execute();
      await recordAudit(tx, actor, { orgId, type: 'group.updated', targetType: 'group', targetId: groupId, payload: { name } });
      return { ...g, name };
    });
  }

  /** Deletes a group with its memberships, project accesses and role assignments. */
  async delete(actor: Actor, orgId: string, groupId: string): Promise<Group> {
    requireOrgAdmin(actor, orgId);
    return this.store.db.transaction().execute(async (tx) => {
      const g = await loadGroup(tx, orgId, groupId);
      const now = this.now();
      await deleteAssignmentsOf(tx, actor, orgId, { type: 'group', id: groupId }, null, now);
      await tx.deleteFrom('group_members').where('group_id', '=', groupId).execute();
      await tx.deleteFrom('project_groups').where('group_id', '=', groupId).execute();
      await tx.deleteFrom('groups').where('id', '=', groupId).execute();
      await recordAudit(tx, actor, { orgId, type: 'group.deleted', targetType: 'group', targetId: groupId, payload: { name: g.name } }, now);
      return g;
    });
  }

  // ---- group users ----

  async listUsers(actor: Actor, orgId: string, groupId: string, page: PageQuery): Promise<Page<GroupUser>> {
    requireOrgRead(actor, orgId);
    await loadGroup(this.store.db, orgId, groupId);
    return keysetPage(groupUsersQuery(this.store.db, groupId), 'group_members', page, 'user_id');
  }

  async getUser(actor: Actor, orgId: string, groupId: string, userId: string): Promise<GroupUser> {
    requireOrgRead(actor, orgId);
    await loadGroup(this.store.db, orgId, groupId);
    const u = await groupUsersQuery(this.store.db, groupId).where('group_members.user_id', '=', userId).executeTakeFirst();
    if (!u) throw notFound(`No such user in group: '${userId}'.`, 'user_id');
    return u;
  }

  /** Adds an organization member to the group. */
  async addUser(actor: Actor, orgId: string, groupId: string, userId: string): Promise<GroupUser> {
    requireOrgAdmin(actor, orgId);
    return this.store.db.transaction().execute(async (tx) => {
      await loadGroup(tx, orgId, groupId);
      const member = await loadMember(tx, orgId, userId);
      const existing = await tx.selectFrom('group_members').select('user_id').where('group_id', '=', groupId).where('user_id', '=', userId).executeTakeFirst();
      if (existing) throw conflict(`${member.email} is already a member of this group.`, 'user_id');
      const now = this.now();
      await tx.insertInto('group_members').values({ group_id: groupId, user_id: userId, org_id: orgId, created_at: now }).execute();
      await recordAudit(tx, actor, { orgId, type: 'group.updated', targetType: 'group', targetId: groupId, payload: { usersAdded: [userId] } }, now);
      return { id: member.id, email: member.email, name: member.name, added_at: now };
    });
  }

  async removeUser(actor: Actor, orgId: string, groupId: string, userId: string): Promise<void> {
    requireOrgAdmin(actor, orgId);
    await this.store.db.transaction().execute(async (tx) => {
      await loadGroup(tx, orgId, groupId);
      const existing = await tx.selectFrom('group_members').select('user_id').where('group_id', '=', groupId).where('user_id', '=', userId).executeTakeFirst();
      if (!existing) throw notFound(`No such user in group: '${userId}'.`, 'user_id');
      await tx.deleteFrom('group_members').where('group_id', '=', groupId).where('user_id', '=', userId).execute();
      await recordAudit(tx, actor, { orgId, type: 'group.updated', targetType: 'group', targetId: groupId, payload: { usersRemoved: [userId] } });
    });
  }

  // ---- project groups ----

  async listProjectGroups(actor: Actor, orgId: string, projectId: string, page: PageQuery): Promise<Page<ProjectGroup>> {
    requireProjectRead(actor, orgId, projectId);
    await loadProject(this.store.db, orgId, projectId);
    return keysetPage(projectGroupsQuery(this.store.db, orgId, projectId), 'project_groups', page, 'group_id');
  }

  async getProjectGroup(actor: Actor, orgId: string, projectId: string, groupId: string): Promise<ProjectGroup> {
    requireProjectRead(actor, orgId, projectId);
    await loadProject(this.store.db, orgId, projectId);
    const pg = await projectGroupsQuery(this.store.db, orgId, projectId).where('project_groups.group_id', '=', groupId).executeTakeFirst();
    if (!pg) throw notFound(`No such group in project: '${groupId}'.`, 'group_id');
    return pg;
  }

  /** Gives a group access to an active project with a role of that project. */
  async addToProject(actor: Actor, orgId: string, projectId: string, input: { groupId: string; roleId: string }): Promise<ProjectGroup> {
    requireProjectWrite(actor, orgId, projectId);
    return this.store.db.transaction().execute(async (tx) => {
      await loadActiveProject(tx, orgId, projectId);
      const group = await loadGroup(tx, orgId, input.groupId);
      const role = await loadAssignableRole(tx, orgId, projectId, input.roleId, 'role');
      const existing = await tx.selectFrom('project_groups').select('group_id').where('project_id', '=', projectId).where('group_id', '=', group.id).executeTakeFirst();
      if (existing) throw conflict(`Group '${group.id}' already has access to this project.`, 'group_id');
      const now = this.now();
      await tx.insertInto('project_groups').values({ project_id: projectId, group_id: group.id, org_id: orgId, role: role.id, created_at: now }).execute();
      await recordAudit(
        tx,
        actor,
        { orgId, type: 'group.updated', targetType: 'group', targetId: group.id, projectId, payload: { projectsAdded: [{ projectId, roleId: role.id }] } },
        now,
      );
      await insertAssignment(tx, actor, orgId, { type: 'group', id: group.id }, projectId, role, now);
      return { project_id: projectId, group_id: group.id, group_name: group.name, role: role.id, created_at: now };
    });
  }

  /** Revokes a group's access to a project, with its role assignments in it. */
  async removeFromProject(actor: Actor, orgId: string, projectId: string, groupId: string): Promise<ProjectGroup> {
    requireProjectWrite(actor, orgId, projectId);
    return this.store.db.transaction().execute(async (tx) => {
      await loadActiveProject(tx, orgId, projectId);
      const pg = await projectGroupsQuery(tx, orgId, projectId).where('project_groups.group_id', '=', groupId).executeTakeFirst();
      if (!pg) throw notFound(`No such group in project: '${groupId}'.`, 'group_id');
      const now = this.now();
      await deleteAssignmentsOf(tx, actor, orgId, { type: 'group', id: groupId }, projectId, now);
      await tx.deleteFrom('project_groups').where('project_id', '=', projectId).where('group_id', '=', groupId).execute();
      await recordAudit(tx, actor, { orgId, type: 'group.updated', targetType: 'group', targetId: groupId, projectId, payload: { projectsRemoved: [projectId] } }, now);
      return pg;
    });
  }
}
