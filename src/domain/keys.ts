// API keys of every kind (admin, project, user) in one table: issue, list, change state, delete, and
// verify. Secrets are returned once by `issue`; the store keeps only SHA-256 and a redacted form.
import { sql } from 'kysely';
import type { Executor, Store, Tx } from '../store/db.ts';
import { isUniqueViolation } from '../store/db.ts';
import type { ApiKeyKind, ApiKeyRow, ApiKeyStatus } from '../store/schema.ts';
import { generateSecret, hashSecret, KEY_PREFIX, redactSecret } from '../crypto/keys.ts';
import { canManageKey, managedKeyOf, requireCanManageKey, requireKeyManager, requireOperator, requireOrgAdmin, type Actor, type KeyPrincipal, projectAccess, requireCanReadKey } from './actor.ts';
import { recordAudit, type AuditPayload } from './audit.ts';
import { conflict, invalid, notFound } from './errors.ts';
import { expiryFrom, type ExpiryInput } from './expiry.ts';
import { ID_PREFIX, newId } from './ids.ts';
import { yieldToEventLoop } from './usage-recorder.ts';
import type { KeyCache, Invalidator } from './key-cache.ts';
import { keysetPage, type Page, type PageQuery } from './paging.ts';
import { loadProject } from './projects.ts';

/** `expiresAt` or `expiresInSeconds` (from the service's clock); neither: the key never expires. */
export interface IssueKeyInput extends ExpiryInput {
  orgId: string;
  kind: ApiKeyKind;
  name?: string | null;
  projectId?: string | null;
  ownerType?: 'user' | 'service_account' | null;
  ownerId?: string | null;
  scopes?: string[] | null;
  collectionId?: string | null;
  /** Face-specific public id (WhyLabs keyId). */
  publicId?: string | null;
  /** Secret prefix; defaults to the kind's own. */
  prefix?: string;
  /** A secret chosen by the operator (bootstrap); otherwise one is generated. */
  secret?: string;
  /** Secret formatter for faces with their own key formats; gets fresh randomness each call. */
  makeSecret?: () => string;
  /** Redacted display form; defaults to `sk-…...abcd`. */
  redact?: (secret: string) => string;
}

export interface IssuedKey {
  row: ApiKeyRow;
  /** The plaintext secret: shown to the caller once, never stored. */
  secret: string;
}

export interface KeyFilter {
  kind?: ApiKeyKind;
  projectId?: string;
  ownerId?: string;
  ownerIds?: string[];
  statuses?: ApiKeyStatus[];
}

const DEFAULT_PREFIX: Record<ApiKeyKind, string> = {
  admin: KEY_PREFIX.admin,
  project: KEY_PREFIX.project,
  user: KEY_PREFIX.user,
};

export function principalOf(row: ApiKeyRow, ownerOrgRole: 'owner' | 'reader' | null = null): KeyPrincipal {
  return {
    ownerOrgRole,
    keyId: row.id,
    orgId: row.org_id,
    kind: row.kind,
    projectId: row.project_id,
    ownerType: row.owner_type,
    ownerId: row.owner_id,
    scopes: row.scopes ? (JSON.parse(row.scopes) as string[]) : [],
    expiresAt: row.expires_at,
  };
}

/** Buffers last_used_at and call counts; `flush` writes them in one transaction. */
export class KeyUseBuffer {
  private pending = new Map<string, { count: number; lastUsedAt: number }>();

  record(keyId: string, at: number): void {
    const p = this.pending.get(keyId);
    if (p) {
      p.count++;
      if (at > p.lastUsedAt) p.lastUsedAt = at;
    } else this.pending.set(keyId, { count: 1, lastUsedAt: at });
  }

  get size(): number {
    return this.pending.size;
  }

  async flush(db: Executor): Promise<number> {
    if (!this.pending.size) return 0;
    const batch = this.pending;
    this.pending = new Map();
    try {
      // One statement per 200 keys (not one per key), yielding to the event loop between them: on
      // SQLite a statement blocks it while it runs, so a flush must not hold requests however many
      // keys were used since the last one.
      const entries = [...batch];
      await db.transaction().execute(async (tx) => {
        for (let i = 0; i < entries.length; i += 200) {
          if (i) await yieldToEventLoop();
          const rows = sql.join(entries.slice(i, i + 200).map(([id, u]) => sql`(${id}, ${u.count}, ${u.lastUsedAt})`));
          await sql`WITH v(id, n, t) AS (VALUES ${rows})
            UPDATE api_keys SET usage_count = api_keys.usage_count + CAST(v.n AS bigint), last_used_at = CAST(v.t AS bigint)
            FROM v WHERE api_keys.id = v.id`.execute(tx);
        }
      });
    } catch (err) {
      // put the counts back so the next flush retries them
      for (const [id, u] of batch) {
        const p = this.pending.get(id);
        if (p) {
          p.count += u.count;
          p.lastUsedAt = Math.max(p.lastUsedAt, u.lastUsedAt);
        } else this.pending.set(id, u);
      }
      throw err;
    }
    return batch.size;
  }
}

