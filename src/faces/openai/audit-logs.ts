// /v1/organization/audit_logs: the organization's audit events in OpenAI's AuditLog shape, newest
// first, with every filter of the API. Only OpenAI's event types are shown; events other faces
// record under keyplane's own types (e.g. `organization.created`) stay out of this face.
import { Type, type FastifyPluginAsyncTypebox, type Static } from '@fastify/type-provider-typebox';
import type { Core } from '../../domain/core.ts';
import type { AuditEntry, AuditFilter } from '../../domain/audit.ts';
import { AUDIT_EVENT_TYPES, isAuditEventType, type AuditEventType, type AuditPayload, type RoleScope } from '../../domain/audit-events.ts';
import type { AuditLogRow } from '../../store/schema.ts';
import { toUnixSeconds } from '../common.ts';
import { cursorList } from '../shared/openai-wire.ts';
import { Id } from './schemas.ts';
import { resourceTypeOfScope, scopeOfResourceType } from './resource-types.ts';
import * as R from '../shared/openai-responses.ts';

/** OpenAI's organization-scoped audit event types (the spec's AuditLogEventType without `tenant.*`). */
export const OPENAI_AUDIT_TYPES = [
  'api_key.created', 'api_key.updated', 'api_key.deleted',
  'certificate.created', 'certificate.updated', 'certificate.deleted', 'certificates.activated', 'certificates.deactivated',
  'checkpoint.permission.created', 'checkpoint.permission.deleted',
  'external_key.registered', 'external_key.removed',
  'group.created', 'group.updated', 'group.deleted',
  'invite.sent', 'invite.accepted', 'invite.deleted',
  'ip_allowlist.created', 'ip_allowlist.updated', 'ip_allowlist.deleted', 'ip_allowlist.config.activated', 'ip_allowlist.config.deactivated',
  'login.succeeded', 'login.failed', 'logout.succeeded', 'logout.failed',
  'organization.updated',
  'project.created', 'project.updated', 'project.archived', 'project.deleted',
  'rate_limit.updated', 'rate_limit.deleted',
  'resource.deleted',
  'tunnel.created', 'tunnel.updated', 'tunnel.deleted',
  'workload_identity_provider.created', 'workload_identity_provider.updated', 'workload_identity_provider.deleted',
  'workload_identity_provider_mapping.created', 'workload_identity_provider_mapping.updated', 'workload_identity_provider_mapping.deleted',
  'role.created', 'role.updated', 'role.deleted', 'role.assignment.created', 'role.assignment.deleted',
  'role.bound_to_resource', 'role.unbound_from_resource',
  'scim.enabled', 'scim.disabled',
  'service_account.created', 'service_account.updated', 'service_account.deleted',
  'user.added', 'user.updated', 'user.deleted',
] as const;
type OpenAIAuditType = (typeof OPENAI_AUDIT_TYPES)[number];

const Strings = Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 320 }), { maxItems: 100 }));
const EventTypes = Type.Optional(Type.Array(Type.String({ pattern: '^[a-z0-9_.]{1,100}$' }), { maxItems: 200 }));
const Seconds = Type.Optional(Type.Integer({ minimum: 0, maximum: 100_000_000_000 }));
// The SDK sends `key[]=v` and `effective_at[gte]=n`; `key=v` and a parsed `effective_at` object are accepted too.
const ListQuery = Type.Object({
  'effective_at[gt]': Seconds,
  'effective_at[gte]': Seconds,
  'effective_at[lt]': Seconds,
  'effective_at[lte]': Seconds,
  effective_at: Type.Optional(Type.Object({ gt: Seconds, gte: Seconds, lt: Seconds, lte: Seconds })),
  'project_ids[]': Strings,
  project_ids: Strings,
  'event_types[]': EventTypes,
  event_types: EventTypes,
  'actor_ids[]': Strings,
  actor_ids: Strings,
  'actor_emails[]': Strings,
  actor_emails: Strings,
  'resource_ids[]': Strings,
  resource_ids: Strings,
  tenant_only: Type.Optional(Type.Boolean()),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 20 })),
  after: Type.Optional(Id),
  before: Type.Optional(Id),
});
type Query = Static<typeof ListQuery>;

