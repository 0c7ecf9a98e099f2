// Roles and role assignments. A role is scoped to the organization (project_id null) or to one
// project, and carries a list of permission strings. Roles are assigned to users and groups: an
// organization role at organization level only, a project role within its own project only.
// Predefined roles (predefined = 1) cannot be changed or deleted; deleting a role removes its
// assignments.
import type { Executor, Store, Tx } from '../store/db.ts';
import { requireOrgAdmin, type Actor, requireProjectRead, requireOrgRead } from './actor.ts';
import { recordAudit, type AuditPayload } from './audit.ts';
import { invalid, notFound } from './errors.ts';
import { loadGroup, type Group } from './groups.ts';
import { ID_PREFIX, newId } from './ids.ts';
import { keysetPage, type Page, type PageQuery } from './paging.ts';
import { loadActiveProject, loadProject } from './projects.ts';
import { auditUnassign, insertAssignment, loadAssignableRole, scopeOf, toRole, type Principal, type Role } from './role-assignments.ts';
import { loadMember, type OrgMember } from './users.ts';

export { scopeOf, type RoleScopeKind, type Principal, type PrincipalType, type Role } from './role-assignments.ts';

/** A role as assigned to a principal: the role and when it was assigned. */
export interface AssignedRole extends Role {
  assigned_at: number;
}

export interface RoleInput {
  name?: string | null | undefined;
  permissions?: string[] | null | undefined;
  description?: string | null | undefined;
}

/** The result of an assignment: the role and the principal that received it. */
export type Assignment =
  | { principal: 'user'; role: Role; user: OrgMember }
  | { principal: 'group'; role: Role; group: Group };

export const MAX_PERMISSIONS = 1000;
const PERMISSION = /^[A-Za-z0-9_.:*\-/]{1,256}$/;

function cleanRoleName(name: string | null | undefined): string {
  const n = name?.trim();
  if (!n || n.length > 256) throw invalid('A role needs a name of 1 to 256 characters.', 'role_name');
  return n;
}

function cleanPermissions(perms: string[] | null | undefined): string[] {
  if (!Array.isArray(perms)) throw invalid('A role needs a list of permissions.', 'permissions');
  if (perms.length > MAX_PERMISSIONS) throw invalid(`A role has at most ${MAX_PERMISSIONS} permissions.`, 'permissions');
  const out: string[] = [];
  for (const p of perms) {
    const t = typeof p === 'string' ? p.trim() : '';
    if (!PERMISSION.test(t)) throw invalid(`Invalid permission '${String(p)}'.`, 'permissions');
    if (!out.includes(t)) out.push(t);
  }
  return out;
}

function cleanDescription(d: string | null | undefined): string | null {
  if (d === null || d === undefined) return null;
  if (d.length > 2000) throw invalid('A role description has at most 2000 characters.', 'description');
  return d;
}

/**
 * Loads a role of the organization in the given scope (`projectId` null: organization roles), or
 * fails with not found: a role of another scope is unknown there.
 */
export async function loadRole(db: Executor, orgId: string, projectId: string | null, roleId: string): Promise<Role> {
  let q = db.selectFrom('roles').selectAll().where('org_id', '=', orgId).where('id', '=', roleId);
  q = projectId === null ? q.where('project_id', 'is', null) : q.where('project_id', '=', projectId);
  const r = await q.executeTakeFirst();
  if (!r) throw notFound(`No such role: '${roleId}'.`, 'role_id');
  return toRole(r);
}

export class RoleService {
  constructor(
    private readonly store: Store,
    private readonly now: () => number = Date.now,
  ) {}

  // ---- roles ----

  /** Roles of the organization (`projectId` null) or of one project. */
  async list(actor: Actor, orgId: string, projectId: string | null, page: PageQuery): Promise<Page<Role>> {
    (projectId === null ? requireOrgRead(actor, orgId) : requireProjectRead(actor, orgId, projectId));
    if (projectId !== null) await loadProject(this.store.db, orgId, projectId);
    let q = this.store.db.selectFrom('roles').selectAll().where('org_id', '=', orgId);
    q = projectId === null ? q.where('project_id', 'is', null) : q.where('project_id', '=', projectId);
    const p = await keysetPage(q, 'roles', page);
    return { items: p.items.map(toRole), hasMore: p.hasMore };
  }

  async get(actor: Actor, orgId: string, projectId: string | null, roleId: string): Promise<Role> {
    (projectId === null ? requireOrgRead(actor, orgId) : requireProjectRead(actor, orgId, projectId));
    if (projectId !== null) await loadProject(this.store.db, orgId, projectId);
    return loadRole(this.store.db, orgId, projectId, roleId);
  }

