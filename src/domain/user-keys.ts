// User API keys: organization-level keys owned by a user, the keys of the h2oGPTe and WhyLabs faces
// (and of ibl.ai's tenant admins). They live in the one api_keys table with kind `user`, so expiry,
// deactivation and revocation are enforced by the same verification as every other key.
import { randomInt } from 'node:crypto'; // draws from the CSPRNG
import { sql } from 'kysely';
import type { Executor, Store } from '../store/db.ts';
import type { ApiKeyRow, ApiKeyStatus } from '../store/schema.ts';
import { generateSecret, KEY_PREFIX } from '../crypto/keys.ts';
import { canManageKey, managedKeyOf, requireCanManageKey, requireKeyManager, requireOrgAdmin, type Actor } from './actor.ts';
import { invalid, notFound } from './errors.ts';
import { expiryFrom, type ExpiryInput } from './expiry.ts';
import type { IssuedKey, KeyService } from './keys.ts';
import { loadMember } from './users.ts';

/** `sk`: `sk-` and 48 base64url characters (h2oGPTe). `whylabs`: `<keyId 10>.<suffix 53>` (WhyLabs). */
export type UserKeyFormat = 'sk' | 'whylabs';

const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const WHYLABS_SUFFIX = ALNUM + '+-^!$&@';
export const WHYLABS_KEY = /^[A-Za-z0-9]{10}\.[A-Za-z0-9+\-^!$&@]{52}[A-Za-z0-9]$/;

function pick(alphabet: string, n: number): string {
  let out = '';
  for (let i = 0; i < n; i++) out += alphabet[randomInt(alphabet.length)];
  return out;
}

/** A WhyLabs key: 10-character id, a dot, 53 characters (the last alphanumeric): ≈ 340 random bits. */
export function whylabsSecret(): { keyId: string; secret: string } {
  const keyId = pick(ALNUM, 10);
  return { keyId, secret: `${keyId}.${pick(WHYLABS_SUFFIX, 52)}${pick(ALNUM, 1)}` };
}

export interface UserKey extends ApiKeyRow {
  owner_email: string;
  owner_name: string;
}

/** The organization's user keys with their owners' email and name. */
function userKeysQuery(db: Executor, orgId: string) {
  return db
    .selectFrom('api_keys')
    .innerJoin('users', 'users.id', 'api_keys.owner_id')
    .selectAll('api_keys')
    .select(['users.email as owner_email', 'users.name as owner_name'])
    .where('api_keys.org_id', '=', orgId)
    .where('api_keys.kind', '=', 'user')
    .where('api_keys.owner_type', '=', 'user');
}

/** The expiry is `expiresAt` or `expiresInSeconds` (from the service's clock); neither: none. */
export interface CreateUserKeyInput extends ExpiryInput {
  userId: string;
  format: UserKeyFormat;
  name?: string | null;
  collectionId?: string | null;
  scopes?: string[] | null;
}

export class UserKeyService {
  constructor(
    private readonly store: Store,
    private readonly keys: KeyService,
    private readonly now: () => number = Date.now,
  ) {}

  /** Administrators create keys for any member; a user (holding a user key) for themselves. */
  async create(actor: Actor, orgId: string, input: CreateUserKeyInput): Promise<IssuedKey> {
    requireCanManageKey(actor, orgId, { kind: 'user', ownerType: 'user', ownerId: input.userId });
    const expiresAt = expiryFrom(this.now(), input) ?? null;
    if (expiresAt !== null && expiresAt <= this.now()) throw invalid('The expiry must be in the future.', 'expires_at');
    if (input.name != null && input.name.length > 256) throw invalid('A key name is at most 256 characters.', 'name');
    return this.store.db.transaction().execute(async (tx) => {
      await loadMember(tx, orgId, input.userId);
      const wl = input.format === 'whylabs' ? whylabsSecret() : null;
      return this.keys.issue(tx, actor, {
        orgId,
        kind: 'user',
        ownerType: 'user',
        ownerId: input.userId,
        name: input.name ?? null,
        collectionId: input.collectionId ?? null,
        expiresAt,
        scopes: input.scopes ?? null,
        ...(wl
          ? { publicId: wl.keyId, secret: wl.secret, redact: (s: string) => `${s.slice(0, 10)}.***${s.slice(-4)}` }
          : { makeSecret: () => generateSecret(KEY_PREFIX.user) }),
      });
    });
  }

  /**
   * User keys of the organization with their owners. `usernameLike` matches part of the owner's
   * email or name (case-insensitive); `userId` narrows to one owner (who may list their own).
   */
  async list(
    actor: Actor,
    orgId: string,
    opts: { userId?: string; usernameLike?: string; statuses?: ApiKeyStatus[]; offset?: number; limit?: number },
  ): Promise<UserKey[]> {
    const own = !!opts.userId && canManageKey(actor, orgId, { kind: 'user', ownerType: 'user', ownerId: opts.userId });
    if (!own) requireOrgAdmin(actor, orgId);
    let q = userKeysQuery(this.store.db, orgId);
    if (opts.userId) q = q.where('api_keys.owner_id', '=', opts.userId);
    if (opts.statuses?.length) q = q.where('api_keys.status', 'in', opts.statuses);
    if (opts.usernameLike) {
      const pattern = `%${opts.usernameLike.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
      // LIKE … ESCAPE '\\' reads the same on SQLite and PostgreSQL, so % and _ in the filter are literal
      q = q.where(sql<boolean>`(lower(users.email) like ${pattern} escape '\\' or lower(users.name) like ${pattern} escape '\\')`);
    }
    q = q.orderBy('api_keys.created_at').orderBy('api_keys.id');
    if (opts.limit !== undefined) q = q.limit(opts.limit);
    if (opts.offset) q = q.offset(opts.offset);
    return q.execute();
  }

  /** One user key by its id or (WhyLabs) its public key id. */
  async get(actor: Actor, orgId: string, by: { id?: string; publicId?: string }): Promise<UserKey> {
    let q = userKeysQuery(this.store.db, orgId);
    q = by.publicId !== undefined ? q.where('api_keys.public_id', '=', by.publicId) : q.where('api_keys.id', '=', by.id ?? '');
    requireKeyManager(actor, orgId);
    const row = await q.executeTakeFirst();
    if (!row) throw notFound(`No such API key: '${by.publicId ?? by.id}'.`, 'key_id');
    requireCanManageKey(actor, orgId, managedKeyOf(row));
    return row;
  }

  deactivate(actor: Actor, orgId: string, keyId: string): Promise<ApiKeyRow> {
    return this.keys.setStatus(actor, orgId, keyId, 'deactivated', 'user');
  }

  revoke(actor: Actor, orgId: string, keyId: string): Promise<ApiKeyRow> {
    return this.keys.setStatus(actor, orgId, keyId, 'revoked', 'user');
  }

  delete(actor: Actor, orgId: string, keyId: string): Promise<ApiKeyRow> {
    return this.keys.delete(actor, orgId, keyId, 'user');
  }

  /** Sets the expiry (`expiresAt`, or `expiresInSeconds` from now); naming neither, or null, clears it. */
  setExpiry(actor: Actor, orgId: string, keyId: string, expiry: ExpiryInput): Promise<ApiKeyRow> {
    return this.keys.setExpiry(actor, orgId, keyId, expiryFrom(this.now(), expiry) ?? null, 'user');
  }
}