type KeyUpdate = Partial<Pick<ApiKeyRow, 'status' | 'revoked_at' | 'expires_at' | 'name' | 'scopes'>>;

/** A key update in the audit catalog's words: only the fields it set. */
function keyChanges(set: KeyUpdate): AuditPayload<'api_key.updated'>['changes'] {
  return {
    ...(set.status !== undefined ? { status: set.status } : {}),
    ...(set.revoked_at !== undefined ? { revokedAt: set.revoked_at } : {}),
    ...(set.expires_at !== undefined ? { expiresAt: set.expires_at } : {}),
    ...(set.name !== undefined ? { name: set.name } : {}),
    ...(set.scopes !== undefined ? { scopes: set.scopes === null ? null : (JSON.parse(set.scopes) as string[]) } : {}),
  };
}

export class KeyService {
  constructor(
    private readonly store: Store,
    private readonly cache: KeyCache,
    private readonly uses: KeyUseBuffer,
    private readonly invalidator: () => Invalidator,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Creates a key inside `tx` with its audit event. Permission checks are the caller's (the service
   * that knows what the key is for); this only enforces the key's own invariants.
   */
  async issue(tx: Tx, actor: Actor, input: IssueKeyInput): Promise<IssuedKey> {
    const now = this.now();
    const expiresAt = expiryFrom(now, input) ?? null;
    if (expiresAt !== null && expiresAt <= now) throw invalid('The expiry must be in the future.', 'expires_at');
    const prefix = input.prefix ?? DEFAULT_PREFIX[input.kind];
    const make = input.makeSecret ?? (() => generateSecret(prefix));
    const secret = input.secret ?? make();
    const row: ApiKeyRow = {
      id: newId(ID_PREFIX.key, now),
      org_id: input.orgId,
      kind: input.kind,
      project_id: input.projectId ?? null,
      owner_type: input.ownerType ?? null,
      owner_id: input.ownerId ?? null,
      name: input.name ?? null,
      public_id: input.publicId ?? null,
      scopes: input.scopes ? JSON.stringify(input.scopes) : null,
      collection_id: input.collectionId ?? null,
      secret_hash: hashSecret(secret),
      redacted_value: (input.redact ?? redactSecret)(secret),
      status: 'active',
      created_at: now,
      expires_at: expiresAt,
      last_used_at: null,
      usage_count: 0,
      revoked_at: null,
      created_by: actor.type === 'key' ? actor.key.keyId : actor.type,
    };
    try {
      await tx.insertInto('api_keys').values(row).execute();
    } catch (err) {
      // A supplied secret that already exists; generated ones never collide (288 random bits).
      if (isUniqueViolation(err)) throw conflict('A key with this value already exists.');
      throw err;
    }
    await recordAudit(
      tx,
      actor,
      {
        orgId: row.org_id,
        type: 'api_key.created',
        targetType: 'api_key',
        targetId: row.id,
        projectId: row.project_id,
        payload: { kind: row.kind, name: row.name, redactedValue: row.redacted_value, ownerId: row.owner_id, expiresAt: row.expires_at, scopes: input.scopes ?? null },
      },
      now,
    );
    return { row, secret };
  }

  /** Creates an organization admin key. The owner is the acting key's owner, else the organization's owner. */
  async createAdminKey(actor: Actor, orgId: string, input: { name: string; secret?: string } & ExpiryInput): Promise<IssuedKey> {
    requireOrgAdmin(actor, orgId);
    return this.store.db.transaction().execute(async (tx) => {
      let ownerId = actor.type === 'key' && actor.key.ownerType === 'user' ? actor.key.ownerId : null;
      if (!ownerId) {
        const owner = await tx
          .selectFrom('org_memberships')
          .select('user_id')
          .where('org_id', '=', orgId)
          .where('role', '=', 'owner')
          .orderBy('created_at')
          .executeTakeFirst();
        ownerId = owner?.user_id ?? null;
      }
      return this.issue(tx, actor, {
        orgId,
        kind: 'admin',
        name: input.name,
        ownerType: ownerId ? 'user' : null,
        ownerId,
        expiresAt: input.expiresAt,
        expiresInSeconds: input.expiresInSeconds,
        ...(input.secret ? { secret: input.secret } : {}),
      });
    });
  }

