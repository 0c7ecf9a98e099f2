// Invites: the only way into an organization. keyplane sends no mail: the operator accepts an invite
// through the platform API or the CLI, which creates the organization user (and project memberships).
import { createHash, randomBytes } from 'node:crypto';
import type { Store, Tx } from '../store/db.ts';
import type { InvitesTable } from '../store/schema.ts';
import type { Selectable } from 'kysely';
import { requireOrgAdmin, requireOperator, SYSTEM, type Actor, requireOrgRead } from './actor.ts';
import { DomainError } from './errors.ts';
import { recordAudit } from './audit.ts';
import { invalid, notFound } from './errors.ts';
import { ID_PREFIX, newId } from './ids.ts';
import { keysetPage, type Page, type PageQuery } from './paging.ts';
import { loadActiveProject } from './projects.ts';
import { addProjectMember, checkProjectRole, type ProjectRole } from './project-users.ts';
import { normalizeEmail, ORG_ROLES, type OrgMember, type OrgRole, UserService } from './users.ts';

export type Invite = Selectable<InvitesTable>;
export const INVITE_TTL_MS = 7 * 86_400_000;

export function inviteProjects(inv: Invite): Array<{ id: string; role: ProjectRole }> {
  return JSON.parse(inv.projects) as Array<{ id: string; role: ProjectRole }>;
}

export class InviteService {
  constructor(
    private readonly store: Store,
    private readonly users: UserService,
    private readonly now: () => number = Date.now,
  ) {}

  /** Status as of now: a pending invite past its expiry reads as expired. */
  private view(inv: Invite): Invite {
    return inv.status === 'pending' && inv.expires_at <= this.now() ? { ...inv, status: 'expired' } : inv;
  }

  async create(actor: Actor, orgId: string, input: { email: string; role: string; projects?: Array<{ id: string; role: string }> }): Promise<Invite> {
    requireOrgAdmin(actor, orgId);
    const email = normalizeEmail(input.email);
    if (!(ORG_ROLES as readonly string[]).includes(input.role)) throw invalid(`Invalid role '${input.role}': use owner or reader.`, 'role');
    const projects = (input.projects ?? []).map((p, i) => ({ id: p.id, role: checkProjectRoleAt(p.role, i) }));
    if (new Set(projects.map((p) => p.id)).size !== projects.length) throw invalid('A project is listed twice.', 'projects');
    const now = this.now();
    return this.store.db.transaction().execute(async (tx) => {
      for (const p of projects) await loadActiveProject(tx, orgId, p.id);
      const member = await tx.selectFrom('users').innerJoin('org_memberships', 'org_memberships.user_id', 'users.id').select('users.id').where('org_memberships.org_id', '=', orgId).where('users.email', '=', email).executeTakeFirst();
      if (member) throw invalid(`${email} is already a member of this organization.`, 'email', 'user_exists');
      // an invite past its expiry no longer holds the email's one pending slot (0009's unique index)
      await tx.updateTable('invites').set({ status: 'expired' }).where('org_id', '=', orgId).where('email', '=', email).where('status', '=', 'pending').where('expires_at', '<=', now).execute();
      const pending = await tx.selectFrom('invites').select('id').where('org_id', '=', orgId).where('email', '=', email).where('status', '=', 'pending').where('expires_at', '>', now).executeTakeFirst();
      if (pending) throw invalid(`${email} already has a pending invite (${pending.id}).`, 'email', 'invite_exists');
      const inv: Invite = { id: newId(ID_PREFIX.invite, now), org_id: orgId, email, role: input.role as OrgRole, status: 'pending', projects: JSON.stringify(projects), created_at: now, expires_at: now + INVITE_TTL_MS, accepted_at: null, token_hash: null };
      await tx.insertInto('invites').values(inv).execute();
      await recordAudit(tx, actor, { orgId, type: 'invite.sent', targetType: 'invite', targetId: inv.id, payload: { email, role: inv.role, projects } }, now);
      return inv;
    });
  }

  async list(actor: Actor, orgId: string, page: PageQuery): Promise<Page<Invite>> {
    requireOrgRead(actor, orgId);
    const q = this.store.db.selectFrom('invites').selectAll().where('org_id', '=', orgId);
    const p = await keysetPage(q, 'invites', page);
    return { items: p.items.map((i) => this.view(i)), hasMore: p.hasMore };
  }

  async get(actor: Actor, orgId: string, inviteId: string): Promise<Invite> {
    requireOrgRead(actor, orgId);
    const inv = await this.store.db.selectFrom('invites').selectAll().where('org_id', '=', orgId).where('id', '=', inviteId).executeTakeFirst();
    if (!inv) throw notFound(`No such invite: '${inviteId}'.`, 'invite_id');
    return this.view(inv);
  }

