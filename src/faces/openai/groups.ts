// Groups of the OpenAI face:
//   /v1/organization/groups                              groups (list, create, retrieve, rename, delete)
//   /v1/organization/groups/{group_id}/users             group members (list, add, retrieve, remove)
//   /v1/organization/projects/{project_id}/groups        groups with access to a project
// Every list is a `NextCursorPage`: `next` is the last item's id (group id, user id).
import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Core } from '../../domain/core.ts';
import type { Group, GroupUser, ProjectGroup } from '../../domain/groups.ts';
import { notFound } from '../../domain/errors.ts';
import { toUnixSeconds } from '../common.ts';
import { nextCursorList } from '../shared/openai-wire.ts';
import { nextPageQuery } from './roles.ts';
import { Id } from './schemas.ts';
import * as R from '../shared/openai-responses.ts';

export function formatGroup(g: Group) {
  return { id: g.id, name: g.name, created_at: toUnixSeconds(g.created_at), is_scim_managed: g.is_scim_managed === 1, group_type: 'group' as const };
}

export function formatProjectGroup(pg: ProjectGroup) {
  return {
    object: 'project.group' as const,
    project_id: pg.project_id,
    group_id: pg.group_id,
    group_name: pg.group_name,
    group_type: 'group' as const,
    created_at: toUnixSeconds(pg.created_at),
  };
}

const formatGroupUser = (u: GroupUser) => ({ id: u.id, name: u.name, email: u.email });

const GroupName = Type.String({ minLength: 1, maxLength: 255 });
const GroupBody = Type.Object({ name: GroupName });
const GroupParams = Type.Object({ group_id: Id });
const GroupUserParams = Type.Object({ group_id: Id, user_id: Id });
const ProjectParams = Type.Object({ project_id: Id });
const ProjectGroupParams = Type.Object({ project_id: Id, group_id: Id });
const GroupType = Type.Union([Type.Literal('group'), Type.Literal('tenant_group')]);

export const groupsRoutes: FastifyPluginAsyncTypebox<{ core: Core }> = async (app, { core }) => {
  // ---- groups ----
  const groups = '/organization/groups';

  app.get(groups, { schema: { response: R.ok(R.NextCursorPage(R.Group)), querystring: nextPageQuery(1000, 100) } }, async (req) => {
    const q = req.query;
    const page = await core.groups.list(req.actor, req.org.id, { limit: q.limit ?? 100, after: q.after, order: q.order ?? 'asc' });
    return nextCursorList(page.items.map(formatGroup), page.hasMore, (g) => g.id);
  });

  app.post(groups, { schema: { response: R.ok(R.Group), body: GroupBody } }, async (req) => formatGroup(await core.groups.create(req.actor, req.org.id, { name: req.body.name })));

  app.get(`${groups}/:group_id`, { schema: { response: R.ok(R.Group), params: GroupParams } }, async (req) => formatGroup(await core.groups.get(req.actor, req.org.id, req.params.group_id)));

  app.post(`${groups}/:group_id`, { schema: { response: R.ok(R.Group), params: GroupParams, body: GroupBody } }, async (req) => {
    const g = await core.groups.rename(req.actor, req.org.id, req.params.group_id, { name: req.body.name });
    return { id: g.id, name: g.name, created_at: toUnixSeconds(g.created_at), is_scim_managed: g.is_scim_managed === 1 };
  });

  app.delete(`${groups}/:group_id`, { schema: { response: R.ok(R.Deleted), params: GroupParams } }, async (req) => {
    const g = await core.groups.delete(req.actor, req.org.id, req.params.group_id);
    return { object: 'group.deleted' as const, id: g.id, deleted: true };
  });

  // ---- group users ----
  const users = `${groups}/:group_id/users`;

  app.get(users, { schema: { response: R.ok(R.NextCursorPage(R.GroupUser)), params: GroupParams, querystring: nextPageQuery(1000, 100) } }, async (req) => {
    const q = req.query;
    const page = await core.groups.listUsers(req.actor, req.org.id, req.params.group_id, { limit: q.limit ?? 100, after: q.after, order: q.order ?? 'desc' });
    return nextCursorList(page.items.map(formatGroupUser), page.hasMore, (u) => u.id);
  });

  app.post(users, { schema: { response: R.ok(R.GroupUserAdded), params: GroupParams, body: Type.Object({ user_id: Id }) } }, async (req) => {
    const u = await core.groups.addUser(req.actor, req.org.id, req.params.group_id, req.body.user_id);
    return { object: 'group.user' as const, user_id: u.id, group_id: req.params.group_id };
  });

  app.get(`${users}/:user_id`, { schema: { response: R.ok(R.GroupUserDetails), params: GroupUserParams } }, async (req) => {
    const u = await core.groups.getUser(req.actor, req.org.id, req.params.group_id, req.params.user_id);
    return { id: u.id, name: u.name, email: u.email, picture: null, is_service_account: false, user_type: 'user' as const };
  });

  app.delete(`${users}/:user_id`, { schema: { response: R.ok(R.Deleted), params: GroupUserParams } }, async (req) => {
    await core.groups.removeUser(req.actor, req.org.id, req.params.group_id, req.params.user_id);
    return { object: 'group.user.deleted' as const, deleted: true };
  });

  // ---- project groups ----
  const projectGroups = '/organization/projects/:project_id/groups';

  app.get(projectGroups, { schema: { response: R.ok(R.NextCursorPage(R.ProjectGroup)), params: ProjectParams, querystring: nextPageQuery(100, 20) } }, async (req) => {
    const q = req.query;
    const page = await core.groups.listProjectGroups(req.actor, req.org.id, req.params.project_id, { limit: q.limit ?? 20, after: q.after, order: q.order ?? 'asc' });
    return nextCursorList(page.items.map(formatProjectGroup), page.hasMore, (pg) => pg.group_id);
  });

  app.post(projectGroups, { schema: { response: R.ok(R.ProjectGroup), params: ProjectParams, body: Type.Object({ group_id: Id, role: Id }) } }, async (req) =>
    formatProjectGroup(await core.groups.addToProject(req.actor, req.org.id, req.params.project_id, { groupId: req.body.group_id, roleId: req.body.role })),
  );

  app.get(`${projectGroups}/:group_id`, { schema: { response: R.ok(R.ProjectGroup), params: ProjectGroupParams, querystring: Type.Object({ group_type: Type.Optional(GroupType) }) } }, async (req) => {
    // keyplane has no tenant groups: a lookup of one finds nothing.
    if (req.query.group_type === 'tenant_group') throw notFound(`No such tenant group in project: '${req.params.group_id}'.`, 'group_id');
    return formatProjectGroup(await core.groups.getProjectGroup(req.actor, req.org.id, req.params.project_id, req.params.group_id));
  });

  app.delete(`${projectGroups}/:group_id`, { schema: { response: R.ok(R.Deleted), params: ProjectGroupParams } }, async (req) => {
    await core.groups.removeFromProject(req.actor, req.org.id, req.params.project_id, req.params.group_id);
    return { object: 'project.group.deleted' as const, deleted: true };
  });
};
