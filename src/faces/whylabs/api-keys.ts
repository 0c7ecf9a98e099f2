// /v0/organizations/{org_id}/api-key: create, get, list, revoke (WhyLabs `ApiKeyApi`, reference §2).
// The keys are the shared store's `user` keys in the WhyLabs format; the domain's UserKeyService does
// the work and the permission checks, this module speaks the wire format.
import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Core } from '../../domain/core.ts';
import type { ApiKeyRow } from '../../store/schema.ts';
import { requireCanManageKey } from '../../domain/actor.ts';
import { invalid, isDomainError, notFound } from '../../domain/errors.ts';
import { MAX_WHYLABS_MS, whylabsTime } from './time.ts';

/** `SecurityValues.AllSupportedScopes` (EXACT): external scopes, then the internal ones. No others are accepted. */
export const WHYLABS_SCOPES: readonly string[] = [
  ':account_administrator',
  ':administrator',
  ':authenticated',
  ':secure_container',
  ':user',
  ':write_data',
  ':write_notification',
  ':read_notification',
  ':write_resource',
  ':read_resource',
  ':whylabs_administrator',
  ':whylabs_system',
];
const SCOPES = new Set(WHYLABS_SCOPES);

/** An expiration time must be at least this far ahead (EXACT). */
export const MIN_EXPIRATION_AHEAD_MS = 60_000;

const Id = Type.String({ minLength: 1, maxLength: 200 });
const KeyId = Type.String({ pattern: '^[A-Za-z0-9]{10}$' }); // the 10-character WhyLabs keyId
const OrgParams = Type.Object({ org_id: Id });
const KeyParams = Type.Object({ org_id: Id, key_id: KeyId });
const CreateQuery = Type.Object({
  user_id: Id,
  expiration_time: Type.Optional(Type.Integer()),
  // repeated `scopes=…` parameters; a single one arrives as a string and is coerced to an array
  scopes: Type.Optional(Type.Array(Type.String({ maxLength: 100 }), { maxItems: 100 })),
  alias: Type.Optional(Type.String()),
});
const ListQuery = Type.Object({ user_id: Type.Optional(Type.String({ maxLength: 200 })) });
const RevokeQuery = Type.Object({ user_id: Id, key_id: KeyId });

// Response schemas (the serializer sends only what they name): `UserApiKey`, null fields left out.
const Str = Type.String();
const UserApiKeySchema = Type.Object({
  keyId: Str,
  orgId: Str,
  userId: Str,
  creationTime: Str,
  expirationTime: Type.Optional(Str),
  lastUsedTime: Type.Optional(Str),
  scopes: Type.Optional(Type.Array(Str)),
  alias: Type.Optional(Str),
  revoked: Type.Boolean(),
});
/** A new key: `key` is the secret, `<keyId>.<suffix>:<orgId>`, in this answer only. */
const NewUserApiKey = Type.Composite([Type.Object({ key: Str }), UserApiKeySchema]);

/** `UserApiKey`, camelCase, null fields left out (Jackson NON_ABSENT). */
export interface UserApiKey {
  key?: string;
  keyId: string;
  orgId: string;
  userId: string;
  creationTime: string;
  expirationTime?: string;
  lastUsedTime?: string;
  scopes?: string[];
  alias?: string;
  revoked: boolean;
}

/**
 * WhyLabs knows only revoked or not. A key deactivated elsewhere in keyplane (which cannot be undone)
 * can no longer be used either, so it reads as revoked here.
 */
const isRevoked = (row: ApiKeyRow): boolean => row.status !== 'active';

/** Keys made by this face carry their WhyLabs keyId as `public_id`; other user keys are not WhyLabs keys. */
const isWhyLabsKey = (row: ApiKeyRow): boolean => row.kind === 'user' && row.public_id !== null && row.owner_id !== null;

