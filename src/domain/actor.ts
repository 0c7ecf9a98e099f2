// The acting principal of every service call, resolved by a face from the caller's key.
import { forbidden } from './errors.ts';
import type { ApiKeyKind } from '../store/schema.ts';
import type { Grants, ProjectAccess } from './access.ts';

/** What a verified API key stands for. */
export interface KeyPrincipal {
  keyId: string;
  orgId: string;
  kind: ApiKeyKind;
  projectId: string | null;
  ownerType: 'user' | 'service_account' | null;
  ownerId: string | null;
  scopes: string[];
  expiresAt: number | null;
  /**
   * The organization role of the key's owner when the owner is a user (resolved when the key is
   * verified; a role change evicts the user's keys from the cache), else null.
   */
  ownerOrgRole: 'owner' | 'reader' | null;
}

/** The HTTP request an actor's call came with, recorded in the audit rows it writes. */
export interface RequestContext {
  /** The request id the server answers with (`x-request-id`). */
  id: string;
  /** The client's address, as the server saw it. */
  ip: string | null;
  userAgent: string | null;
}

export type Actor =
  /** keyplane itself: bootstrap, and the CLI commands that predate the `cli` actor. */
  | { type: 'system' }
  /** The operator at the `keyplane` command line (keys, orgs: recorded as `operator_cli` in the audit log). */
  | { type: 'cli' }
  /** The operator's platform API, authenticated by KEYPLANE_ROOT_KEY. */
  | { type: 'root'; request?: RequestContext }
  /** A caller holding an API key of some organization. */
  | { type: 'key'; key: KeyPrincipal; request?: RequestContext }
  /** A user signed in to the console (src/domain/console-sessions.ts), acting in one organization with their role there. */
  | { type: 'console_user'; user: ConsoleUserPrincipal; request?: RequestContext }
  /** A console request without a session (sign-in, invite acceptance): may do nothing in the domain. */
  | { type: 'console_anonymous'; request?: RequestContext };

/** A user signed in to the console: who, in which organization, with which role. */
export interface ConsoleUserPrincipal {
  userId: string;
  orgId: string;
  role: 'owner' | 'reader';
  /** What their roles allow (src/domain/access.ts), resolved for each request. */
  grants: Grants;
}

export const SYSTEM: Actor = { type: 'system' };
export const ROOT: Actor = { type: 'root' };
/** The operator's CLI (`keyplane keys …`, `keyplane orgs show|disable|enable`). */
export const OPERATOR_CLI: Actor = { type: 'cli' };

/** The holder of `key`; `request`: the HTTP request the call came with, for the audit log. */
export function keyActor(key: KeyPrincipal, request?: RequestContext): Actor {
  return request ? { type: 'key', key, request } : { type: 'key', key };
}

/** The operator over the platform API; `request` as for keyActor. */
export function rootActor(request?: RequestContext): Actor {
  return request ? { type: 'root', request } : ROOT;
}

/** The operator (system, root or the CLI) may act in any organization. */
export function isOperator(actor: Actor): boolean {
  return actor.type === 'system' || actor.type === 'root' || actor.type === 'cli';
}

/**
 * Tenant administrators of `orgId`: the operator, an admin key of that organization, or a user key
 * (the h2oGPTe, WhyLabs and ibl.ai faces' own keys) whose owner is an owner of the organization.
 */
export function isOrgAdmin(actor: Actor, orgId: string): boolean {
  if (isOperator(actor)) return true;
  if (actor.type === 'console_user') return actor.user.orgId === orgId && actor.user.grants.orgWrite;
  if (actor.type !== 'key' || actor.key.orgId !== orgId) return false;
  return actor.key.kind === 'admin' || (actor.key.kind === 'user' && actor.key.ownerOrgRole === 'owner');
}

/** Organization administration: see isOrgAdmin. */
export function requireOrgAdmin(actor: Actor, orgId: string): void {
  if (isOrgAdmin(actor, orgId)) return;
  throw forbidden(
    actor.type === 'key' && actor.key.orgId === orgId
      ? 'This operation needs an admin API key; the key you used is not one.'
      : 'You do not have access to this organization.',
  );
}

/**
 * Reading the organization (members, groups, roles, invites, masked credentials, usage, audit log):
 * its administrators (isOrgAdmin) and every console user of the organization. A key reads what it
 * administers: for keys this is isOrgAdmin.
 */
