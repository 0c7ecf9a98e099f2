// /v1/organization/projects/{project_id}/users, /service_accounts (+ their api_keys) and /api_keys.
import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Core } from '../../domain/core.ts';
import type { ProjectUser } from '../../domain/project-users.ts';
import type { ServiceAccount } from '../../domain/service-accounts.ts';
import type { KeyOwner } from '../../domain/project-keys.ts';
import type { ApiKeyRow } from '../../store/schema.ts';
import { invalid } from '../../domain/errors.ts';
import { toUnixSeconds, toUnixSecondsOrNull } from '../common.ts';
import { cursorList } from '../shared/openai-wire.ts';
import { Id, PageQuery } from './schemas.ts';
import * as R from '../shared/openai-responses.ts';

export function formatProjectUser(u: ProjectUser) {
  return { object: 'organization.project.user' as const, id: u.id, name: u.name, email: u.email, role: u.role, added_at: toUnixSeconds(u.added_at) };
}

export function formatServiceAccount(sa: ServiceAccount) {
  return { object: 'organization.project.service_account' as const, id: sa.id, name: sa.name, role: sa.role, created_at: toUnixSeconds(sa.created_at) };
}

function formatSaKey(row: ApiKeyRow, secret: string) {
  return { object: 'organization.project.service_account.api_key' as const, id: row.id, name: row.name ?? '', value: secret, created_at: toUnixSeconds(row.created_at), expires_at: toUnixSecondsOrNull(row.expires_at) };
}

export function formatProjectKey(row: ApiKeyRow, owners: Map<string, KeyOwner>) {
  const o = row.owner_id ? owners.get(row.owner_id) : undefined;
  const owner =
    o?.type === 'user'
      ? { type: 'user' as const, user: { id: o.id, name: o.name, email: o.email ?? '', role: o.role, created_at: toUnixSeconds(o.created_at) } }
      : o?.type === 'service_account'
        ? { type: 'service_account' as const, service_account: { id: o.id, name: o.name, role: o.role, created_at: toUnixSeconds(o.created_at) } }
        : {};
  return {
    object: 'organization.project.api_key' as const,
    id: row.id,
    name: row.name ?? '',
    redacted_value: row.redacted_value,
    created_at: toUnixSeconds(row.created_at),
    last_used_at: toUnixSecondsOrNull(row.last_used_at),
    expires_at: toUnixSecondsOrNull(row.expires_at),
    owner_project_access: row.status === 'active' ? ('active' as const) : ('inactive' as const),
    owner,
  };
}

const Expires = Type.Integer({ minimum: 1, maximum: 31_536_000 * 10 });
const Scopes = Type.Array(Type.String({ minLength: 1, maxLength: 100 }), { maxItems: 100 });

