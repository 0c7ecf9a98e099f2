// /v1/organization/users and /v1/organization/invites (OpenAI `users`, `invites`).
import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Core } from '../../domain/core.ts';
import { cursorList } from '../shared/openai-wire.ts';
import { formatInvite, formatOrgUser } from '../shared/openai-objects.ts';
import { Id, PageQuery } from './schemas.ts';
import * as R from '../shared/openai-responses.ts';

const Email = Type.String({ minLength: 3, maxLength: 320 });
const OrgRole = Type.Union([Type.Literal('owner'), Type.Literal('reader')]);

export const usersRoutes: FastifyPluginAsyncTypebox<{ core: Core }> = async (app, { core }) => {
  const users = '/organization/users';
  const UserParams = Type.Object({ user_id: Id });

  app.get(users, { schema: { response: R.ok(R.CursorPage(R.OrgUser)), querystring: Type.Object({ ...PageQuery, 'emails[]': Type.Optional(Type.Array(Email, { maxItems: 100 })), emails: Type.Optional(Type.Array(Email, { maxItems: 100 })) }) } }, async (req) => {
    const emails = [...(req.query['emails[]'] ?? []), ...(req.query.emails ?? [])];
    const page = await core.users.listMembers(req.actor, req.org.id, { emails }, { limit: req.query.limit ?? 20, after: req.query.after });
    return cursorList(page.items.map(formatOrgUser), page.hasMore);
  });

  app.get(`${users}/:user_id`, { schema: { response: R.ok(R.OrgUser), params: UserParams } }, async (req) => formatOrgUser(await core.users.getMember(req.actor, req.org.id, req.params.user_id)));

  app.post(
    `${users}/:user_id`,
    { schema: { response: R.ok(R.OrgUser), params: UserParams, body: Type.Object({ role: Type.Optional(Type.Union([OrgRole, Type.Null()])), role_id: Type.Optional(Type.Union([Type.String(), Type.Null()])), technical_level: Type.Optional(Type.Union([Type.String(), Type.Null()])), developer_persona: Type.Optional(Type.Union([Type.String(), Type.Null()])) }) } },
    async (req) => {
      const orgId = req.org.id;
      if (!req.body.role) return formatOrgUser(await core.users.getMember(req.actor, orgId, req.params.user_id));
      return formatOrgUser(await core.users.updateRole(req.actor, orgId, req.params.user_id, req.body.role));
    },
  );

  app.delete(`${users}/:user_id`, { schema: { response: R.ok(R.Deleted), params: UserParams } }, async (req) => {
    const m = await core.users.removeMember(req.actor, req.org.id, req.params.user_id);
    return { object: 'organization.user.deleted' as const, id: m.id, deleted: true };
  });

  const invites = '/organization/invites';
  const InviteParams = Type.Object({ invite_id: Id });
  const InviteBody = Type.Object({
    email: Email,
    role: OrgRole,
    projects: Type.Optional(Type.Array(Type.Object({ id: Id, role: Type.Union([Type.Literal('member'), Type.Literal('owner')]) }), { maxItems: 100 })),
  });

  app.get(invites, { schema: { response: R.ok(R.CursorPage(R.Invite)), querystring: Type.Object(PageQuery) } }, async (req) => {
    const page = await core.invites.list(req.actor, req.org.id, { limit: req.query.limit ?? 20, after: req.query.after });
    return cursorList(page.items.map(formatInvite), page.hasMore);
  });
  app.post(invites, { schema: { response: R.ok(R.Invite), body: InviteBody } }, async (req) => formatInvite(await core.invites.create(req.actor, req.org.id, req.body)));
  app.get(`${invites}/:invite_id`, { schema: { response: R.ok(R.Invite), params: InviteParams } }, async (req) => formatInvite(await core.invites.get(req.actor, req.org.id, req.params.invite_id)));
  app.delete(`${invites}/:invite_id`, { schema: { response: R.ok(R.Deleted), params: InviteParams } }, async (req) => {
    const inv = await core.invites.delete(req.actor, req.org.id, req.params.invite_id);
    return { object: 'organization.invite.deleted' as const, id: inv.id, deleted: true };
  });
};
