// h2oGPTe `APIKeysApi` under /api/v1: create, list, deactivate, delete and update the expiry of the
// organization's user keys, at both spellings the clients use (/admin/api-keys… and /admin/api_keys…).
import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Core } from '../../domain/core.ts';
import type { UserKey } from '../../domain/user-keys.ts';
import { invalid } from '../../domain/errors.ts';
import { parseInterval } from './interval.ts';
import { toRfc3339 } from './envelope.ts';


export const DEFAULT_LIMIT = 100;
export const MAX_LIMIT = 1000;
const MAX_OFFSET = 1_000_000_000;

/** A key id as keyplane makes them (`key_…`); anything else is malformed input, not an unknown key. */
const KEY_ID = /^[A-Za-z0-9_-]{1,100}$/;

const NullableString = (opts: { minLength?: number; maxLength: number }) => Type.Union([Type.String(opts), Type.Null()]);

const CreateBody = Type.Object({
  user_id: Type.String({ minLength: 1, maxLength: 200 }),
  name: Type.Optional(NullableString({ maxLength: 256 })),
  collection_id: Type.Optional(NullableString({ minLength: 1, maxLength: 200 })),
  expires_in: Type.Optional(NullableString({ maxLength: 100 })),
});
const ExpiryBody = Type.Object({
  expires_in: Type.Optional(NullableString({ maxLength: 100 })),
});
const ListQuery = Type.Object({
  offset: Type.Optional(Type.Integer({ minimum: 0, maximum: MAX_OFFSET, default: 0 })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_LIMIT, default: DEFAULT_LIMIT })),
  filter: Type.Optional(Type.String({ maxLength: 256 })),
});
const KeyParams = Type.Object({ key_id: Type.String() });

// Response schemas (the serializer sends only what they name): `APIKeyInfo`, its optional fields left out when unset.
const Str = Type.String();
const KeyInfo = Type.Object({
  id: Str,
  username: Str,
  name: Str,
  hint: Str,
  created_at: Str,
  expires_at: Type.Optional(Str),
  last_used_at: Type.Optional(Str),
  total_calls: Type.Integer(),
  is_active: Type.Boolean(),
  collection_id: Type.Optional(Str),
  is_global_key: Type.Boolean(),
});
const KeyResult = Type.Object({ secret_key: Str, api_key: KeyInfo });
const NoContent = { 204: Type.Unsafe<undefined>({ type: 'null', description: 'No content.' }) };

/** `APIKeyInfo`. Optional fields are omitted when unset: the spec declares them as non-nullable strings. */
export interface APIKeyInfo {
  id: string;
  username: string;
  name: string;
  hint: string;
  created_at: string;
  expires_at?: string;
  last_used_at?: string;
  total_calls: number;
  is_active: boolean;
  collection_id?: string;
  is_global_key: boolean;
}

export function formatKeyInfo(k: UserKey, now: number): APIKeyInfo {
  return {
    id: k.id,
    username: k.owner_email,
    name: k.name ?? '',
    hint: k.redacted_value,
    created_at: toRfc3339(k.created_at),
    ...(k.expires_at !== null ? { expires_at: toRfc3339(k.expires_at) } : {}),
    ...(k.last_used_at !== null ? { last_used_at: toRfc3339(k.last_used_at) } : {}),
    total_calls: k.usage_count,
    is_active: k.status === 'active' && (k.expires_at === null || k.expires_at > now),
    // keyplane has no collections: the id is kept as given, and there is no collection_name to show
    ...(k.collection_id !== null ? { collection_id: k.collection_id } : {}),
    is_global_key: k.collection_id === null,
  };
}

/** `expires_in` → a lifetime in seconds (the domain adds it to its clock), null for none; an unparseable interval is a 400. */
function expiryOf(expiresIn: string | null | undefined): number | null {
  if (expiresIn === undefined || expiresIn === null) return null;
  const ms = parseInterval(expiresIn);
  if (ms === null) {
    throw invalid(
      "Invalid value for 'expires_in': use a positive interval such as \"30 days\", \"12 hours\", \"1 year 2 months\" or \"HH:MM:SS\" (at most 10 years).",
      'expires_in',
    );
  }
  return ms / 1000;
}

function keyIdOf(params: { key_id: string }): string {
  if (!KEY_ID.test(params.key_id)) throw invalid('Malformed API key id.', 'key_id');
  return params.key_id;
}

export const h2ogpteApiKeysRoutes: FastifyPluginAsyncTypebox<{ core: Core }> = async (app, { core }) => {
  for (const base of ['/admin/api-keys', '/admin/api_keys']) {
    // create_api_key_for_user → 201 APIKeyResult; the secret is in this response only
    app.post(base, { schema: { body: CreateBody, response: { 201: KeyResult } } }, async (req, reply) => {
      const orgId = req.org.id;
      const issued = await core.userKeys.create(req.actor, orgId, {
        userId: req.body.user_id,
        format: 'sk',
        name: req.body.name ?? null,
        collectionId: req.body.collection_id ?? null,
        expiresInSeconds: expiryOf(req.body.expires_in),
      });
      const key = await core.userKeys.get(req.actor, orgId, { id: issued.row.id });
      return reply.code(201).send({ secret_key: issued.secret, api_key: formatKeyInfo(key, core.now()) });
    });

    // list_all_api_keys → 200 APIKeyInfo[]
    app.get(base, { schema: { querystring: ListQuery, response: { 200: Type.Array(KeyInfo) } } }, async (req) => {
      const keys = await core.userKeys.list(req.actor, req.org.id, {
        offset: req.query.offset ?? 0,
        limit: req.query.limit ?? DEFAULT_LIMIT,
        ...(req.query.filter ? { usernameLike: req.query.filter } : {}),
      });
      const now = core.now();
      return keys.map((k) => formatKeyInfo(k, now));
    });

    // deactivate_api_key → 204; the key is refused on the very next request
    app.post(`${base}/deactivate/:key_id`, { schema: { params: KeyParams, response: NoContent } }, async (req, reply) => {
      const orgId = req.org.id;
      // only the organization's user keys are this face's keys: an admin or project key id is unknown here
      const key = await core.userKeys.get(req.actor, orgId, { id: keyIdOf(req.params) });
      // a revoked key stays revoked (it is refused either way); deactivating twice changes nothing
      if (key.status === 'active') await core.userKeys.deactivate(req.actor, orgId, key.id);
      return reply.code(204).send();
    });

    // delete_api_key → 204
    app.delete(`${base}/:key_id`, { schema: { params: KeyParams, response: NoContent } }, async (req, reply) => {
      await core.userKeys.delete(req.actor, req.org.id, keyIdOf(req.params));
      return reply.code(204).send();
    });

    // update_api_key_expiry → 204; no body, `{}` or a null `expires_in` removes the expiry
    app.patch(`${base}/expire/:key_id`, { schema: { params: KeyParams, body: ExpiryBody, response: NoContent } }, async (req, reply) => {
      const orgId = req.org.id;
      const keyId = keyIdOf(req.params);
      const expiresInSeconds = expiryOf(req.body?.expires_in);
      const key = await core.userKeys.get(req.actor, orgId, { id: keyId });
      await core.userKeys.setExpiry(req.actor, orgId, key.id, { expiresInSeconds });
      return reply.code(204).send();
    });
  }
};