  async get(actor: Actor, orgId: string, keyId: string, kind?: ApiKeyKind): Promise<ApiKeyRow> {
    requireKeyManager(actor, orgId);
    let q = this.store.db.selectFrom('api_keys').selectAll().where('org_id', '=', orgId).where('id', '=', keyId);
    if (kind) q = q.where('kind', '=', kind);
    const row = await q.executeTakeFirst();
    if (!row) throw notFound(`No such API key: '${keyId}'.`, 'key_id');
    requireCanReadKey(actor, orgId, managedKeyOf(row));
    return row;
  }

  /** Any organization's key by id, for the operator (the CLI addresses keys by id alone). */
  async findAny(actor: Actor, keyId: string): Promise<ApiKeyRow> {
    requireOperator(actor);
    const row = await this.store.db.selectFrom('api_keys').selectAll().where('id', '=', keyId).executeTakeFirst();
    if (!row) throw notFound(`No such API key: '${keyId}'.`, 'key_id');
    return row;
  }

  async list(actor: Actor, orgId: string, filter: KeyFilter, page: PageQuery): Promise<Page<ApiKeyRow>> {
    // a user key may list its owner's own user keys; everything else is for administrators
    const own = filter.kind === 'user' && !!filter.ownerId && canManageKey(actor, orgId, { kind: 'user', ownerType: 'user', ownerId: filter.ownerId });
    // a project's keys: whoever may see the project (checked as for any key: an administrator, or a console user with a level in it)
    if (!own && !(filter.projectId && projectAccess(actor, orgId, filter.projectId))) requireOrgAdmin(actor, orgId);
    if (filter.projectId) await loadProject(this.store.db, orgId, filter.projectId);
    // A project's keys are found through the project index alone: the project was just checked to
    // belong to `orgId`, and adding `org_id =` here would let the planner walk the
    // organization index instead, which costs time in proportion to the organization's other keys.
    let q = filter.projectId
      ? this.store.db.selectFrom('api_keys').selectAll().where('project_id', '=', filter.projectId)
      : this.store.db.selectFrom('api_keys').selectAll().where('org_id', '=', orgId);
    if (filter.kind) q = q.where('kind', '=', filter.kind);
    if (filter.ownerId) q = q.where('owner_id', '=', filter.ownerId);
    if (filter.ownerIds) q = filter.ownerIds.length ? q.where('owner_id', 'in', filter.ownerIds) : q.where('id', '=', '');
    if (filter.statuses?.length) q = q.where('status', 'in', filter.statuses);
    return keysetPage(q, 'api_keys', page);
  }

  /** Deletes a key; it is refused on the very next request, on every node. */
  async delete(actor: Actor, orgId: string, keyId: string, kind?: ApiKeyKind): Promise<ApiKeyRow> {
    requireKeyManager(actor, orgId);
    const row = await this.store.db.transaction().execute(async (tx) => {
      let q = tx.selectFrom('api_keys').selectAll().where('org_id', '=', orgId).where('id', '=', keyId);
      if (kind) q = q.where('kind', '=', kind);
      const row = await q.executeTakeFirst();
      if (!row) throw notFound(`No such API key: '${keyId}'.`, 'key_id');
      requireCanManageKey(actor, orgId, managedKeyOf(row));
      await tx.deleteFrom('api_keys').where('id', '=', keyId).execute();
      await recordAudit(tx, actor, {
        orgId,
        type: 'api_key.deleted',
        targetType: 'api_key',
        targetId: keyId,
        projectId: row.project_id,
        payload: { kind: row.kind, name: row.name, redactedValue: row.redacted_value },
      });
      return row;
    });
    await this.invalidate(row.secret_hash);
    return row;
  }

  /**
   * Deactivates or revokes a key (idempotent; revoked is final); it is refused on the very next
   * request. `kind` restricts which keys the caller may address.
   */
  async setStatus(actor: Actor, orgId: string, keyId: string, status: Exclude<ApiKeyStatus, 'active'>, kind?: ApiKeyKind): Promise<ApiKeyRow> {
    return this.update(actor, orgId, keyId, (row) => {
      if (kind && row.kind !== kind) throw notFound(`No such API key: '${keyId}'.`, 'key_id');
      return row.status === status || row.status === 'revoked' ? null : { status, revoked_at: status === 'revoked' ? this.now() : row.revoked_at };
    });
  }

  /** Sets or clears (null) a key's expiry. */
  async setExpiry(actor: Actor, orgId: string, keyId: string, expiresAt: number | null, kind?: ApiKeyKind): Promise<ApiKeyRow> {
    if (expiresAt !== null && expiresAt <= this.now()) throw invalid('The expiry must be in the future.', 'expires_at');
    return this.update(actor, orgId, keyId, (row) => {
      if (kind && row.kind !== kind) throw notFound(`No such API key: '${keyId}'.`, 'key_id');
      return row.expires_at === expiresAt ? null : { expires_at: expiresAt };
    });
  }