  async delete(actor: Actor, orgId: string, inviteId: string): Promise<Invite> {
    requireOrgAdmin(actor, orgId);
    const inv = await this.get(actor, orgId, inviteId);
    if (inv.status === 'accepted') throw invalid('An accepted invite cannot be deleted.', 'invite_id', 'invite_accepted');
    await this.store.db.transaction().execute(async (tx) => {
      await tx.deleteFrom('invites').where('id', '=', inviteId).execute();
      await recordAudit(tx, actor, { orgId, type: 'invite.deleted', targetType: 'invite', targetId: inviteId, payload: { email: inv.email } });
    });
    return inv;
  }

  /** Accepts a pending invite: the user joins the organization and the invite's projects. Operator only. */
  async accept(actor: Actor, orgId: string, inviteId: string, input: { name?: string | null } = {}): Promise<{ invite: Invite; member: OrgMember }> {
    requireOperator(actor);
    return this.store.db.transaction().execute(async (tx) => {
      const raw = await tx.selectFrom('invites').selectAll().where('org_id', '=', orgId).where('id', '=', inviteId).executeTakeFirst();
      if (!raw) throw notFound(`No such invite: '${inviteId}'.`, 'invite_id');
      const inv = this.view(raw);
      if (inv.status !== 'pending') throw invalid(`This invite is ${inv.status}.`, 'invite_id', `invite_${inv.status}`);
      return this.acceptIn(tx, actor, inv, input);
    });
  }

  /** The acceptance itself, inside the caller's transaction, of a pending invite. */
  private async acceptIn(tx: Tx, actor: Actor, inv: Invite, input: { name?: string | null }): Promise<{ invite: Invite; member: OrgMember }> {
    const now = this.now();
    const orgId = inv.org_id;
    // the invite is claimed first, by a conditional update: of concurrent acceptances one claims it
    // and the others (blocked on the row until it commits, on PostgreSQL) see it accepted
    const claimed = await tx.updateTable('invites').set({ status: 'accepted', accepted_at: now, token_hash: null }).where('id', '=', inv.id).where('status', '=', 'pending').executeTakeFirst();
    if (Number(claimed.numUpdatedRows) !== 1) throw invalid('This invite is accepted.', 'invite_id', 'invite_accepted');
    const member = await this.users.addMember(actor, orgId, { email: inv.email, name: input.name ?? null, role: inv.role }, tx);
    for (const p of inviteProjects(inv)) await addProjectMember(tx, actor, orgId, p.id, member.id, p.role, now);
    await recordAudit(tx, actor, { orgId, type: 'invite.accepted', targetType: 'invite', targetId: inv.id, payload: { userId: member.id } }, now);
    return { invite: { ...inv, status: 'accepted' as const, accepted_at: now, token_hash: null }, member };
  }

  /**
   * A fresh sign-up link token for a pending invite (organization admins): stored only as its
   * SHA-256, single-use, and a new link voids the previous one. The invitee accepts with it
   * (acceptByLink) without an operator.
   */
  async createLink(actor: Actor, orgId: string, inviteId: string): Promise<string> {
    requireOrgAdmin(actor, orgId);
    const inv = await this.get(actor, orgId, inviteId);
    if (inv.status !== 'pending') throw invalid(`This invite is ${inv.status}.`, 'invite_id', `invite_${inv.status}`);
    const token = randomBytes(32).toString('base64url');
    await this.store.db.transaction().execute(async (tx) => {
      await tx.updateTable('invites').set({ token_hash: tokenHash(token) }).where('id', '=', inviteId).execute();
      await recordAudit(tx, actor, { orgId, type: 'invite.link_created', targetType: 'invite', targetId: inviteId, payload: { email: inv.email } });
    });
    return token;
  }

  /**
   * Accepts the pending invite whose link token is `token` (as keyplane itself: the link, made by an
   * organization admin, is the authority); `then` runs in the same transaction with the new member
   * (the console sets the password there). A wrong, used, voided or expired token: invalid_invite.
   */
  async acceptByLink(token: string, input: { name?: string | null }, then?: (tx: Tx, member: OrgMember) => Promise<void>): Promise<{ invite: Invite; member: OrgMember }> {
    const bad = () => new DomainError('invalid', 'This invite link is not valid: it is wrong, was used or replaced, or has expired.', 'token', 'invalid_invite');
    if (!token || token.length > 200) throw bad();
    return this.store.db.transaction().execute(async (tx) => {
      const raw = await tx.selectFrom('invites').selectAll().where('token_hash', '=', tokenHash(token)).executeTakeFirst();
      if (!raw || this.view(raw).status !== 'pending') throw bad();
      let done: { invite: Invite; member: OrgMember };
      try {
        done = await this.acceptIn(tx, SYSTEM, raw, input);
      } catch (err) {
        if (err instanceof DomainError && err.code === 'invite_accepted') throw bad(); // accepted meanwhile
        throw err;
      }
      await then?.(tx, done.member);
      return done;
    });
  }
}

const tokenHash = (token: string): string => createHash('sha256').update(token).digest('hex');

function checkProjectRoleAt(role: string, i: number): ProjectRole {
  try {
    return checkProjectRole(role);
  } catch {
    throw invalid(`Invalid role '${role}' for projects[${i}]: use owner or member.`, `projects.${i}.role`);
  }
}
