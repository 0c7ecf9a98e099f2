// /v1/organization/admin_api_keys: list, create, retrieve, delete (OpenAI `adminAPIKeys`).
import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Core } from '../../domain/core.ts';
import { cursorList } from '../shared/openai-wire.ts';
import { formatAdminKey, MAX_EXPIRES_IN_SECONDS } from '../shared/openai-objects.ts';
import * as R from '../shared/openai-responses.ts';

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

export const adminApiKeysRoutes: FastifyPluginAsyncTypebox<{ core: Core }> = async (app, { core }) => {
  const base = '/organization/admin_api_keys';

  app.get(base, { schema: { response: R.ok(R.CursorPage(R.AdminKey)), querystring: ListQuery } }, async (req) => {
    const orgId = req.org.id;
    const page = await core.keys.list(req.actor, orgId, { kind: 'admin' }, { limit: req.query.limit ?? 20, after: req.query.after, order: req.query.order ?? 'asc' });
    const owners = await core.users.membersByIds(req.actor, orgId, page.items.map((k) => k.owner_id ?? ''));
    return cursorList(page.items.map((k) => formatAdminKey(k, owners)), page.hasMore);
  });

  app.post(base, { schema: { response: R.ok(R.NewAdminKey), body: CreateBody } }, async (req) => {
    const orgId = req.org.id;
    const { row, secret } = await core.keys.createAdminKey(req.actor, orgId, {
      name: req.body.name,
      expiresInSeconds: req.body.expires_in_seconds || null,
    });
    const owners = await core.users.membersByIds(req.actor, orgId, [row.owner_id ?? '']);
    return { ...formatAdminKey(row, owners), value: secret };
  });

  app.get(`${base}/:key_id`, { schema: { response: R.ok(R.AdminKey), params: KeyParams } }, async (req) => {
    const orgId = req.org.id;
    const row = await core.keys.get(req.actor, orgId, req.params.key_id, 'admin');
    const owners = await core.users.membersByIds(req.actor, orgId, [row.owner_id ?? '']);
    return formatAdminKey(row, owners);
  });

  app.delete(`${base}/:key_id`, { schema: { response: R.ok(R.Deleted), params: KeyParams } }, async (req) => {
    const row = await core.keys.delete(req.actor, req.org.id, req.params.key_id, 'admin');
    return { id: row.id, object: 'organization.admin_api_key.deleted' as const, deleted: true };
  });
};