  async create(actor: Actor, orgId: string, projectId: string | null, input: RoleInput): Promise<Role> {
    requireOrgAdmin(actor, orgId);
    const name = cleanRoleName(input.name);
    const permissions = cleanPermissions(input.permissions);
    const description = cleanDescription(input.description);
    return this.store.db.transaction().execute(async (tx) => {
      if (projectId !== null) await loadActiveProject(tx, orgId, projectId);
      await this.requireUniqueName(tx, orgId, projectId, name, null);
      const now = this.now();
      const role: Role = { id: newId(ID_PREFIX.role, now), org_id: orgId, project_id: projectId, name, description, permissions, predefined: false, created_at: now, updated_at: now };
      await tx
        .insertInto('roles')
        .values({ id: role.id, org_id: orgId, project_id: projectId, name, description, permissions: JSON.stringify(permissions), predefined: 0, created_at: now, updated_at: now })
        .execute();
      await recordAudit(
        tx,
        actor,
        { orgId, type: 'role.created', targetType: 'role', targetId: role.id, projectId, payload: { name, permissions, resourceId: projectId ?? orgId, scope: scopeOf(role) } },
        now,
      );
      return role;
    });
  }

  /** Changes the name, permissions or description; null or absent fields stay as they are. */
  async update(actor: Actor, orgId: string, projectId: string | null, roleId: string, input: RoleInput): Promise<Role> {
    requireOrgAdmin(actor, orgId);
    const name = input.name === undefined || input.name === null ? undefined : cleanRoleName(input.name);
    const permissions = input.permissions === undefined || input.permissions === null ? undefined : cleanPermissions(input.permissions);
    const description = input.description === undefined || input.description === null ? undefined : cleanDescription(input.description);
    return this.store.db.transaction().execute(async (tx) => {
      if (projectId !== null) await loadActiveProject(tx, orgId, projectId);
      const role = await loadRole(tx, orgId, projectId, roleId);
      if (role.predefined) throw invalid(`Role '${roleId}' is predefined and cannot be changed.`, 'role_id', 'predefined_role');
      const next: Role = { ...role };
      const changes: AuditPayload<'role.updated'>['changes'] = {};
      if (name !== undefined && name !== role.name) {
        await this.requireUniqueName(tx, orgId, projectId, name, roleId);
        next.name = name;
        changes.name = name;
      }
      if (description !== undefined && description !== role.description) {
        next.description = description;
        changes.description = description;
      }
      if (permissions !== undefined) {
        const added = permissions.filter((p) => !role.permissions.includes(p));
        const removed = role.permissions.filter((p) => !permissions.includes(p));
        if (added.length || removed.length || permissions.join('\n') !== role.permissions.join('\n')) {
          next.permissions = permissions;
          changes.permissionsAdded = added;
          changes.permissionsRemoved = removed;
        }
      }
      if (!Object.keys(changes).length) return role;
      const now = this.now();
      next.updated_at = now;
      await tx
        .updateTable('roles')
        .set({ name: next.name, description: next.description, permissions: JSON.stringify(next.permissions), updated_at: now })
        .where('id', '=', roleId)
        .execute();
      await recordAudit(
        tx,
        actor,
        { orgId, type: 'role.updated', targetType: 'role', targetId: roleId, projectId, payload: { changes, resourceId: projectId ?? orgId, scope: scopeOf(role) } },
        now,
      );
      return next;
    });
  }

  /** Deletes a custom role and every assignment of it. */
  async delete(actor: Actor, orgId: string, projectId: string | null, roleId: string): Promise<Role> {
    requireOrgAdmin(actor, orgId);
    return this.store.db.transaction().execute(async (tx) => {
      if (projectId !== null) await loadActiveProject(tx, orgId, projectId);
      const role = await loadRole(tx, orgId, projectId, roleId);
      if (role.predefined) throw invalid(`Role '${roleId}' is predefined and cannot be deleted.`, 'role_id', 'predefined_role');
      const now = this.now();
      const assignments = await tx.selectFrom('role_assignments').selectAll().where('role_id', '=', roleId).execute();
      if (assignments.length) {
        await tx.deleteFrom('role_assignments').where('role_id', '=', roleId).execute();
        for (const ra of assignments) await auditUnassign(tx, actor, orgId, ra, now);
      }
      await tx.deleteFrom('roles').where('id', '=', roleId).execute();
      await recordAudit(tx, actor, { orgId, type: 'role.deleted', targetType: 'role', targetId: roleId, projectId, payload: { name: role.name } }, now);
      return role;
    });
  }

  private async requireUniqueName(tx: Tx, orgId: string, projectId: string | null, name: string, exceptId: string | null): Promise<void> {
    let q = tx.selectFrom('roles').select('id').where('org_id', '=', orgId).where('name', '=', name);
    q = projectId === null ? q.where('project_id', 'is', null) : q.where('project_id', '=', projectId);
    if (exceptId) q = q.where('id', '!=', exceptId);
    if (await q.executeTakeFirst()) {
      throw invalid(`A role named '${name}' already exists ${projectId === null ? 'in this organization' : 'in this project'}.`, 'role_name', 'role_name_taken');
    }
  }

  // ---- assignments ----

