// Users are global (one row per email) and belong to organizations through memberships.
import type { Executor, Store, Tx } from '../store/db.ts';
import { requireOrgAdmin, type Actor, requireOrgRead } from './actor.ts';
import { recordAudit } from './audit.ts';
import { keysetPage, type Page, type PageQuery } from './paging.ts';
import type { User } from '../store/schema.ts';
import { conflict, invalid, notFound } from './errors.ts';
import { ID_PREFIX, newId } from './ids.ts';

const EMAIL = /^[^\s@]{1,64}@[^\s@]{1,255}$/;

export function normalizeEmail(email: string): string {
  const e = email.trim().toLowerCase();
  if (!EMAIL.test(e)) throw invalid(`'${email}' is not an email address.`, 'email');
  return e;
}

/** Finds the user with this email, or creates one. */
export async function ensureUser(tx: Tx, email: string, name: string | null, now: number): Promise<User> {
  const e = normalizeEmail(email);
  const found = await tx.selectFrom('users').selectAll().where('email', '=', e).executeTakeFirst();
  if (found) return found;
  const user: User = { id: newId(ID_PREFIX.user, now), email: e, name: name?.trim() || e.split('@')[0]!, created_at: now };
  await tx.insertInto('users').values(user).execute();
  return user;
}

export interface OrgMember {
  id: string;
  email: string;
  name: string;
  role: 'owner' | 'reader';
  created_at: number; // when the user joined the organization
}

/** Members of `orgId` among `userIds` (others are silently absent). */
async function membersByIds(db: Executor, orgId: string, userIds: string[]): Promise<Map<string, OrgMember>> {
  const out = new Map<string, OrgMember>();
  if (!userIds.length) return out;
  const rows = await db
    .selectFrom('org_memberships as m')
    .innerJoin('users as u', 'u.id', 'm.user_id')
    .select(['u.id', 'u.email', 'u.name', 'm.role', 'm.created_at'])
    .where('m.org_id', '=', orgId)
    .where('m.user_id', 'in', [...new Set(userIds)])
    .execute();
  for (const r of rows) out.set(r.id, r);
  return out;
}

export type OrgRole = 'owner' | 'reader';
export const ORG_ROLES: readonly OrgRole[] = ['owner', 'reader'];

function checkOrgRole(role: string): OrgRole {
  if (!(ORG_ROLES as readonly string[]).includes(role)) throw invalid(`Invalid role '${role}': use owner or reader.`, 'role');
  return role as OrgRole;
}

export class UserService {
  constructor(
    private readonly store: Store,
    /** Called after commit with the hashes of keys revoked or whose owner's role changed. */
    private readonly onKeysChanged: (hashes: string[]) => Promise<void> = async () => {},
    private readonly now: () => number = Date.now,
  ) {}

  /** Adds a user (found or created by email) to the organization; used by invite acceptance. */
  async addMember(actor: Actor, orgId: string, input: { email: string; name?: string | null; role: string }, tx?: Tx): Promise<OrgMember> {
    requireOrgAdmin(actor, orgId);
    const role = checkOrgRole(input.role);
    const run = async (t: Tx): Promise<OrgMember> => {
      const now = this.now();
      const user = await ensureUser(t, input.email, input.name ?? null, now);
      const existing = await t.selectFrom('org_memberships').select(['role', 'created_at']).where('org_id', '=', orgId).where('user_id', '=', user.id).executeTakeFirst();
      if (existing) throw conflict(`${user.email} is already a member of this organization.`, 'email');
      await t.insertInto('org_memberships').values({ org_id: orgId, user_id: user.id, role, created_at: now }).execute();
      await recordAudit(t, actor, { orgId, type: 'user.added', targetType: 'user', targetId: user.id, payload: { role, email: user.email } }, now);
      return { id: user.id, email: user.email, name: user.name, role, created_at: now };
    };
    return tx ? run(tx) : this.store.db.transaction().execute(run);
  }

  async listMembers(actor: Actor, orgId: string, filter: { emails?: string[] }, page: PageQuery): Promise<Page<OrgMember>> {
    requireOrgRead(actor, orgId);
    let q = this.store.db
      .selectFrom('org_memberships')
      .innerJoin('users', 'users.id', 'org_memberships.user_id')
      .select(['users.id as id', 'users.email as email', 'users.name as name', 'org_memberships.role as role', 'org_memberships.created_at as created_at'])
      .where('org_memberships.org_id', '=', orgId);
    if (filter.emails?.length) q = q.where('users.email', 'in', filter.emails.map((e) => e.trim().toLowerCase()));
    return keysetPage(q, 'org_memberships', page, 'user_id');
  }

