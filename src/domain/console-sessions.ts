// Console sign-in: users' passwords (argon2id, OWASP parameters, from @node-rs/argon2) and console
// sessions. A session's cookie carries a random secret; the store keeps only its SHA-256 (the row's
// id), and the CSRF token is derived from the secret by HMAC, so neither is stored in plain text.
// A session ends when it was idle too long, at its absolute lifetime, when signed out, when its user
// leaves the organization, or when the organization is disabled.
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type * as Argon2 from '@node-rs/argon2';
import type { Algorithm } from '@node-rs/argon2';
import { loadLazily } from '../lazy.ts';
import type { Store } from '../store/db.ts';
import { invalid } from './errors.ts';
import type { Actor } from './actor.ts';
import { recordAudit } from './audit.ts';
import { normalizeEmail } from './users.ts';

/** OWASP's argon2id recommendation: 19 MiB, 2 iterations, 1 lane. */
// Algorithm is a const enum (not importable at run time under isolated modules): 2 is Argon2id
/** The native argon2 addon, loaded at the first password operation rather than at every start. */
const argon2 = (): typeof Argon2 => loadLazily<typeof Argon2>('@node-rs/argon2');

const ARGON = { algorithm: 2 as Algorithm.Argon2id, memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const;
export const PASSWORD_MIN = 12;
/** How stale a session's `last_seen_at` may be before a request writes it again. */
const SEEN_GRANULARITY_MS = 30_000;
export const PASSWORD_MAX = 256;

export interface OrgChoice {
  id: string;
  slug: string;
  name: string;
  role: 'owner' | 'reader';
}

export interface SessionView {
  /** The session row's id (SHA-256 of the secret). */
  id: string;
  operator: boolean;
  user: { id: string; email: string; name: string } | null;
  org: OrgChoice | null;
  orgs: OrgChoice[];
  csrfToken: string;
}

export interface SessionLimits {
  idleMs: number;
  maxMs: number;
}

const sha256 = (s: string): string => createHash('sha256').update(s).digest('hex');
/** The CSRF token of a session: derived from its secret, never stored. */
export const csrfTokenOf = (secret: string): string => createHmac('sha256', secret).update('keyplane console csrf').digest('base64url');

/** Constant-time equality of two strings (different lengths compare unequal, in constant time for the shorter). */
export function safeEqual(a: string, b: string): boolean {
  const x = createHash('sha256').update(a).digest();
  const y = createHash('sha256').update(b).digest();
  return timingSafeEqual(x, y) && a.length === b.length;
}

export function checkPassword(pw: string, param = 'password'): void {
  if (typeof pw !== 'string' || [...pw].length < PASSWORD_MIN || [...pw].length > PASSWORD_MAX) {
    throw invalid(`A password has ${PASSWORD_MIN} to ${PASSWORD_MAX} characters.`, param, 'invalid_password');
  }
}

export class ConsoleSessionService {
  private dummyHash: Promise<string> | null = null;

  constructor(
    private readonly store: Store,
    private readonly now: () => number = Date.now,
  ) {}

  hashPassword(pw: string): Promise<string> {
    return argon2().hash(pw, ARGON);
  }

  /** Sets (or replaces) a user's password. */
  async setPassword(userId: string, pw: string, db = this.store.db): Promise<void> {
    checkPassword(pw);
    await this.setPasswordHash(userId, await this.hashPassword(pw), db);
  }

  /** Stores an already computed hash (hashPassword) as the user's password, in `db` (a transaction). */
  async setPasswordHash(userId: string, hash: string, db = this.store.db): Promise<void> {
    const now = this.now();
    const row = await db.selectFrom('user_passwords').select('user_id').where('user_id', '=', userId).executeTakeFirst();
    if (row) await db.updateTable('user_passwords').set({ hash, updated_at: now }).where('user_id', '=', userId).execute();
    else await db.insertInto('user_passwords').values({ user_id: userId, hash, updated_at: now }).execute();
  }

  /** The user's password hash, or null when they have none. */
  async passwordHashOf(userId: string, db = this.store.db): Promise<string | null> {
    return (await db.selectFrom('user_passwords').select('hash').where('user_id', '=', userId).executeTakeFirst())?.hash ?? null;
  }

  /** Whether `pw` matches `hash` (an argon2id PHC string). */
  verifyPassword(hash: string, pw: string): Promise<boolean> {
    return argon2().verify(hash, pw).catch(() => false);
  }

  /** Whether `pw` is the user's password (false when the user has none). */
  async passwordMatches(userId: string, pw: string): Promise<boolean> {
    const row = await this.store.db.selectFrom('user_passwords').select('hash').where('user_id', '=', userId).executeTakeFirst();
    return this.verifyHash(row?.hash ?? null, pw);
  }

  /** Verifies against `hash`, or against a dummy hash when there is none (same time for an unknown account). */
  private async verifyHash(hash: string | null, pw: string): Promise<boolean> {
    if (hash === null) {
      this.dummyHash ??= this.hashPassword(randomBytes(16).toString('hex'));
      await argon2().verify(await this.dummyHash, pw).catch(() => false);
      return false;
    }
    return argon2().verify(hash, pw).catch(() => false);
  }

  /** The user of `email` when `pw` is their password and they belong to an enabled organization; null otherwise. */
  async checkCredentials(email: string, pw: string): Promise<{ userId: string; orgs: OrgChoice[] } | null> {
    let normalized: string | null = null;
    try {
      normalized = normalizeEmail(email);
    } catch {
      normalized = null;
    }
    const row = normalized
      ? await this.store.db.selectFrom('users').leftJoin('user_passwords', 'user_passwords.user_id', 'users.id').select(['users.id', 'user_passwords.hash']).where('users.email', '=', normalized).executeTakeFirst()
      : undefined;
    const ok = await this.verifyHash(row?.hash ?? null, pw);
    if (!ok || !row) return null;
    const orgs = await this.orgsOf(row.id);
    return orgs.length ? { userId: row.id, orgs } : null;
  }

  /**
   * The existing user with this email and the enabled organizations they belong to, or null (no such
   * user, or a member of none): for a sign-in whose identity was proven elsewhere (OpenID Connect).
   * Never creates a user.
   */
  async memberByEmail(email: string): Promise<{ userId: string; orgs: OrgChoice[] } | null> {
    let normalized: string;
    try {
      normalized = normalizeEmail(email);
    } catch {
      return null;
    }
    const row = await this.store.db.selectFrom('users').select('id').where('email', '=', normalized).executeTakeFirst();
    if (!row) return null;
    const orgs = await this.orgsOf(row.id);
    return orgs.length ? { userId: row.id, orgs } : null;
  }

  /** The enabled organizations a user belongs to, by name. */
  /**
   * Audits a console sign-in (`console.signed_in`) in the session's organization, or a wrong
   * password for a known email (`console.sign_in_failed`) in each of that user's organizations
   * (failures are bounded by the sign-in throttles; an unknown email records nothing: no
   * organization to record it in).
   */
  async auditSignIn(actor: Actor, outcome: { userId: string; orgId: string; method: 'password' | 'invite' | 'oidc' } | { failedEmail: string }): Promise<void> {
    if ('userId' in outcome) {
      await recordAudit(this.store.db, actor, { orgId: outcome.orgId, type: 'console.signed_in', targetType: 'user', targetId: outcome.userId, payload: { method: outcome.method } });
      return;
    }
    let email: string;
    try {
      email = normalizeEmail(outcome.failedEmail);
    } catch {
      return;
    }
    const user = await this.store.db.selectFrom('users').select('id').where('email', '=', email).executeTakeFirst();
    if (!user) return;
    const orgs = await this.orgsOf(user.id);
    const now = this.now();
    await this.store.db.transaction().execute(async (tx) => {
      for (const o of orgs) await recordAudit(tx, actor, { orgId: o.id, type: 'console.sign_in_failed', targetType: 'user', targetId: user.id, payload: { email, reason: 'wrong_password' } }, now);
    });
  }

  async auditPasswordChange(actor: Actor, userId: string): Promise<void> {
    const orgs = await this.orgsOf(userId);
    await this.store.db.transaction().execute(async (tx) => {
      for (const o of orgs) await recordAudit(tx, actor, { orgId: o.id, type: 'console.password_changed', targetType: 'user', targetId: userId, payload: {} });
    });
  }

  async orgsOf(userId: string): Promise<OrgChoice[]> {
    const rows = await this.store.db
      .selectFrom('org_memberships')
      .innerJoin('organizations', 'organizations.id', 'org_memberships.org_id')
      .select(['organizations.id', 'organizations.slug', 'organizations.name', 'org_memberships.role'])
      .where('org_memberships.user_id', '=', userId)
      .where('organizations.disabled_at', 'is', null)
      .orderBy('organizations.name')
      .orderBy('organizations.id')
      .execute();
    return rows.map((r) => ({ id: r.id, slug: r.slug, name: r.name, role: r.role }));
  }

  /** Starts a session (a new secret every time); returns the cookie secret and the session. */
  async create(userId: string | null, orgId: string | null, limits: SessionLimits): Promise<{ secret: string; session: SessionView }> {
    const secret = randomBytes(32).toString('base64url');
    const now = this.now();
    await this.store.db.insertInto('console_sessions').values({ id: sha256(secret), user_id: userId, org_id: orgId, created_at: now, expires_at: now + limits.maxMs, last_seen_at: now }).execute();
    const session = await this.resolve(secret, limits);
    if (!session) throw new Error('a new console session did not resolve');
    return { secret, session };
  }

  /** The live session of a cookie secret (touching its last use), or null. */
  async resolve(secret: string, limits: SessionLimits): Promise<SessionView | null> {
    if (!secret || secret.length > 200) return null;
    const id = sha256(secret);
    const row = await this.store.db.selectFrom('console_sessions').selectAll().where('id', '=', id).executeTakeFirst();
    if (!row) return null;
    const now = this.now();
    if (row.expires_at <= now || row.last_seen_at + limits.idleMs <= now) {
      await this.store.db.deleteFrom('console_sessions').where('id', '=', id).execute();
      return null;
    }
    let view: SessionView;
    if (row.user_id === null) {
      view = { id, operator: true, user: null, org: null, orgs: [], csrfToken: csrfTokenOf(secret) };
    } else {
      const user = await this.store.db.selectFrom('users').select(['id', 'email', 'name']).where('id', '=', row.user_id).executeTakeFirst();
      const orgs = await this.orgsOf(row.user_id);
      const org = orgs.find((o) => o.id === row.org_id);
      if (!user || !org) {
        // removed from the organization, or the organization was disabled
        await this.store.db.deleteFrom('console_sessions').where('id', '=', id).execute();
        return null;
      }
      view = { id, operator: false, user, org, orgs, csrfToken: csrfTokenOf(secret) };
    }
    // the idle clock is kept to the half-minute: a write per request would cost every console call a
    // write transaction (and on SQLite the one write lock) for no gain
    if (now - row.last_seen_at >= SEEN_GRANULARITY_MS) await this.store.db.updateTable('console_sessions').set({ last_seen_at: now }).where('id', '=', id).execute();
    return view;
  }

  /** Ends the session of a cookie secret (nothing when there is none). */
  async destroy(secret: string): Promise<void> {
    if (!secret || secret.length > 200) return;
    await this.store.db.deleteFrom('console_sessions').where('id', '=', sha256(secret)).execute();
  }

  /** Ends every session of a user except `keepId`. */
  async destroyOthers(userId: string, keepId: string | null): Promise<void> {
    let q = this.store.db.deleteFrom('console_sessions').where('user_id', '=', userId);
    if (keepId) q = q.where('id', '!=', keepId);
    await q.execute();
  }
}