  /**
   * Checks that the principal exists where the assignment lives: an organization member or group;
   * in a project, a project member or a group added to the project.
   */
  private async loadPrincipal(db: Executor, orgId: string, principal: Principal, projectId: string | null): Promise<OrgMember | Group> {
    if (principal.type === 'user') {
      const member = await loadMember(db, orgId, principal.id);
      if (projectId !== null) {
        const pm = await db.selectFrom('project_members').select('user_id').where('project_id', '=', projectId).where('user_id', '=', principal.id).executeTakeFirst();
        if (!pm) throw notFound(`No such user in project: '${principal.id}'.`, 'user_id');
      }
      return member;
    }
    const group = await loadGroup(db, orgId, principal.id);
    if (projectId !== null) {
      const pg = await db.selectFrom('project_groups').select('group_id').where('project_id', '=', projectId).where('group_id', '=', principal.id).executeTakeFirst();
      if (!pg) throw notFound(`No such group in project: '${principal.id}'.`, 'group_id');
    }
    return group;
  }

  private assignedQuery(db: Executor, orgId: string, principal: Principal, projectId: string | null) {
    return db
      .selectFrom('role_assignments')
      .innerJoin('roles', 'roles.id', 'role_assignments.role_id')
      .select([
        'roles.id as id',
        'roles.org_id as org_id',
        'roles.project_id as project_id',
        'roles.name as name',
        'roles.description as description',
        'roles.permissions as permissions',
        'roles.predefined as predefined',
        'roles.created_at as created_at',
        'roles.updated_at as updated_at',
        'role_assignments.created_at as assigned_at',
      ])
      .where('role_assignments.org_id', '=', orgId)
      .where('role_assignments.principal_type', '=', principal.type)
      .where('role_assignments.principal_id', '=', principal.id)
      .where('role_assignments.project_id', '=', projectId ?? '');
  }

  /** Roles assigned directly to a principal at organization level (`projectId` null) or in a project. */
  async listAssignments(actor: Actor, orgId: string, principal: Principal, projectId: string | null, page: PageQuery): Promise<Page<AssignedRole>> {
    (projectId === null ? requireOrgRead(actor, orgId) : requireProjectRead(actor, orgId, projectId));
    const db = this.store.db;
    if (projectId !== null) await loadProject(db, orgId, projectId);
    await this.loadPrincipal(db, orgId, principal, projectId);
    const p = await keysetPage(this.assignedQuery(db, orgId, principal, projectId), 'role_assignments', page, 'role_id');
    return { items: p.items.map((r) => ({ ...toRole(r), assigned_at: Number(r.assigned_at) })), hasMore: p.hasMore };
  }

  async getAssignment(actor: Actor, orgId: string, principal: Principal, projectId: string | null, roleId: string): Promise<AssignedRole> {
    (projectId === null ? requireOrgRead(actor, orgId) : requireProjectRead(actor, orgId, projectId));
    const db = this.store.db;
    if (projectId !== null) await loadProject(db, orgId, projectId);
    await this.loadPrincipal(db, orgId, principal, projectId);
    const r = await this.assignedQuery(db, orgId, principal, projectId).where('role_assignments.role_id', '=', roleId).executeTakeFirst();
    if (!r) throw notFound(`Role '${roleId}' is not assigned to ${principal.type} '${principal.id}'.`, 'role_id');
    return { ...toRole(r), assigned_at: Number(r.assigned_at) };
  }

  async assign(actor: Actor, orgId: string, principal: Principal, projectId: string | null, roleId: string): Promise<Assignment> {
    requireOrgAdmin(actor, orgId);
    return this.store.db.transaction().execute(async (tx) => {
      if (projectId !== null) await loadActiveProject(tx, orgId, projectId);
      const who = await this.loadPrincipal(tx, orgId, principal, projectId);
      const role = await loadAssignableRole(tx, orgId, projectId, roleId);
      await insertAssignment(tx, actor, orgId, principal, projectId, role, this.now());
      return principal.type === 'user' ? { principal: 'user', role, user: who as OrgMember } : { principal: 'group', role, group: who as Group };
    });
  }

  async unassign(actor: Actor, orgId: string, principal: Principal, projectId: string | null, roleId: string): Promise<void> {
    requireOrgAdmin(actor, orgId);
    await this.store.db.transaction().execute(async (tx) => {
      if (projectId !== null) await loadActiveProject(tx, orgId, projectId);
      await this.loadPrincipal(tx, orgId, principal, projectId);
      const ra = await tx
        .selectFrom('role_assignments')
        .selectAll()
        .where('org_id', '=', orgId)
        .where('principal_type', '=', principal.type)
        .where('principal_id', '=', principal.id)
        .where('project_id', '=', projectId ?? '')
        .where('role_id', '=', roleId)
        .executeTakeFirst();
      if (!ra) throw notFound(`Role '${roleId}' is not assigned to ${principal.type} '${principal.id}'.`, 'role_id');
      await tx.deleteFrom('role_assignments').where('id', '=', ra.id).execute();
      await auditUnassign(tx, actor, orgId, ra, this.now());
    });
  }
}
