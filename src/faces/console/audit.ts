// GET /console/api/audit_logs: the signed-in user's organization's audit events for the console —
// every event type keyplane records (the OpenAI face's /v1/organization/audit_logs shows only
// OpenAI's types, e.g. not `invite.link_created` or `credential.*`), newest first, keyset-paged
// (`after` = the previous page's `next`), filtered by event type (`type`, repeatable; `credential.*`
// matches every `credential.` type), actor (`actor`: a user, key or service account id, or a
// member's email), target (`target`: the resource id) and time (`from` inclusive, `to` exclusive,
// unix seconds). The domain checks the reader may read the organization's audit log.
//
// GET /console/api/audit_logs/event_types: the catalog of event types, for the console's filter.
import { Type, type FastifyPluginAsyncTypebox, type Static } from '@fastify/type-provider-typebox';
import type { AuditEntry, AuditFilter } from '../../domain/audit.ts';
import { AUDIT_EVENT_TYPES } from '../../domain/audit-events.ts';
import { DomainError, invalid } from '../../domain/errors.ts';
import { toUnixSeconds } from '../common.ts';
import type { FastifyRequest } from 'fastify';
import type { SessionView } from '../../domain/console-sessions.ts';
import type { FaceContext } from '../kit.ts';

const EventType = Type.String({ pattern: '^[a-z0-9_]+(\\.[a-z0-9_]+)*(\\.\\*)?$', maxLength: 100 });
const Seconds = Type.Integer({ minimum: 0, maximum: 100_000_000_000 });
const Text = Type.String({ minLength: 1, maxLength: 320 });

export const AuditQuery = Type.Object(
  {
    type: Type.Optional(Type.Array(EventType, { maxItems: 100 })),
    actor: Type.Optional(Type.Array(Text, { maxItems: 20 })),
    target: Type.Optional(Type.Array(Text, { maxItems: 20 })),
    from: Type.Optional(Seconds),
    to: Type.Optional(Seconds),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 25 })),
    after: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
  },
  { additionalProperties: false },
);
type Query = Static<typeof AuditQuery>;

/** `credential.*` → every catalog type under `credential.`; other types as given (unknown ones match nothing). */
function expandTypes(types: string[]): string[] {
  const out = new Set<string>();
  for (const t of types) {
    if (t.endsWith('.*')) {
      const prefix = t.slice(0, -1);
      for (const known of AUDIT_EVENT_TYPES) if (known.startsWith(prefix)) out.add(known);
    } else out.add(t);
  }
  return [...out];
}

export function consoleAuditFilter(q: Query): AuditFilter {
  if (q.from !== undefined && q.to !== undefined && q.from >= q.to) throw invalid('The start of the time range must be before its end.', 'from', 'invalid_value');
  const filter: AuditFilter = {};
  if (q.type?.length) filter.types = expandTypes(q.type);
  const actors = (q.actor ?? []).map((a) => a.trim()).filter(Boolean);
  const emails = actors.filter((a) => a.includes('@')).map((a) => a.toLowerCase());
  const ids = actors.filter((a) => !a.includes('@'));
  if (emails.length && ids.length) throw invalid('Filter by actor ids or by emails, not both at once.', 'actor', 'invalid_value');
  if (emails.length) filter.actorEmails = emails;
  if (ids.length) filter.actorIds = ids;
  const targets = (q.target ?? []).map((t) => t.trim()).filter(Boolean);
  if (targets.length) filter.targetIds = targets;
  if (q.from !== undefined) filter.from = q.from * 1000;
  if (q.to !== undefined) filter.to = q.to * 1000;
  return filter;
}

function parsePayload(json: string): unknown {
  try {
    return JSON.parse(json);
  } catch {
    return {};
  }
}

/** An audit event as the console shows it: the domain's own words, nothing hidden but secrets (never stored). */
export function formatConsoleAudit(e: AuditEntry) {
  const r = e.row;
  return {
    id: r.id,
    type: r.type,
    effective_at: toUnixSeconds(r.created_at),
    actor: { type: r.actor_type, id: r.actor_id, key_id: r.actor_key_id, email: e.actorUser?.email ?? null },
    target: { type: r.target_type, id: r.target_id },
    project: r.project_id ? { id: r.project_id, name: e.project?.name ?? null } : null,
    payload: parsePayload(r.payload),
    request: { id: r.request_id, ip: r.client_ip, user_agent: r.user_agent },
  };
}

/**
 * The routes, given the console face's `requireSession` (the signed-in session of a request, or 401
 * not_signed_in; passed in rather than imported: face.ts registers this plugin).
 */
export const consoleAuditRoutes = (requireSession: (req: FastifyRequest) => SessionView): FastifyPluginAsyncTypebox<FaceContext> => async (app, ctx) => {
  const { core } = ctx;
  const orgOf = (req: FastifyRequest): string => {
    const s = requireSession(req);
    if (!s.org) throw new DomainError('forbidden', 'Sign in as a member of an organization to see its audit log.', null, 'insufficient_permissions');
    return s.org.id;
  };

  app.get('/audit_logs', { schema: { querystring: AuditQuery } }, async (req) => {
    const orgId = orgOf(req);
    const q = req.query;
    const page = await core.audit.list(req.actor, orgId, consoleAuditFilter(q), { limit: q.limit ?? 25, after: q.after, order: 'desc' });
    const data = page.items.map(formatConsoleAudit);
    return { object: 'list' as const, data, has_more: page.hasMore, next: page.hasMore && data.length ? data[data.length - 1]!.id : null };
  });

  app.get('/audit_logs/event_types', async (req) => {
    orgOf(req);
    return { data: [...AUDIT_EVENT_TYPES].sort() };
  });
};
