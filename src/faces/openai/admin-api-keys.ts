// /v1/organization/admin_api_keys: list, create, retrieve, delete (OpenAI `adminAPIKeys`).
import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Core } from '../../domain/core.ts';
import type { ApiKeyRow } from '../../store/schema.ts';
import type { OrgMember } from '../../domain/users.ts';
import { toUnixSeconds, toUnixSecondsOrNull } from '../common.ts';
import { cursorList } from './envelope.ts';
import { orgOf } from './plugin.ts';

export const MAX_EXPIRES_IN_SECONDS = 31_536_000;

const ListQuery = Type.Object({
  after: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
  order: Type.Optional(Type.Union([Type.Literal('asc'), Type.Literal('desc')])),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 20 })),
});
const CreateBody = Type.Object({
  name: Type.String({ minLength: 1, maxLength: 256 }),
  expires_in_seconds: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_EXPIRES_IN_SECONDS })),
});
const KeyParams = Type.Object({ key_id: Type.String({ minLength: 1, maxLength: 200 }) });

export function formatAdminKey(row: ApiKeyRow, owners: Map<string, OrgMember>) {
  const owner = row.owner_id ? owners.get(row.owner_id) : undefined;
  return {
    object: 'organization.admin_api_key' as const,
    id: row.id,
    name: row.name,
    redacted_value: row.redacted_value,
    created_at: toUnixSeconds(row.created_at),
    expires_at: toUnixSecondsOrNull(row.expires_at),
    last_used_at: toUnixSecondsOrNull(row.last_used_at),
    owner: owner
      ? { type: 'user', object: 'organization.user', id: owner.id, name: owner.name, created_at: toUnixSeconds(owner.created_at), role: owner.role }
      : {},
  };
}

export const adminApiKeysRoutes: FastifyPluginAsyncTypebox<{ core: Core }> = async (app, { core }) => {
  const base = '/organization/admin_api_keys';

  app.get(base, { schema: { querystring: ListQuery } }, async (req) => {
    const orgId = orgOf(req);
    const page = await core.keys.list(req.actor, orgId, { kind: 'admin' }, { limit: req.query.limit ?? 20, after: req.query.after, order: req.query.order ?? 'asc' });
    const owners = await core.users.membersByIds(req.actor, orgId, page.items.map((k) => k.owner_id ?? ''));
    return cursorList(page.items.map((k) => formatAdminKey(k, owners)), page.hasMore);
  });

  app.post(base, { schema: { body: CreateBody } }, async (req) => {
    const orgId = orgOf(req);
    const { row, secret } = await core.keys.createAdminKey(req.actor, orgId, {
      name: req.body.name,
      expiresInSeconds: req.body.expires_in_seconds || null,
    });
    const owners = await core.users.membersByIds(req.actor, orgId, [row.owner_id ?? '']);
    return { ...formatAdminKey(row, owners), value: secret };
  });

  app.get(`${base}/:key_id`, { schema: { params: KeyParams } }, async (req) => {
    const orgId = orgOf(req);
    const row = await core.keys.get(req.actor, orgId, req.params.key_id, 'admin');
    const owners = await core.users.membersByIds(req.actor, orgId, [row.owner_id ?? '']);
    return formatAdminKey(row, owners);
  });

  app.delete(`${base}/:key_id`, { schema: { params: KeyParams } }, async (req) => {
    const row = await core.keys.delete(req.actor, orgOf(req), req.params.key_id, 'admin');
    return { id: row.id, object: 'organization.admin_api_key.deleted' as const, deleted: true };
  });
};