function both(a: string[] | undefined, b: string[] | undefined): string[] | undefined {
  if (a === undefined && b === undefined) return undefined;
  return [...new Set([...(a ?? []), ...(b ?? [])])];
}

/** Turns the wire query (unix seconds, bracket keys) into the domain's filter (milliseconds, [from, to)). */
export function auditFilterOf(q: Query): AuditFilter {
  const gt = q['effective_at[gt]'] ?? q.effective_at?.gt;
  const gte = q['effective_at[gte]'] ?? q.effective_at?.gte;
  const lt = q['effective_at[lt]'] ?? q.effective_at?.lt;
  const lte = q['effective_at[lte]'] ?? q.effective_at?.lte;
  const froms = [gte !== undefined ? gte * 1000 : undefined, gt !== undefined ? (gt + 1) * 1000 : undefined].filter((v): v is number => v !== undefined);
  const tos = [lt !== undefined ? lt * 1000 : undefined, lte !== undefined ? (lte + 1) * 1000 : undefined].filter((v): v is number => v !== undefined);
  const requested = both(q['event_types[]'], q.event_types);
  const filter: AuditFilter = {
    // tenant-scoped events are never recorded here: `tenant_only` matches nothing
    types: q.tenant_only ? [] : requested ? requested.filter((t) => SHOWN_AUDIT_TYPES.includes(t)) : [...SHOWN_AUDIT_TYPES],
  };
  const projectIds = both(q['project_ids[]'], q.project_ids);
  const actorIds = both(q['actor_ids[]'], q.actor_ids);
  const actorEmails = both(q['actor_emails[]'], q.actor_emails);
  const resourceIds = both(q['resource_ids[]'], q.resource_ids);
  if (projectIds?.length) filter.projectIds = projectIds;
  if (actorIds?.length) filter.actorIds = actorIds;
  if (actorEmails?.length) filter.actorEmails = actorEmails;
  if (resourceIds?.length) filter.targetIds = resourceIds;
  if (froms.length) filter.from = Math.max(...froms);
  if (tos.length) filter.to = Math.min(...tos);
  return filter;
}

type Payload = Record<string, unknown>;
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const num = (v: unknown): number | null | undefined => (typeof v === 'number' ? v : v === null ? null : undefined);
const obj = (v: unknown): Payload => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Payload) : {});
const strs = (v: unknown): string[] | undefined => (Array.isArray(v) ? v.filter((s): s is string => typeof s === 'string') : undefined);
/** Drops undefined values so optional keys are absent rather than null. */
function compact(o: Payload): Payload {
  const out: Payload = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined && v !== null) out[k] = v;
  return out;
}
/** Scopes as stored: a list, or (in rows written before the audit catalog) a JSON-encoded list. */
function scopesOf(v: unknown): string[] | null | undefined {
  if (v === null) return null;
  if (Array.isArray(v)) return strs(v);
  if (typeof v === 'string') {
    try {
      return scopesOf(JSON.parse(v));
    } catch {
      return undefined;
    }
  }
  return undefined;
}

type DeepPartial<T> = T extends Array<infer U> ? Array<DeepPartial<U>> : T extends object ? { [K in keyof T]?: DeepPartial<T[K]> } : T;
/** A payload as read back from the store: the catalog's shape, though an old row may lack fields. */
type Stored<T extends AuditEventType> = DeepPartial<AuditPayload<T>>;

/**
 * Readers of payloads whose stored shape changed with the audit catalog: rows written before it
 * (still in existing databases) used OpenAI's words (`data`, `changes_requested`, snake_case). Each
 * reader accepts both shapes. Types without a reader kept their shape.
 */