export function formatUserApiKey(row: ApiKeyRow): UserApiKey {
  return {
    keyId: row.public_id ?? '',
    orgId: row.org_id,
    userId: row.owner_id ?? '',
    creationTime: whylabsTime(row.created_at),
    ...(row.expires_at !== null ? { expirationTime: whylabsTime(row.expires_at) } : {}),
    ...(row.last_used_at !== null ? { lastUsedTime: whylabsTime(row.last_used_at) } : {}),
    ...(row.scopes !== null ? { scopes: JSON.parse(row.scopes) as string[] } : {}),
    ...(row.name !== null ? { alias: row.name } : {}),
    revoked: isRevoked(row),
  };
}

export const apiKeyRoutes: FastifyPluginAsyncTypebox<{ core: Core }> = async (app, { core }) => {
  const base = '/organizations/:org_id/api-key';

  app.post(base, { schema: { params: OrgParams, querystring: CreateQuery, response: { 200: NewUserApiKey } } }, async (req) => {
    const orgId = req.org.id;
    const q = req.query;
    // the server keeps scopes in a Set: repeated values count once, in the order given
    const scopes = q.scopes === undefined ? null : [...new Set(q.scopes)];
    for (const s of scopes ?? []) if (!SCOPES.has(s)) throw invalid(`Invalid scope provided: ${s}`, 'scopes');
    if (q.expiration_time !== undefined && (q.expiration_time < core.now() + MIN_EXPIRATION_AHEAD_MS || q.expiration_time > MAX_WHYLABS_MS)) {
      throw invalid('Invalid expiration time', 'expiration_time');
    }
    const { row, secret } = await core.userKeys.create(req.actor, orgId, {
      userId: q.user_id,
      format: 'whylabs',
      name: q.alias ?? null,
      expiresAt: q.expiration_time ?? null,
      scopes,
    });
    // the full key, shown this once: `<keyId>.<suffix>:<orgId>`
    return { key: `${secret}:${orgId}`, ...formatUserApiKey(row) };
  });

  // Not found, revoked or not a WhyLabs key: 200 with `{}`, as the server does.
  app.get(`${base}/:key_id`, { schema: { params: KeyParams, response: { 200: Type.Object({ key: Type.Optional(UserApiKeySchema) }) } } }, async (req) => {
    const orgId = req.org.id;
    let row: ApiKeyRow;
    try {
      row = await core.userKeys.get(req.actor, orgId, { publicId: req.params.key_id });
    } catch (err) {
      if (isDomainError(err) && err.kind === 'not_found') return {};
      throw err;
    }
    return isWhyLabsKey(row) && !isRevoked(row) ? { key: formatUserApiKey(row) } : {};
  });

  // Without user_id: every non-revoked key of the organization (administrators). With user_id: that
  // user's keys, revoked ones included (administrators, or that user's own key).
  app.get(base, { schema: { params: OrgParams, querystring: ListQuery, response: { 200: Type.Object({ items: Type.Array(UserApiKeySchema) }) } } }, async (req) => {
    const orgId = req.org.id;
    const userId = req.query.user_id || undefined; // `user_id=` counts as absent
    const rows = await core.userKeys.list(req.actor, orgId, userId ? { userId } : { statuses: ['active'] });
    return { items: rows.filter(isWhyLabsKey).map(formatUserApiKey) };
  });

  // Revoking is idempotent: a revoked key answers its metadata again. The key must be user_id's.
  app.delete(base, { schema: { params: OrgParams, querystring: RevokeQuery, response: { 200: UserApiKeySchema } } }, async (req) => {
    const orgId = req.org.id;
    const { user_id: userId, key_id: keyId } = req.query;
    const actor = req.actor;
    requireCanManageKey(actor, orgId, { kind: 'user', ownerType: 'user', ownerId: userId });
    const missing = () => notFound(`Resource ApiKey with ID ${keyId} not found.`, 'key_id');
    let row: ApiKeyRow;
    try {
      row = await core.userKeys.get(actor, orgId, { publicId: keyId });
    } catch (err) {
      // forbidden here means the key is another user's: as far as user_id goes, it does not exist
      if (isDomainError(err) && (err.kind === 'not_found' || err.kind === 'forbidden')) throw missing();
      throw err;
    }
    if (!isWhyLabsKey(row) || row.owner_id !== userId) throw missing();
    return formatUserApiKey(await core.userKeys.revoke(actor, orgId, row.id));
  });
};