export const projectMembersRoutes: FastifyPluginAsyncTypebox<{ core: Core }> = async (app, { core }) => {
  const base = '/organization/projects/:project_id';
  const P = { project_id: Id };

  // users
  app.get(`${base}/users`, { schema: { response: R.ok(R.CursorPage(R.ProjectUser)), params: Type.Object(P), querystring: Type.Object(PageQuery) } }, async (req) => {
    const page = await core.projectUsers.list(req.actor, req.org.id, req.params.project_id, { limit: req.query.limit ?? 20, after: req.query.after });
    return cursorList(page.items.map(formatProjectUser), page.hasMore);
  });
  app.post(
    `${base}/users`,
    { schema: { response: R.ok(R.ProjectUser), params: Type.Object(P), body: Type.Object({ role: Type.String({ maxLength: 20 }), user_id: Type.Optional(Type.Union([Id, Type.Null()])), email: Type.Optional(Type.Union([Type.String({ maxLength: 320 }), Type.Null()])) }) } },
    async (req) => formatProjectUser(await core.projectUsers.add(req.actor, req.org.id, req.params.project_id, { userId: req.body.user_id, email: req.body.email, role: req.body.role })),
  );
  const UserParams = Type.Object({ ...P, user_id: Id });
  app.get(`${base}/users/:user_id`, { schema: { response: R.ok(R.ProjectUser), params: UserParams } }, async (req) => formatProjectUser(await core.projectUsers.get(req.actor, req.org.id, req.params.project_id, req.params.user_id)));
  app.post(`${base}/users/:user_id`, { schema: { response: R.ok(R.ProjectUser), params: UserParams, body: Type.Object({ role: Type.Optional(Type.Union([Type.String({ maxLength: 20 }), Type.Null()])) }) } }, async (req) =>
    formatProjectUser(await core.projectUsers.updateRole(req.actor, req.org.id, req.params.project_id, req.params.user_id, req.body.role)),
  );
  app.delete(`${base}/users/:user_id`, { schema: { response: R.ok(R.Deleted), params: UserParams } }, async (req) => {
    const u = await core.projectUsers.remove(req.actor, req.org.id, req.params.project_id, req.params.user_id, async (hashes) => {
      for (const h of hashes) await core.keys.invalidate(h);
    });
    return { object: 'organization.project.user.deleted' as const, id: u.id, deleted: true };
  });

  // service accounts
  app.get(`${base}/service_accounts`, { schema: { response: R.ok(R.CursorPage(R.ServiceAccount)), params: Type.Object(P), querystring: Type.Object(PageQuery) } }, async (req) => {
    const page = await core.serviceAccounts.list(req.actor, req.org.id, req.params.project_id, { limit: req.query.limit ?? 20, after: req.query.after });
    return cursorList(page.items.map(formatServiceAccount), page.hasMore);
  });
  app.post(
    `${base}/service_accounts`,
    { schema: { response: R.ok(R.NewServiceAccount), params: Type.Object(P), body: Type.Object({ name: Type.String({ minLength: 1, maxLength: 256 }), create_service_account_only: Type.Optional(Type.Union([Type.Boolean(), Type.Null()])), expires_in_seconds: Type.Optional(Type.Union([Expires, Type.Null()])) }) } },
    async (req) => {
      const { account, key } = await core.serviceAccounts.create(req.actor, req.org.id, req.params.project_id, { name: req.body.name, accountOnly: !!req.body.create_service_account_only, expiresInSeconds: req.body.expires_in_seconds ?? null });
      return { ...formatServiceAccount(account), api_key: key ? formatSaKey(key.row, key.secret) : null };
    },
  );
  const SaParams = Type.Object({ ...P, service_account_id: Id });
  app.get(`${base}/service_accounts/:service_account_id`, { schema: { response: R.ok(R.ServiceAccount), params: SaParams } }, async (req) =>
    formatServiceAccount(await core.serviceAccounts.get(req.actor, req.org.id, req.params.project_id, req.params.service_account_id)),
  );
  app.post(
    `${base}/service_accounts/:service_account_id`,
    { schema: { response: R.ok(R.ServiceAccount), params: SaParams, body: Type.Object({ name: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })), role: Type.Optional(Type.Union([Type.Literal('member'), Type.Literal('owner')])) }) } },
    async (req) => formatServiceAccount(await core.serviceAccounts.update(req.actor, req.org.id, req.params.project_id, req.params.service_account_id, req.body)),
  );
  app.delete(`${base}/service_accounts/:service_account_id`, { schema: { response: R.ok(R.Deleted), params: SaParams } }, async (req) => {
    const sa = await core.serviceAccounts.delete(req.actor, req.org.id, req.params.project_id, req.params.service_account_id);
    return { object: 'organization.project.service_account.deleted' as const, id: sa.id, deleted: true };
  });
  app.post(
    `${base}/service_accounts/:service_account_id/api_keys`,
    { schema: { response: R.ok(R.ServiceAccountKey), params: SaParams, body: Type.Object({ name: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })), scopes: Type.Optional(Scopes), expires_in_seconds: Type.Optional(Type.Union([Expires, Type.Null()])) }) } },
    async (req) => {
      const k = await core.serviceAccounts.createKey(req.actor, req.org.id, req.params.project_id, req.params.service_account_id, { name: req.body.name, scopes: req.body.scopes, expiresInSeconds: req.body.expires_in_seconds ?? null });
      return formatSaKey(k.row, k.secret);
    },
  );

  // project API keys
  app.get(
    `${base}/api_keys`,
    { schema: { response: R.ok(R.CursorPage(R.ProjectKey)), params: Type.Object(P), querystring: Type.Object({ ...PageQuery, owner_project_access: Type.Optional(Type.Union([Type.Literal('active'), Type.Literal('inactive'), Type.Literal('any')])) }) } },
    async (req) => {
      const orgId = req.org.id;
      const page = await core.projectKeys.list(req.actor, orgId, req.params.project_id, req.query.owner_project_access ?? 'active', { limit: req.query.limit ?? 20, after: req.query.after });
      const owners = await core.projectKeys.owners(req.actor, orgId, req.params.project_id, page.items);
      return cursorList(page.items.map((k) => formatProjectKey(k, owners)), page.hasMore);
    },
  );
  // keyplane's extension (OpenAI has no such route): a key for a project member, its secret `value`
  // returned this once; project owners issue keys to any member, a `member` to themselves
  app.post(
    `${base}/api_keys`,
    {
      schema: {
        response: R.ok(Type.Composite([R.ProjectKey, Type.Object({ value: Type.String() })])),
        params: Type.Object(P),
        body: Type.Object({ user_id: Id, name: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })), expires_in_seconds: Type.Optional(Type.Union([Expires, Type.Null()])) }),
      },
    },
    async (req) => {
      const orgId = req.org.id;
      const { row, secret } = await core.projectKeys.createForUser(req.actor, orgId, req.params.project_id, req.body.user_id, { name: req.body.name, expiresInSeconds: req.body.expires_in_seconds ?? null });
      return { ...formatProjectKey(row, await core.projectKeys.owners(req.actor, orgId, req.params.project_id, [row])), value: secret };
    },
  );
  const KeyParams = Type.Object({ ...P, api_key_id: Id });
  app.get(`${base}/api_keys/:api_key_id`, { schema: { response: R.ok(R.ProjectKey), params: KeyParams } }, async (req) => {
    const orgId = req.org.id;
    const k = await core.projectKeys.get(req.actor, orgId, req.params.project_id, req.params.api_key_id);
    return formatProjectKey(k, await core.projectKeys.owners(req.actor, orgId, req.params.project_id, [k]));
  });
  app.post(`${base}/api_keys/:api_key_id`, { schema: { response: R.ok(R.ProjectKey), params: KeyParams, body: Type.Object({ scopes: Type.Optional(Scopes), expires_in_seconds: Type.Optional(Expires) }) } }, async (req) => {
    const orgId = req.org.id;
    if (req.body.scopes === undefined && req.body.expires_in_seconds === undefined) throw invalid('Give scopes or expires_in_seconds.', 'scopes');
    const k = await core.projectKeys.update(req.actor, orgId, req.params.project_id, req.params.api_key_id, { scopes: req.body.scopes, expiresInSeconds: req.body.expires_in_seconds });
    return formatProjectKey(k, await core.projectKeys.owners(req.actor, orgId, req.params.project_id, [k]));
  });
  app.delete(`${base}/api_keys/:api_key_id`, { schema: { response: R.ok(R.Deleted), params: KeyParams } }, async (req) => {
    const k = await core.projectKeys.delete(req.actor, req.org.id, req.params.project_id, req.params.api_key_id);
    return { object: 'organization.project.api_key.deleted' as const, id: k.id, deleted: true };
  });
};
