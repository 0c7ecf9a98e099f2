// Roles of the OpenAI face: /v1/organization/roles (organization roles) and
// /v1/projects/{project_id}/roles (project roles; note: no /organization prefix). Both list with
// `NextCursorPage` (`next` is the last role id) and delete with `{object: 'role.deleted', id, deleted}`.
import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Core } from '../../domain/core.ts';
import { MAX_PERMISSIONS, type AssignedRole, type Role } from '../../domain/roles.ts';
import { resourceTypeOf } from './resource-types.ts';
import { toUnixSeconds } from '../common.ts';
import { nextCursorList } from '../shared/openai-wire.ts';
import { Id, Order } from './schemas.ts';
import * as R from '../shared/openai-responses.ts';

export function formatRole(r: Role) {
  return {
    object: 'role' as const,
    id: r.id,
    name: r.name,
    description: r.description,
    permissions: r.permissions,
    resource_type: resourceTypeOf(r),
    predefined_role: r.predefined,
  };
}

/** `AssignedRoleDetails`: a role as listed among a principal's assignments (no `object`). */
export function formatAssignedRole(r: AssignedRole) {
  return {
    id: r.id,
    name: r.name,
    description: r.description,
    permissions: r.permissions,
    resource_type: resourceTypeOf(r),
    predefined_role: r.predefined,
    created_at: toUnixSeconds(r.created_at),
    updated_at: toUnixSeconds(r.updated_at),
    created_by: null,
    created_by_user_obj: null,
    metadata: null,
    assignment_sources: null,
  };
}

/** A POST without a body (no content-type) counts as `{}`, as the SDK's bodyless calls expect. */
/** A `NextCursorPage` query: `after` (the previous page's `next`), `limit` 0…max, `order`. */
export function nextPageQuery(max: number, defaultLimit: number) {
  return Type.Object({
    after: Type.Optional(Id),
    limit: Type.Optional(Type.Integer({ minimum: 0, maximum: max, default: defaultLimit })),
    order: Type.Optional(Order),
  });
}

const Permissions = Type.Array(Type.String({ minLength: 1, maxLength: 256 }), { maxItems: MAX_PERMISSIONS });
const Description = Type.Union([Type.String({ maxLength: 2000 }), Type.Null()]);
const CreateBody = Type.Object({
  role_name: Type.String({ minLength: 1, maxLength: 256 }),
  permissions: Permissions,
  description: Type.Optional(Description),
});
const UpdateBody = Type.Object({
  role_name: Type.Optional(Type.Union([Type.String({ minLength: 1, maxLength: 256 }), Type.Null()])),
  permissions: Type.Optional(Type.Union([Permissions, Type.Null()])),
  description: Type.Optional(Description),
});
const ListQuery = nextPageQuery(1000, 1000);
const ProjectParams = Type.Object({ project_id: Id });
const OrgRoleParams = Type.Object({ role_id: Id });
const ProjectRoleParams = Type.Object({ project_id: Id, role_id: Id });

export const rolesRoutes: FastifyPluginAsyncTypebox<{ core: Core }> = async (app, { core }) => {
  // ---- organization roles ----
  const org = '/organization/roles';

  app.get(org, { schema: { response: R.ok(R.NextCursorPage(R.Role)), querystring: ListQuery } }, async (req) => {
    const q = req.query;
    const page = await core.roles.list(req.actor, req.org.id, null, { limit: q.limit ?? 1000, after: q.after, order: q.order ?? 'asc' });
    return nextCursorList(page.items.map(formatRole), page.hasMore, (r) => r.id);
  });

  app.post(org, { schema: { response: R.ok(R.Role), body: CreateBody } }, async (req) =>
    formatRole(await core.roles.create(req.actor, req.org.id, null, { name: req.body.role_name, permissions: req.body.permissions, description: req.body.description })),
  );

  app.get(`${org}/:role_id`, { schema: { response: R.ok(R.Role), params: OrgRoleParams } }, async (req) =>
    formatRole(await core.roles.get(req.actor, req.org.id, null, req.params.role_id)),
  );

  app.post(`${org}/:role_id`, { schema: { response: R.ok(R.Role), params: OrgRoleParams, body: UpdateBody } }, async (req) =>
    formatRole(await core.roles.update(req.actor, req.org.id, null, req.params.role_id, { name: req.body.role_name, permissions: req.body.permissions, description: req.body.description })),
  );

  app.delete(`${org}/:role_id`, { schema: { response: R.ok(R.Deleted), params: OrgRoleParams } }, async (req) => {
    const r = await core.roles.delete(req.actor, req.org.id, null, req.params.role_id);
    return { object: 'role.deleted' as const, id: r.id, deleted: true };
  });

  // ---- project roles ----
  const proj = '/projects/:project_id/roles';

  app.get(proj, { schema: { response: R.ok(R.NextCursorPage(R.Role)), params: ProjectParams, querystring: ListQuery } }, async (req) => {
    const q = req.query;
    const page = await core.roles.list(req.actor, req.org.id, req.params.project_id, { limit: q.limit ?? 1000, after: q.after, order: q.order ?? 'asc' });
    return nextCursorList(page.items.map(formatRole), page.hasMore, (r) => r.id);
  });

  app.post(proj, { schema: { response: R.ok(R.Role), params: ProjectParams, body: CreateBody } }, async (req) =>
    formatRole(
      await core.roles.create(req.actor, req.org.id, req.params.project_id, { name: req.body.role_name, permissions: req.body.permissions, description: req.body.description }),
    ),
  );

  app.get(`${proj}/:role_id`, { schema: { response: R.ok(R.Role), params: ProjectRoleParams } }, async (req) =>
    formatRole(await core.roles.get(req.actor, req.org.id, req.params.project_id, req.params.role_id)),
  );

  app.post(`${proj}/:role_id`, { schema: { response: R.ok(R.Role), params: ProjectRoleParams, body: UpdateBody } }, async (req) =>
    formatRole(
      await core.roles.update(req.actor, req.org.id, req.params.project_id, req.params.role_id, {
        name: req.body.role_name,
        permissions: req.body.permissions,
        description: req.body.description,
      }),
    ),
  );

  app.delete(`${proj}/:role_id`, { schema: { response: R.ok(R.Deleted), params: ProjectRoleParams } }, async (req) => {
    const r = await core.roles.delete(req.actor, req.org.id, req.params.project_id, req.params.role_id);
    return { object: 'role.deleted' as const, id: r.id, deleted: true };
  });
};
