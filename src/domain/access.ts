// What a signed-in console user may do in an organization: their grants, resolved from everything
// stored through the OpenAI face — their organization role, the organization and project roles
// assigned to them and to their groups, their project memberships and their groups' project roles.
//
// Role permissions (OpenAI's strings, e.g. `api.organization.*`, `api.project.read`) map to levels:
//   - organization write (administer the organization, every project in it): an org role `owner`,
//     or an assigned org role with `*`, `api.organization.*` or any `api.organization…write`;
//   - organization read (see members, groups, roles, invites, credentials masked, usage, audit):
//     every member (the `reader` role included);
//   - per project: `write` (project owner, or a project role with `api.project.*`/`…write`),
//     `member` (`api.project.api_keys.own`: use the project, manage their own keys), `read`
//     (any other project role: `viewer`, `api.project.read`).
// A user sees only the projects they have a level in, unless they have organization write.
// API keys are not affected: their rules stay in actor.ts (an admin key administers everything).
import type { Store } from '../store/db.ts';

export type ProjectAccess = 'write' | 'member' | 'read';

export interface Grants {
  orgWrite: boolean;
  orgRead: boolean;
  /** The projects the user has a level in (without organization write). */
  projects: ReadonlyMap<string, ProjectAccess>;
}

const RANK: Record<ProjectAccess, number> = { read: 1, member: 2, write: 3 };
const higher = (a: ProjectAccess | undefined, b: ProjectAccess): ProjectAccess => (a && RANK[a] >= RANK[b] ? a : b);

/** Whether a permission list grants organization write. */
export function orgWriteIn(perms: readonly string[]): boolean {
  return perms.some((p) => p === '*' || p === 'api.*' || p === 'api.organization.*' || (p.startsWith('api.organization') && (p.endsWith('.write') || p.endsWith('.*'))));
}

/** A project role's level from its permissions. */
export function projectLevelOf(perms: readonly string[]): ProjectAccess {
  if (perms.some((p) => p === '*' || p === 'api.*' || p === 'api.project.*' || (p.startsWith('api.project') && (p.endsWith('.write') || p.endsWith('.*'))))) return 'write';
  if (perms.includes('api.project.api_keys.own')) return 'member';
  return 'read';
}

/** Project roles stored by name on memberships (`owner`, `member`, `viewer`) or as a role id. */
const NAMED: Record<string, ProjectAccess> = { owner: 'write', member: 'member', viewer: 'read' };

const parsePerms = (json: string): string[] => {
  try {
    const v: unknown = JSON.parse(json);
    return Array.isArray(v) ? v.filter((p): p is string => typeof p === 'string') : [];
  } catch {
    return [];
  }
};

export class AccessService {
  constructor(private readonly store: Store) {}

  /** The grants of `userId` in `orgId`, where their organization role is `role`. */
  async grantsOf(userId: string, orgId: string, role: 'owner' | 'reader'): Promise<Grants> {
    const db = this.store.db;
    const groupIds = (await db.selectFrom('group_members').select('group_id').where('org_id', '=', orgId).where('user_id', '=', userId).execute()).map((r) => r.group_id);
    const principals = [userId, ...groupIds];
    const assigned = await db
      .selectFrom('role_assignments')
      .innerJoin('roles', 'roles.id', 'role_assignments.role_id')
      .select(['role_assignments.project_id as project_id', 'roles.project_id as role_project_id', 'roles.permissions as permissions'])
      .where('role_assignments.org_id', '=', orgId)
      .where('role_assignments.principal_id', 'in', principals)
      .execute();
    let orgWrite = role === 'owner';
    const projects = new Map<string, ProjectAccess>();
    const grant = (projectId: string, level: ProjectAccess) => projects.set(projectId, higher(projects.get(projectId), level));
    for (const a of assigned) {
      const perms = parsePerms(a.permissions);
      const projectId = a.project_id || a.role_project_id;
      if (projectId) grant(projectId, projectLevelOf(perms));
      else if (orgWriteIn(perms)) orgWrite = true;
    }
    if (orgWrite) return { orgWrite: true, orgRead: true, projects: new Map() };
    const members = await db.selectFrom('project_members').select(['project_id', 'role']).where('org_id', '=', orgId).where('user_id', '=', userId).execute();
    for (const m of members) grant(m.project_id, NAMED[m.role] ?? 'read');
    if (groupIds.length) {
      const viaGroups = await db.selectFrom('project_groups').select(['project_id', 'role']).where('org_id', '=', orgId).where('group_id', 'in', groupIds).execute();
      const roleIds = viaGroups.map((g) => g.role).filter((r) => !(r in NAMED));
      const perms = new Map<string, string[]>();
      if (roleIds.length) for (const r of await db.selectFrom('roles').select(['id', 'permissions']).where('org_id', '=', orgId).where('id', 'in', roleIds).execute()) perms.set(r.id, parsePerms(r.permissions));
      for (const g of viaGroups) grant(g.project_id, NAMED[g.role] ?? (perms.has(g.role) ? projectLevelOf(perms.get(g.role)!) : 'read'));
    }
    return { orgWrite: false, orgRead: true, projects };
  }
}
