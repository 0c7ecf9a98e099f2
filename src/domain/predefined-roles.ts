// The roles every organization and every project starts with, as OpenAI's admin API has them.
// They are created with the organization or project, cannot be changed or deleted, and give
// project groups and role assignments something to refer to before any custom role exists.
import type { Tx } from '../store/db.ts';
import { ID_PREFIX, newId } from './ids.ts';

interface Predefined {
  name: string;
  description: string;
  permissions: string[];
}

export const ORG_ROLES: Predefined[] = [
  { name: 'owner', description: 'Full access to the organization: members, projects, keys, billing and settings.', permissions: ['api.organization.*'] },
  { name: 'reader', description: 'Read access to the organization and the projects its members belong to.', permissions: ['api.organization.read'] },
];

export const PROJECT_ROLES: Predefined[] = [
  { name: 'owner', description: 'Full access to the project: members, service accounts, keys, rate limits.', permissions: ['api.project.*'] },
  { name: 'member', description: 'Use the project: make API requests and manage their own keys.', permissions: ['api.project.read', 'api.project.api_keys.own'] },
  { name: 'viewer', description: 'Read-only access to the project.', permissions: ['api.project.read'] },
];

/** Creates the predefined roles of an organization (projectId null) or of a project, inside `tx`. */
export async function seedPredefinedRoles(tx: Tx, orgId: string, projectId: string | null, now: number): Promise<void> {
  const roles = projectId ? PROJECT_ROLES : ORG_ROLES;
  await tx
    .insertInto('roles')
    .values(
      roles.map((r) => ({
        id: newId(ID_PREFIX.role, now),
        org_id: orgId,
        project_id: projectId,
        name: r.name,
        description: r.description,
        permissions: JSON.stringify(r.permissions),
        predefined: 1,
        created_at: now,
        updated_at: now,
      })),
    )
    .execute();
}
