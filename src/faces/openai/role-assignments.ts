// Role assignments of the OpenAI face, four resources of one shape:
//   /v1/organization/users/{user_id}/roles            organization roles of a user
//   /v1/organization/groups/{group_id}/roles          organization roles of a group
//   /v1/projects/{project_id}/users/{user_id}/roles   project roles of a project member
//   /v1/projects/{project_id}/groups/{group_id}/roles project roles of a group added to the project
// Each: list (`NextCursorPage` of `AssignedRoleDetails`), assign (POST `{role_id}`), retrieve and
// unassign (`{object: 'user.role.deleted' | 'group.role.deleted', deleted: true}`).
import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import type { Core } from '../../domain/core.ts';
import type { Assignment, PrincipalType } from '../../domain/roles.ts';
import type { Group } from '../../domain/groups.ts';
import type { OrgMember } from '../../domain/users.ts';
import { toUnixSeconds } from '../common.ts';
import { nextCursorList } from '../shared/openai-wire.ts';
import { formatAssignedRole, formatRole, nextPageQuery } from './roles.ts';
import { Id } from './schemas.ts';
import * as R from '../shared/openai-responses.ts';

/** The organization user inside a `user.role` assignment. */
export function formatAssignmentUser(u: OrgMember) {
  return { object: 'organization.user' as const, id: u.id, name: u.name, email: u.email, role: u.role, added_at: toUnixSeconds(u.created_at) };
}

/** The group summary inside a `group.role` assignment. */
export function formatAssignmentGroup(g: Group) {
  return { object: 'group' as const, id: g.id, name: g.name, created_at: toUnixSeconds(g.created_at), scim_managed: g.is_scim_managed === 1 };
}

function formatAssignment(a: Assignment) {
  return a.principal === 'user'
    ? { object: 'user.role' as const, user: formatAssignmentUser(a.user), role: formatRole(a.role) }
    : { object: 'group.role' as const, group: formatAssignmentGroup(a.group), role: formatRole(a.role) };
}

const ListQuery = nextPageQuery(1000, 100);
const AssignBody = Type.Object({ role_id: Id });

interface Resource {
  /** Route of the collection, with `:project_id` when project-scoped. */
  path: string;
  principal: PrincipalType;
  /** Path parameter naming the principal. */
  param: 'user_id' | 'group_id';
  project: boolean;
}

const RESOURCES: Resource[] = [
  { path: '/organization/users/:user_id/roles', principal: 'user', param: 'user_id', project: false },
  { path: '/organization/groups/:group_id/roles', principal: 'group', param: 'group_id', project: false },
  { path: '/projects/:project_id/users/:user_id/roles', principal: 'user', param: 'user_id', project: true },
  { path: '/projects/:project_id/groups/:group_id/roles', principal: 'group', param: 'group_id', project: true },
];

export const roleAssignmentsRoutes: FastifyPluginAsyncTypebox<{ core: Core }> = async (app, { core }) => {
  for (const res of RESOURCES) {
    const Params = Type.Object({ ...(res.project ? { project_id: Id } : {}), [res.param]: Id });
    const OneParams = Type.Object({ ...(res.project ? { project_id: Id } : {}), [res.param]: Id, role_id: Id });
    const scope = (req: FastifyRequest) => {
      const p = req.params as Record<string, string>;
      return { principal: { type: res.principal, id: p[res.param]! }, projectId: res.project ? p.project_id! : null };
    };

    app.get(res.path, { schema: { response: R.ok(R.NextCursorPage(R.AssignedRole)), params: Params, querystring: ListQuery } }, async (req) => {
      const { principal, projectId } = scope(req);
      const q = req.query;
      const page = await core.roles.listAssignments(req.actor, req.org.id, principal, projectId, { limit: q.limit ?? 100, after: q.after, order: q.order ?? 'asc' });
      return nextCursorList(page.items.map(formatAssignedRole), page.hasMore, (r) => r.id);
    });

    app.post(res.path, { schema: { response: R.ok(R.Assignment), params: Params, body: AssignBody } }, async (req) => {
      const { principal, projectId } = scope(req);
      return formatAssignment(await core.roles.assign(req.actor, req.org.id, principal, projectId, req.body.role_id));
    });

    app.get(`${res.path}/:role_id`, { schema: { response: R.ok(R.AssignedRole), params: OneParams } }, async (req) => {
      const { principal, projectId } = scope(req);
      return formatAssignedRole(await core.roles.getAssignment(req.actor, req.org.id, principal, projectId, (req.params as { role_id: string }).role_id));
    });

    app.delete(`${res.path}/:role_id`, { schema: { response: R.ok(R.Deleted), params: OneParams } }, async (req) => {
      const { principal, projectId } = scope(req);
      await core.roles.unassign(req.actor, req.org.id, principal, projectId, (req.params as { role_id: string }).role_id);
      return { object: `${res.principal}.role.deleted`, deleted: true };
    });
  }
};
