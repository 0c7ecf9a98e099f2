// Role assignments, and the role record they assign: loading a role to assign in a scope, inserting
// and deleting assignments with their audit events. Shared by the roles and groups services (a
// group added to a project gets a role assignment there), so neither of them imports the other.
import type { Selectable } from 'kysely';
import type { Executor, Tx } from '../store/db.ts';
import type { RolesTable } from '../store/schema.ts';
import type { Actor } from './actor.ts';
import { recordAudit } from './audit.ts';
import { conflict, invalid, notFound } from './errors.ts';
import { ID_PREFIX, newId } from './ids.ts';

type RoleRow = Selectable<RolesTable>;

export interface Role {
  id: string;
  org_id: string;
  /** null: an organization role. */
  project_id: string | null;
  name: string;
  description: string | null;
  permissions: string[];
  predefined: boolean;
  created_at: number;
  updated_at: number;
}

export type PrincipalType = 'user' | 'group';
export interface Principal {
  type: PrincipalType;
  id: string;
}

/** A role row as the domain hands it out (permissions parsed, predefined a boolean). */
export function toRole(r: RoleRow): Role {
  let permissions: string[] = [];
  try {
    const p = JSON.parse(r.permissions) as unknown;
    if (Array.isArray(p)) permissions = p.filter((x): x is string => typeof x === 'string');
  } catch {
    permissions = [];
  }
  return {
    id: r.id,
    org_id: r.org_id,
    project_id: r.project_id,
    name: r.name,
    description: r.description,
    permissions,
    predefined: r.predefined === 1,
    created_at: Number(r.created_at),
    updated_at: Number(r.updated_at),
  };
}

/** Where a role applies: the whole organization, or one project. */
export function scopeOf(role: { project_id: string | null }): RoleScopeKind {
  return role.project_id === null ? 'organization' : 'project';
}

export type RoleScopeKind = 'organization' | 'project';

/**
 * Loads a role to assign in `projectId`'s scope (null: organization level). A role of the
 * organization but of another scope is a bad request; a role of no scope here is not found.
 */
export async function loadAssignableRole(db: Executor, orgId: string, projectId: string | null, roleId: string, param = 'role_id'): Promise<Role> {
  const r = await db.selectFrom('roles').selectAll().where('org_id', '=', orgId).where('id', '=', roleId).executeTakeFirst();
  if (!r) throw notFound(`No such role: '${roleId}'.`, param);
  const role = toRole(r);
  if (projectId === null && role.project_id !== null) {
    throw invalid(`Role '${roleId}' is a project role; only organization roles can be assigned at organization level.`, param, 'invalid_role_scope');
  }
  if (projectId !== null && role.project_id !== projectId) {
    throw invalid(
      role.project_id === null
        ? `Role '${roleId}' is an organization role; only roles of project '${projectId}' can be assigned in it.`
        : `Role '${roleId}' belongs to another project; only roles of project '${projectId}' can be assigned in it.`,
      param,
      'invalid_role_scope',
    );
  }
  return role;
}

/** Inserts a role assignment and its audit event inside `tx`; fails if it exists already. */
export async function insertAssignment(tx: Tx, actor: Actor, orgId: string, principal: Principal, projectId: string | null, role: Role, now: number): Promise<string> {
  const scope = projectId ?? '';
  const existing = await tx
    .selectFrom('role_assignments')
    .select('id')
    .where('principal_type', '=', principal.type)
    .where('principal_id', '=', principal.id)
    .where('project_id', '=', scope)
    .where('role_id', '=', role.id)
    .executeTakeFirst();
  if (existing) throw conflict(`Role '${role.id}' is already assigned to ${principal.type} '${principal.id}'.`, 'role_id');
  const id = newId(ID_PREFIX.roleAssignment, now);
  await tx
    .insertInto('role_assignments')
    .values({ id, org_id: orgId, role_id: role.id, principal_type: principal.type, principal_id: principal.id, project_id: scope, created_at: now })
    .execute();
  await recordAudit(
    tx,
    actor,
    {
      orgId,
      type: 'role.assignment.created',
      targetType: 'role_assignment',
      targetId: id,
      projectId,
      payload: { roleId: role.id, principalId: principal.id, principalType: principal.type, resourceId: projectId ?? orgId, scope: scopeOf({ project_id: projectId }) },
    },
    now,
  );
  return id;
}

/** Deletes every role assignment of `principal` in `projectId` (null: all scopes), with audit events. */
export async function deleteAssignmentsOf(tx: Tx, actor: Actor, orgId: string, principal: Principal, projectId: string | null, now: number): Promise<void> {
  let q = tx.selectFrom('role_assignments').selectAll().where('org_id', '=', orgId).where('principal_type', '=', principal.type).where('principal_id', '=', principal.id);
  if (projectId !== null) q = q.where('project_id', '=', projectId);
  const rows = await q.execute();
  if (!rows.length) return;
  await tx.deleteFrom('role_assignments').where('id', 'in', rows.map((r) => r.id)).execute();
  for (const r of rows) await auditUnassign(tx, actor, orgId, r, now);
}

/** Records the audit event of a deleted role assignment (the caller deleted the row). */
export async function auditUnassign(
  tx: Tx,
  actor: Actor,
  orgId: string,
  ra: { id: string; role_id: string; principal_type: string; principal_id: string; project_id: string },
  now: number,
): Promise<void> {
  await recordAudit(
    tx,
    actor,
    {
      orgId,
      type: 'role.assignment.deleted',
      targetType: 'role_assignment',
      targetId: ra.id,
      projectId: ra.project_id || null,
      payload: { roleId: ra.role_id, principalId: ra.principal_id, principalType: ra.principal_type, resourceId: ra.project_id || orgId, scope: scopeOf({ project_id: ra.project_id || null }) },
    },
    now,
  );
}
