// The acting principal of every service call, resolved by a face from the caller's key.
import { forbidden } from './errors.ts';
import type { ApiKeyKind } from '../store/schema.ts';

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

export type Actor =
  /** keyplane itself: bootstrap and the operator CLI. */
  | { type: 'system' }
  /** The operator's platform API, authenticated by KEYPLANE_ROOT_KEY. */
  | { type: 'root' }
  /** A caller holding an API key of some organization. */
  | { type: 'key'; key: KeyPrincipal };

export const SYSTEM: Actor = { type: 'system' };
export const ROOT: Actor = { type: 'root' };

export function keyActor(key: KeyPrincipal): Actor {
  return { type: 'key', key };
}

/** The operator (system or root) may act in any organization. */
export function isOperator(actor: Actor): boolean {
  return actor.type === 'system' || actor.type === 'root';
}

/**
 * Tenant administrators of `orgId`: the operator, an admin key of that organization, or a user key
 * (the h2oGPTe, WhyLabs and ibl.ai faces' own keys) whose owner is an owner of the organization.
 */
export function isOrgAdmin(actor: Actor, orgId: string): boolean {
  if (isOperator(actor)) return true;
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

/** Operator-only actions: creating organizations, issuing keys across tenants. */
export function requireOperator(actor: Actor): void {
  if (!isOperator(actor)) throw forbidden('This operation is reserved to the keyplane operator.');
}

/** Columns describing the actor in an audit row. */
export function auditActor(actor: Actor): { actor_type: string; actor_id: string | null; actor_key_id: string | null } {
  switch (actor.type) {
    case 'system':
      return { actor_type: 'system', actor_id: null, actor_key_id: null };
    case 'root':
      return { actor_type: 'root', actor_id: null, actor_key_id: null };
    case 'key':
      return { actor_type: 'api_key', actor_id: actor.key.ownerId, actor_key_id: actor.key.keyId };
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
