// /v1/organization/audit_logs: the organization's audit events in OpenAI's AuditLog shape, newest
// first, with every filter of the API. Only OpenAI's event types are shown; events other faces
// record under keyplane's own types (e.g. `organization.created`) stay out of this face.
import { Type, type FastifyPluginAsyncTypebox, type Static } from '@fastify/type-provider-typebox';
import type { Core } from '../../domain/core.ts';
import type { AuditEntry, AuditFilter } from '../../domain/audit.ts';
import { toUnixSeconds } from '../common.ts';
import { cursorList } from '../shared/openai-wire.ts';
import { Id } from './schemas.ts';

/** OpenAI's organization-scoped audit event types (the spec's AuditLogEventType without `tenant.*`). */
export const OPENAI_AUDIT_TYPES: readonly string[] = [
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
];

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
    types: q.tenant_only ? [] : requested ? requested.filter((t) => OPENAI_AUDIT_TYPES.includes(t)) : [...OPENAI_AUDIT_TYPES],
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
const obj = (v: unknown): Payload => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Payload) : {});
/** Drops undefined values so optional keys are absent rather than null. */
function compact(o: Payload): Payload {
  const out: Payload = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined && v !== null) out[k] = v;
  return out;
}
function scopesOf(v: unknown): string[] | undefined {
  if (Array.isArray(v)) return v.filter((s): s is string => typeof s === 'string');
  if (typeof v === 'string') {
    try {
      return scopesOf(JSON.parse(v));
    } catch {
      return undefined;
    }
  }
  return undefined;
}
function roleOf(p: Payload): Payload {
  const role = str(obj(p.data).role) ?? str(p.role);
  return compact({ role });
}

/** The per-type details object of an AuditLog, from the stored payload (never secrets). */
export function auditDetails(type: string, targetId: string | null, p: Payload): Payload {
  const id = targetId ?? undefined;
  switch (type) {
    case 'api_key.created':
      return compact({ id, data: compact({ scopes: scopesOf(p.scopes) ?? scopesOf(obj(p.data).scopes) }) });
    case 'api_key.updated': {
      const ch = obj(p.changes_requested);
      return compact({ id, changes_requested: compact({ scopes: scopesOf(ch.scopes), expires_in_seconds: typeof ch.expires_in_seconds === 'number' ? ch.expires_in_seconds : undefined }) });
    }
    case 'project.created': {
      const name = str(obj(p.data).name);
      return compact({ id, data: compact({ name, title: name }) });
    }
    case 'project.updated': {
      const name = str(obj(p.changes_requested).name);
      return compact({ id, changes_requested: compact({ title: name }) });
    }
    case 'rate_limit.updated':
      return compact({ id, changes_requested: obj(p.changes_requested) });
    case 'certificate.created':
    case 'certificate.updated':
      return compact({ id: str(p.id) ?? id, name: str(p.name) });
    case 'certificate.deleted':
      return compact({ id: str(p.id) ?? id, name: str(p.name), certificate: str(p.certificate) });
    case 'certificates.activated':
    case 'certificates.deactivated':
      return { certificates: Array.isArray(p.certificates) ? p.certificates.map((c) => compact({ id: str(obj(c).id), name: str(obj(c).name) })) : [] };
    case 'user.added':
    case 'service_account.created':
      return compact({ id, data: roleOf(p) });
    case 'user.updated':
    case 'service_account.updated':
      return compact({ id, changes_requested: compact({ role: str(obj(p.changes_requested).role) }) });
    case 'invite.sent': {
      const d = obj(p.data);
      return compact({ id, data: compact({ email: str(d.email), role: str(d.role) }) });
    }
    case 'group.created':
      return compact({ id, data: compact({ group_name: str(obj(p.data).group_name) ?? str(p.name) }) });
    case 'group.updated':
      return compact({ id, changes_requested: compact({ group_name: str(obj(p.changes_requested).group_name) ?? str(obj(p.changes_requested).name) }) });
    case 'role.created':
    case 'role.updated':
    case 'role.deleted':
    case 'role.assignment.created':
    case 'role.assignment.deleted':
      // the roles service records OpenAI's own detail fields (role_name, permissions, principal_*, resource_*)
      return compact({ id, ...p });
    default:
      return compact({ id, data: p.data, changes_requested: p.changes_requested });
  }
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
  let payload: Payload = {};
  try {
    payload = obj(JSON.parse(r.payload));
  } catch {
    payload = {};
  }
  return {
    id: r.id,
    type: r.type,
    effective_at: toUnixSeconds(r.created_at),
    actor: formatActor(e),
    ...(e.project ? { project: { id: e.project.id, name: e.project.name } } : r.project_id ? { project: { id: r.project_id } } : {}),
    [r.type]: auditDetails(r.type, r.target_id, payload),
  };
}

export const auditLogsRoutes: FastifyPluginAsyncTypebox<{ core: Core }> = async (app, { core }) => {
  app.get('/organization/audit_logs', { schema: { querystring: ListQuery } }, async (req) => {
    const q = req.query;
    const page = await core.audit.list(req.actor, req.org.id, auditFilterOf(q), { limit: q.limit ?? 20, after: q.after, before: q.before, order: 'desc' });
    return cursorList(page.items.map(formatAuditLog), page.hasMore);
  });
};