export function canReadOrg(actor: Actor, orgId: string): boolean {
  if (isOrgAdmin(actor, orgId)) return true;
  return actor.type === 'console_user' && actor.user.orgId === orgId && actor.user.grants.orgRead;
}

/** canReadOrg, or forbidden. */
export function requireOrgRead(actor: Actor, orgId: string): void {
  if (canReadOrg(actor, orgId)) return;
  requireOrgAdmin(actor, orgId); // throws the usual forbidden
}

/**
 * The actor's level in a project of `orgId`: `write` for the organization's administrators, a console
 * user's project grant otherwise (null: the project is not theirs to see).
 */
export function projectAccess(actor: Actor, orgId: string, projectId: string): ProjectAccess | null {
  if (isOrgAdmin(actor, orgId)) return 'write';
  if (actor.type !== 'console_user' || actor.user.orgId !== orgId) return null;
  return actor.user.grants.projects.get(projectId) ?? null;
}

/**
 * The projects of `orgId` the actor may see: null for all of them (an administrator), else the list
 * of a console user's projects ([] for a caller with none).
 */
export function visibleProjects(actor: Actor, orgId: string): string[] | null {
  if (isOrgAdmin(actor, orgId)) return null;
  if (actor.type !== 'console_user' || actor.user.orgId !== orgId) return [];
  return [...actor.user.grants.projects.keys()];
}

/** Seeing a project and what is in it (members, keys, limits, settings): any level in it. */
export function requireProjectRead(actor: Actor, orgId: string, projectId: string): void {
  if (projectAccess(actor, orgId, projectId)) return;
  if (actor.type === 'console_user' && actor.user.orgId === orgId) throw forbidden('You are not a member of this project.');
  requireOrgAdmin(actor, orgId); // throws the usual forbidden
}

/** Changing a project (members, service accounts, keys, limits, settings): `write` in it. */
export function requireProjectWrite(actor: Actor, orgId: string, projectId: string): void {
  if (projectAccess(actor, orgId, projectId) === 'write') return;
  if (actor.type === 'console_user' && actor.user.orgId === orgId) throw forbidden('Your role does not allow changing this project.');
  requireOrgAdmin(actor, orgId); // throws the usual forbidden
}

/** A key as far as who may manage it goes: its kind and owner (from a row: kind, owner_type, owner_id). */
export interface ManagedKey {
  kind: ApiKeyKind;
  /** The project of a project key (a console user with write access to it may manage it). */
  projectId?: string | null;
  ownerType: 'user' | 'service_account' | null;
  ownerId: string | null;
}

/** The acting key is a user key of `orgId` owned by a user: it may manage that user's own user keys. */
function isSelfServiceKey(actor: Actor, orgId: string): actor is { type: 'key'; key: KeyPrincipal & { ownerId: string } } {
  return actor.type === 'key' && actor.key.orgId === orgId && actor.key.kind === 'user' && actor.key.ownerType === 'user' && !!actor.key.ownerId;
}

/**
 * The one rule for managing a key (reading, listing, creating, changing, revoking, deleting): the
 * key's owner or an organization admin. "Owner" means a caller holding a user key of the
 * organization, acting on a user key owned by the same user; every other key is the admins' alone.
 * For a key not yet created (or a listing by owner), pass the would-be key.
 */
export function canManageKey(actor: Actor, orgId: string, key: ManagedKey): boolean {
  if (isOrgAdmin(actor, orgId)) return true;
  if (key.kind === 'project' && key.projectId) {
    // project owners manage the project's keys; members (`api.project.api_keys.own`) their own
    const level = projectAccess(actor, orgId, key.projectId);
    if (level === 'write') return true;
    if (level === 'member' && actor.type === 'console_user' && key.ownerType === 'user' && key.ownerId === actor.user.userId) return true;
  }
  return isSelfServiceKey(actor, orgId) && key.kind === 'user' && key.ownerType === 'user' && key.ownerId === actor.key.ownerId;
}

/** canManageKey, or forbidden. */
export function requireCanManageKey(actor: Actor, orgId: string, key: ManagedKey): void {
  if (canManageKey(actor, orgId, key)) return;
  if (isSelfServiceKey(actor, orgId)) throw forbidden('You may only manage your own API keys.');
  requireOrgAdmin(actor, orgId); // throws the usual forbidden
}

/** Seeing a key: whoever may manage it, and anyone who may see its project (a project key). */
export function requireCanReadKey(actor: Actor, orgId: string, key: ManagedKey): void {
  if (key.kind === 'project' && key.projectId && projectAccess(actor, orgId, key.projectId)) return;
  requireCanManageKey(actor, orgId, key);
}