const READERS: { [T in AuditEventType]?: (raw: Payload) => Stored<T> } = {
  'api_key.created': (r) => ({ scopes: scopesOf(r.scopes) ?? scopesOf(obj(r.data).scopes) }),
  'api_key.updated': (r) => {
    const ch = obj(r.changes ?? r.changes_requested);
    return { changes: { scopes: scopesOf(ch.scopes), expiresAt: num(ch.expiresAt !== undefined ? ch.expiresAt : ch.expires_at) } };
  },
  'project.created': (r) => ({ name: str(r.name) ?? str(obj(r.data).name) }),
  'project.updated': (r) => ({ changes: { name: str(obj(r.changes ?? r.changes_requested).name) } }),
  'rate_limit.updated': (r) => ({ model: str(r.model), changes: obj(r.changes ?? r.changes_requested) }),
  'certificate.deleted': (r) => ({ id: str(r.id), name: str(r.name), content: str(r.content) ?? str(r.certificate) }),
  'user.added': (r) => ({ role: str(r.role) ?? str(obj(r.data).role) }),
  'user.updated': (r) => ({ role: str(r.role) ?? str(obj(r.changes_requested).role) }),
  'service_account.created': (r) => ({ name: str(r.name) ?? str(obj(r.data).name), role: str(r.role) ?? str(obj(r.data).role) }),
  'service_account.updated': (r) => ({ changes: { role: str(obj(r.changes ?? r.changes_requested).role) } }),
  'invite.sent': (r) => {
    const d = r.data === undefined ? r : obj(r.data);
    return { email: str(d.email), role: str(d.role) };
  },
  'group.created': (r) => ({ name: str(r.name) ?? str(obj(r.data).group_name) }),
  'group.updated': (r) => ({ name: str(r.name) ?? str(obj(r.changes_requested).group_name) }),
  'group.deleted': (r) => ({ name: str(r.name) ?? str(r.group_name) }),
  'role.created': (r) => ({ name: str(r.name) ?? str(r.role_name), permissions: strs(r.permissions), ...roleScopeOf(r) }),
  'role.updated': (r) => {
    if (r.changes_requested === undefined) return r as Stored<'role.updated'>;
    const c = obj(r.changes_requested);
    return {
      changes: { name: str(c.role_name), description: str(c.description), permissionsAdded: strs(c.permissions_added), permissionsRemoved: strs(c.permissions_removed) },
      ...roleScopeOf(c),
    };
  },
  'role.deleted': (r) => ({ name: str(r.name) ?? str(r.role_name) }),
  'role.assignment.created': (r) => assignmentOf(r),
  'role.assignment.deleted': (r) => assignmentOf(r),
};
function roleScopeOf(r: Payload): DeepPartial<RoleScope> {
  const scope = r.scope === 'organization' || r.scope === 'project' ? r.scope : scopeOfResourceType(r.resourceType ?? r.resource_type);
  return { resourceId: str(r.resourceId) ?? str(r.resource_id), scope };
}
const resourceType = (scope: RoleScope['scope'] | undefined) => (scope ? resourceTypeOfScope(scope) : undefined);
function assignmentOf(r: Payload): Stored<'role.assignment.created'> {
  return {
    roleId: str(r.roleId) ?? str(r.role_id),
    principalId: str(r.principalId) ?? str(r.principal_id),
    principalType: str(r.principalType) ?? str(r.principal_type),
    ...roleScopeOf(r),
  };
}

/** What a view knows of the row besides its payload. */
interface EventContext {
  /** The target's id. */
  id: string | undefined;
  /** When the event happened (ms). */
  at: number;
}
type View<T extends AuditEventType> = (p: Stored<T>, e: EventContext) => Payload;
const HIDDEN = 'hidden' as const;
/** For every catalog type: how this face shows it, or HIDDEN. Only OpenAI's own types can be shown. */
type Views = { [T in AuditEventType]: T extends OpenAIAuditType ? View<T> | typeof HIDDEN : typeof HIDDEN };

/**
 * `expires_in_seconds` of an expiry change: the seconds from the event to the new expiry (never
 * negative). A removed expiry (null) shows no `expires_in_seconds`, as OpenAI omits the field for a
 * key that does not expire; an event that did not change the expiry shows none either.
 */