  async getMember(actor: Actor, orgId: string, userId: string): Promise<OrgMember> {
    requireOrgRead(actor, orgId);
    return loadMember(this.store.db, orgId, userId);
  }

  async updateRole(actor: Actor, orgId: string, userId: string, role: string): Promise<OrgMember> {
    requireOrgAdmin(actor, orgId);
    const newRole = checkOrgRole(role);
    const updated = await this.store.db.transaction().execute(async (tx) => {
      const m = await loadMember(tx, orgId, userId);
      if (m.role === newRole) return m;
      if (m.role === 'owner') await requireAnotherOwner(tx, orgId, userId);
      await tx.updateTable('org_memberships').set({ role: newRole }).where('org_id', '=', orgId).where('user_id', '=', userId).execute();
      await recordAudit(tx, actor, { orgId, type: 'user.updated', targetType: 'user', targetId: userId, payload: { role: newRole } });
      return { ...m, role: newRole };
    });
    // verified keys carry their owner's organization role: evict this user's keys from every cache
    const keys = await this.store.db.selectFrom('api_keys').select('secret_hash').where('org_id', '=', orgId).where('owner_type', '=', 'user').where('owner_id', '=', userId).execute();
    await this.onKeysChanged(keys.map((k) => k.secret_hash));
    return updated;
  }

  /**
   * Removes a user from the organization: their project and group memberships and role assignments
   * go, and every key they own in the organization is revoked (refused on the very next request).
   */
  async removeMember(actor: Actor, orgId: string, userId: string): Promise<OrgMember> {
    requireOrgAdmin(actor, orgId);
    const { member, hashes } = await this.store.db.transaction().execute(async (tx) => {
      const member = await loadMember(tx, orgId, userId);
      if (member.role === 'owner') await requireAnotherOwner(tx, orgId, userId);
      const now = this.now();
      const keys = await tx.selectFrom('api_keys').select(['id', 'secret_hash']).where('org_id', '=', orgId).where('owner_type', '=', 'user').where('owner_id', '=', userId).where('status', '!=', 'revoked').execute();
      if (keys.length) {
        await tx.updateTable('api_keys').set({ status: 'revoked', revoked_at: now }).where('id', 'in', keys.map((k) => k.id)).execute();
      }
      await tx.deleteFrom('project_members').where('org_id', '=', orgId).where('user_id', '=', userId).execute();
      await tx.deleteFrom('group_members').where('org_id', '=', orgId).where('user_id', '=', userId).execute();
      await tx.deleteFrom('role_assignments').where('org_id', '=', orgId).where('principal_type', '=', 'user').where('principal_id', '=', userId).execute();
      await tx.deleteFrom('org_memberships').where('org_id', '=', orgId).where('user_id', '=', userId).execute();
      await recordAudit(tx, actor, { orgId, type: 'user.deleted', targetType: 'user', targetId: userId, payload: { email: member.email, revokedKeyIds: keys.map((k) => k.id) } }, now);
      return { member, hashes: keys.map((k) => k.secret_hash) };
    });
    await this.onKeysChanged(hashes);
    return member;
  }

  /** Members of the organization among `userIds`, for rendering owners and actors. */
  async membersByIds(actor: Actor, orgId: string, userIds: string[]): Promise<Map<string, OrgMember>> {
    requireOrgRead(actor, orgId);
    return membersByIds(this.store.db, orgId, userIds.filter(Boolean));
  }
}

export async function loadMember(db: Executor, orgId: string, userId: string): Promise<OrgMember> {
  const m = await db
    .selectFrom('org_memberships')
    .innerJoin('users', 'users.id', 'org_memberships.user_id')
    .select(['users.id as id', 'users.email as email', 'users.name as name', 'org_memberships.role as role', 'org_memberships.created_at as created_at'])
    .where('org_memberships.org_id', '=', orgId)
    .where('org_memberships.user_id', '=', userId)
    .executeTakeFirst();
  if (!m) throw notFound(`No such user: '${userId}'.`, 'user_id');
  return m;
}

/** An organization always keeps at least one owner. */
async function requireAnotherOwner(db: Executor, orgId: string, userId: string): Promise<void> {
  const other = await db.selectFrom('org_memberships').select('user_id').where('org_id', '=', orgId).where('role', '=', 'owner').where('user_id', '!=', userId).executeTakeFirst();
  if (!other) throw invalid('An organization needs at least one owner; make another user owner first.', 'role', 'last_owner');
}