  async rename(actor: Actor, orgId: string, keyId: string, name: string): Promise<ApiKeyRow> {
    return this.update(actor, orgId, keyId, (row) => (row.name === name ? null : { name }));
  }

  /** Changes scopes and/or expiry of a key of `kind` in `projectId` (when given) together. */
  async modify(actor: Actor, orgId: string, keyId: string, input: { scopes?: string[] | undefined } & ExpiryInput, where: { kind?: ApiKeyKind; projectId?: string } = {}): Promise<ApiKeyRow> {
    const expiresAt = expiryFrom(this.now(), input);
    if (expiresAt != null && expiresAt <= this.now()) throw invalid('The expiry must be in the future.', 'expires_in_seconds');
    return this.update(
      actor,
      orgId,
      keyId,
      (row) => {
        if ((where.kind && row.kind !== where.kind) || (where.projectId && row.project_id !== where.projectId)) throw notFound(`No such API key: '${keyId}'.`, 'api_key_id');
        if (row.expires_at !== null && row.expires_at <= this.now()) throw invalid('An expired key cannot be updated.', 'api_key_id', 'key_expired');
        const set: { scopes?: string | null; expires_at?: number | null } = {};
        if (input.scopes !== undefined) set.scopes = JSON.stringify(input.scopes);
        if (expiresAt !== undefined) set.expires_at = expiresAt;
        return Object.keys(set).length ? set : null;
      },
    );
  }

  private async update(
    actor: Actor,
    orgId: string,
    keyId: string,
    change: (row: ApiKeyRow) => KeyUpdate | null,
  ): Promise<ApiKeyRow> {
    requireKeyManager(actor, orgId);
    const row = await this.store.db.transaction().execute(async (tx) => {
      const row = await tx.selectFrom('api_keys').selectAll().where('org_id', '=', orgId).where('id', '=', keyId).executeTakeFirst();
      if (!row) throw notFound(`No such API key: '${keyId}'.`, 'key_id');
      requireCanManageKey(actor, orgId, managedKeyOf(row));
      const set = change(row);
      if (!set) return row; // nothing to change, nothing to audit
      await tx.updateTable('api_keys').set(set).where('id', '=', keyId).execute();
      await recordAudit(tx, actor, {
        orgId,
        type: 'api_key.updated',
        targetType: 'api_key',
        targetId: keyId,
        projectId: row.project_id,
        payload: { changes: keyChanges(set) },
      });
      return { ...row, ...set };
    });
    await this.invalidate(row.secret_hash);
    return row;
  }

  /** Drops the key from this node's cache at once and tells the other nodes. */
  async invalidate(secretHash: string): Promise<void> {
    this.cache.delete(secretHash);
    await this.invalidator().publish(secretHash);
  }

  /**
   * Verifies a presented secret. Returns the principal of an active, unexpired key, else null.
   * A cached principal is trusted until it is invalidated or its TTL ends; expiry is checked on every call.
   */
  async verify(secret: string): Promise<KeyPrincipal | null> {
    if (!secret || secret.length > 512) return null;
    const hash = hashSecret(secret);
    const now = this.now();
    let principal = this.cache.get(hash);
    if (!principal) {
      // Cache miss: read the store. Only active keys of enabled organizations are cached, so a
      // revoked key, or any key of a disabled organization, always reads here.
      const mark = this.cache.mark();
      const row = await this.store.db
        .selectFrom('api_keys')
        .innerJoin('organizations', 'organizations.id', 'api_keys.org_id')
        .selectAll('api_keys')
        .select('organizations.disabled_at as org_disabled_at')
        .where('api_keys.secret_hash', '=', hash)
        .executeTakeFirst();
      if (!row || row.status !== 'active' || row.org_disabled_at !== null) return null;
      const membership =
        row.owner_type === 'user' && row.owner_id
          ? await this.store.db.selectFrom('org_memberships').select('role').where('org_id', '=', row.org_id).where('user_id', '=', row.owner_id).executeTakeFirst()
          : undefined;
      principal = principalOf(row, membership?.role ?? null);
      if (principal.expiresAt !== null && principal.expiresAt <= now) return null;
      this.cache.fill(hash, principal, mark);
    }
    if (principal.expiresAt !== null && principal.expiresAt <= now) {
      this.cache.delete(hash);
      return null;
    }
    this.uses.record(principal.keyId, now);
    return principal;
  }
}