function expiresInSeconds(expiresAt: number | null | undefined, at: number): number | undefined {
  if (typeof expiresAt !== 'number') return undefined;
  return Math.max(0, Math.round((expiresAt - at) / 1000));
}
const idOnly = (_p: unknown, e: EventContext): Payload => compact({ id: e.id });
const certificateOf = (p: Stored<'certificate.updated'>, e: EventContext): Payload => compact({ id: p.id ?? e.id, name: p.name });
const certificatesOf = (p: Stored<'certificates.activated'>): Payload => ({ certificates: (p.certificates ?? []).map((c) => compact({ id: c?.id, name: c?.name })) });
const assignmentView = (p: Stored<'role.assignment.created'>, e: EventContext): Payload =>
  compact({ id: e.id, role_id: p.roleId, principal_id: p.principalId, principal_type: p.principalType, resource_id: p.resourceId, resource_type: resourceType(p.scope) });

const VIEWS: Views = {
  'api_key.created': (p, e) => compact({ id: e.id, data: compact({ scopes: p.scopes }) }),
  'api_key.updated': (p, e) =>
    compact({
      id: e.id,
      // removed scope restrictions read as `[]`: OpenAI's "all permissions"
      changes_requested: compact({ scopes: p.changes?.scopes === null ? [] : p.changes?.scopes, expires_in_seconds: expiresInSeconds(p.changes?.expiresAt, e.at) }),
    }),
  'api_key.deleted': idOnly,
  'project.created': (p, e) => compact({ id: e.id, data: compact({ name: p.name, title: p.name }) }),
  'project.updated': (p, e) => compact({ id: e.id, changes_requested: compact({ title: p.changes?.name }) }),
  'project.archived': idOnly,
  'rate_limit.updated': (p, e) => compact({ id: e.id, changes_requested: p.changes ?? {} }),
  'certificate.created': certificateOf,
  'certificate.updated': certificateOf,
  'certificate.deleted': (p, e) => compact({ id: p.id ?? e.id, name: p.name, certificate: p.content }),
  'certificates.activated': certificatesOf,
  'certificates.deactivated': certificatesOf,
  'user.added': (p, e) => compact({ id: e.id, data: compact({ role: p.role }) }),
  'user.updated': (p, e) => compact({ id: e.id, changes_requested: compact({ role: p.role }) }),
  'user.deleted': idOnly,
  'service_account.created': (p, e) => compact({ id: e.id, data: compact({ role: p.role }) }),
  'service_account.updated': (p, e) => compact({ id: e.id, changes_requested: compact({ role: p.changes?.role }) }),
  'service_account.deleted': idOnly,
  'invite.sent': (p, e) => compact({ id: e.id, data: compact({ email: p.email, role: p.role }) }),
  'invite.accepted': idOnly,
  'invite.deleted': idOnly,
  'group.created': (p, e) => compact({ id: e.id, data: compact({ group_name: p.name }) }),
  'group.updated': (p, e) => compact({ id: e.id, changes_requested: compact({ group_name: p.name }) }),
  'group.deleted': idOnly,
  'role.created': (p, e) => compact({ id: e.id, role_name: p.name, permissions: p.permissions, resource_id: p.resourceId, resource_type: resourceType(p.scope) }),
  'role.updated': (p, e) =>
    compact({
      id: e.id,
      changes_requested: compact({
        role_name: p.changes?.name,
        description: p.changes?.description,
        permissions_added: p.changes?.permissionsAdded,
        permissions_removed: p.changes?.permissionsRemoved,
        resource_id: p.resourceId,
        resource_type: resourceType(p.scope),
      }),
    }),
  'role.deleted': (p, e) => compact({ id: e.id, role_name: p.name }),
  'role.assignment.created': assignmentView,
  'role.assignment.deleted': assignmentView,
  // keyplane's own events: not OpenAI audit log types
  'organization.created': HIDDEN,
  'organization.default_llm_key_updated': HIDDEN,
  'organization.free_trial_updated': HIDDEN,
  'organization.disabled': HIDDEN,
  'organization.enabled': HIDDEN,
  'invite.link_created': HIDDEN,
  'console.signed_in': HIDDEN,
  'console.sign_in_failed': HIDDEN,
  'console.password_changed': HIDDEN,
  // project settings: keyplane's own event types (OpenAI's audit log has none for them)
  'project.model_permissions_updated': HIDDEN,
  'project.model_permissions_deleted': HIDDEN,
  'project.hosted_tool_permissions_updated': HIDDEN,
  'project.service_tier_settings_updated': HIDDEN,
  'project.data_retention_updated': HIDDEN,
  'organization.data_retention_updated': HIDDEN,
  'spend_limit.updated': HIDDEN,
  'spend_limit.deleted': HIDDEN,
  'spend_alert.created': HIDDEN,
  'spend_alert.updated': HIDDEN,
  'spend_alert.deleted': HIDDEN,
  'spend_alert.triggered': HIDDEN,
  'credential.created': HIDDEN,
  'credential.updated': HIDDEN,
  'credential.deleted': HIDDEN,
  'credential.decrypted': HIDDEN,
  'default_credential.created': HIDDEN,
  'default_credential.updated': HIDDEN,
  'default_credential.deleted': HIDDEN,
  'default_credential.decrypted': HIDDEN,
  'vault.master_key_rotated': HIDDEN,
  'platform_settings.created': HIDDEN,
  'platform_settings.updated': HIDDEN,
};

