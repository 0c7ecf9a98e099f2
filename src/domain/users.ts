// Users are global (one row per email) and belong to organizations through memberships.
import type { Executor, Store, Tx } from '../store/db.ts';
import { requireOrgAdmin, type Actor } from './actor.ts';
import type { User } from '../store/schema.ts';
import { invalid } from './errors.ts';
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

export class UserService {
  constructor(private readonly store: Store) {}

  /** Members of the organization among `userIds`, for rendering owners and actors. */
  async membersByIds(actor: Actor, orgId: string, userIds: string[]): Promise<Map<string, OrgMember>> {
    requireOrgAdmin(actor, orgId);
    return membersByIds(this.store.db, orgId, userIds.filter(Boolean));
  }
}