/**
 * Before a key is loaded: refuses callers who could manage no key of `orgId` at all (neither an
 * admin nor a user key holder), so they learn nothing about which keys exist. Check the loaded key
 * with requireCanManageKey.
 */
export function requireKeyManager(actor: Actor, orgId: string): void {
  if (isOrgAdmin(actor, orgId) || isSelfServiceKey(actor, orgId)) return;
  // a console user: each key is checked by requireCanManageKey / requireCanReadKey
  if (actor.type === 'console_user' && actor.user.orgId === orgId) return;
  requireOrgAdmin(actor, orgId); // throws
}

/** The rule's view of a stored key row. */
export function managedKeyOf(row: { kind: ApiKeyKind; project_id?: string | null; owner_type: 'user' | 'service_account' | null; owner_id: string | null }): ManagedKey {
  return { kind: row.kind, projectId: row.project_id ?? null, ownerType: row.owner_type, ownerId: row.owner_id };
}

/** Operator-only actions: creating organizations, issuing keys across tenants. */
export function requireOperator(actor: Actor): void {
  if (!isOperator(actor)) throw forbidden('This operation is reserved to the keyplane operator.');
}

/** Longest user agent kept in an audit row; longer ones are cut. */
export const MAX_AUDIT_USER_AGENT = 512;
const MAX_AUDIT_REQUEST_ID = 200;
const MAX_AUDIT_IP = 64;

/** Columns describing the request an actor's call came with (all null without one). */
export function auditRequest(actor: Actor): { request_id: string | null; client_ip: string | null; user_agent: string | null } {
  const r = actor.type === 'system' || actor.type === 'cli' ? undefined : actor.request;
  if (!r) return { request_id: null, client_ip: null, user_agent: null };
  return {
    request_id: r.id.slice(0, MAX_AUDIT_REQUEST_ID),
    client_ip: r.ip === null ? null : r.ip.slice(0, MAX_AUDIT_IP),
    user_agent: r.userAgent === null ? null : r.userAgent.slice(0, MAX_AUDIT_USER_AGENT),
  };
}

/** Columns describing the actor in an audit row. */
export function auditActor(actor: Actor): { actor_type: string; actor_id: string | null; actor_key_id: string | null } {
  switch (actor.type) {
    case 'system':
      return { actor_type: 'system', actor_id: null, actor_key_id: null };
    case 'root':
      return { actor_type: 'root', actor_id: null, actor_key_id: null };
    case 'cli':
      return { actor_type: 'operator_cli', actor_id: null, actor_key_id: null };
    case 'key':
      return { actor_type: 'api_key', actor_id: actor.key.ownerId, actor_key_id: actor.key.keyId };
    case 'console_user':
      return { actor_type: 'console_user', actor_id: actor.user.userId, actor_key_id: null };
    case 'console_anonymous':
      return { actor_type: 'console_anonymous', actor_id: null, actor_key_id: null };
  }
}

/** An organization's admin key (the OpenAI admin face admits no other principal). */
export function isAdminKey(actor: Actor): boolean {
  return actor.type === 'key' && actor.key.kind === 'admin';
}

/** Any key of `orgId` (the faces whose operations check finer rights themselves, in the domain). */
export function isKeyOf(actor: Actor, orgId: string): boolean {
  return actor.type === 'key' && actor.key.orgId === orgId;
}

/** A project key, owned by a user or a service account: the only principal the gateway admits. */
export function isProjectKey(actor: Actor): actor is { type: 'key'; key: KeyPrincipal & { projectId: string } } {
  return actor.type === 'key' && actor.key.kind === 'project' && actor.key.projectId !== null;
}

/**
 * Whether a key's scopes allow `scope` (OpenAI's rule: no scopes = every permission). A scope is
 * `api.<resource>.<action>`; `api.<resource>.*`, `api.all.<action>` and `api.all.*` cover it, and a
 * `write` action covers `request` (using a model is writing to it).
 */
export function keyAllows(key: KeyPrincipal, scope: string): boolean {
  if (key.scopes.length === 0) return true;
  const [, resource, action] = scope.split('.');
  const actions = action === 'request' ? ['request', 'write', '*'] : [action, '*'];
  for (const r of [resource, 'all']) for (const a of actions) if (key.scopes.includes(`api.${r}.${a}`)) return true;
  return false;
}