/** The catalog types this face shows (a subset of OpenAI's types): the list's type filter. */
export const SHOWN_AUDIT_TYPES: readonly string[] = AUDIT_EVENT_TYPES.filter((t) => VIEWS[t] !== HIDDEN);

function show<T extends AuditEventType>(type: T, raw: Payload, e: EventContext): Payload {
  const view = VIEWS[type] as View<T> | typeof HIDDEN;
  if (view === HIDDEN) return compact({ id: e.id });
  const read = READERS[type] as ((raw: Payload) => Stored<T>) | undefined;
  return view(read ? read(raw) : (raw as Stored<T>), e);
}

/** The per-type details object of an AuditLog, from the stored row (never secrets). */
export function auditDetails(row: Pick<AuditLogRow, 'type' | 'target_id' | 'payload' | 'created_at'>): Payload {
  const e: EventContext = { id: row.target_id ?? undefined, at: Number(row.created_at) };
  if (!isAuditEventType(row.type)) return compact({ id: e.id }); // not in the catalog: never listed here
  let raw: Payload = {};
  try {
    raw = obj(JSON.parse(row.payload));
  } catch {
    raw = {};
  }
  return show(row.type, raw, e);
}

function formatActor(e: AuditEntry) {
  const r = e.row;
  if (r.actor_type !== 'api_key') return null; // keyplane itself (bootstrap, operator): no OpenAI actor
  const user = e.actorUser ? { id: e.actorUser.id, email: e.actorUser.email } : undefined;
  const apiKey =
    e.actorKind === 'service_account'
      ? compact({ id: r.actor_key_id ?? undefined, type: 'service_account', service_account: r.actor_id ? { id: r.actor_id } : undefined })
      : compact({ id: r.actor_key_id ?? undefined, type: 'user', user: user ?? (r.actor_id ? { id: r.actor_id } : undefined) });
  return { type: 'api_key' as const, api_key: apiKey };
}

export function formatAuditLog(e: AuditEntry) {
  const r = e.row;
  return {
    id: r.id,
    type: r.type,
    effective_at: toUnixSeconds(r.created_at),
    actor: formatActor(e),
    ...(e.project ? { project: { id: e.project.id, name: e.project.name } } : r.project_id ? { project: { id: r.project_id } } : {}),
    [r.type]: auditDetails(r),
  };
}

export const auditLogsRoutes: FastifyPluginAsyncTypebox<{ core: Core }> = async (app, { core }) => {
  app.get('/organization/audit_logs', { schema: { response: R.ok(R.CursorPage(R.AuditLog)), querystring: ListQuery } }, async (req) => {
    const q = req.query;
    const page = await core.audit.list(req.actor, req.org.id, auditFilterOf(q), { limit: q.limit ?? 20, after: q.after, before: q.before, order: 'desc' });
    return cursorList(page.items.map(formatAuditLog), page.hasMore);
  });
};
