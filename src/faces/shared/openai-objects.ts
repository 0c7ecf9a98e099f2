// OpenAI admin objects shared by the faces that show them: the OpenAI admin face, and the operator's
// platform API, whose answers embed an admin key, an invite or a user in OpenAI's shape.
import type { ApiKeyRow } from '../../store/schema.ts';
import type { OrgMember } from '../../domain/users.ts';
import { inviteProjects, type Invite } from '../../domain/invites.ts';
import { toUnixSeconds, toUnixSecondsOrNull } from '../common.ts';

/** Longest `expires_in_seconds` of an admin or project key: one year. */
export const MAX_EXPIRES_IN_SECONDS = 31_536_000;

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

export function formatOrgUser(m: OrgMember) {
  return { object: 'organization.user' as const, id: m.id, name: m.name, email: m.email, role: m.role, added_at: toUnixSeconds(m.created_at) };
}

export function formatInvite(i: Invite) {
  return {
    object: 'organization.invite' as const,
    id: i.id,
    email: i.email,
    role: i.role,
    status: i.status,
    created_at: toUnixSeconds(i.created_at),
    expires_at: toUnixSeconds(i.expires_at),
    accepted_at: toUnixSecondsOrNull(i.accepted_at),
    projects: inviteProjects(i),
  };
}
