// Audit events: written by the same transaction as the change they describe.
import type { Executor, Store } from '../store/db.ts';
import type { AuditLogRow } from '../store/schema.ts';
import { auditActor, auditRequest, type Actor, requireOrgRead } from './actor.ts';
import type { AuditEventType, AuditPayload } from './audit-events.ts';
import { invalid } from './errors.ts';
import { ID_PREFIX, newId } from './ids.ts';
import { keysetPage, type Page, type PageQuery } from './paging.ts';

export type { AuditEventType, AuditPayload } from './audit-events.ts';

export interface AuditEvent<T extends AuditEventType> {
  orgId: string;
  /** A type of the catalog (audit-events.ts): `api_key.created`, `project.archived`… */
  type: T;
  targetType?: string;
  targetId?: string | undefined;
  projectId?: string | null;
  /** Details of the change, in the catalog's shape for `type`. Never secrets: ids, names and redacted values only. */
  payload: AuditPayload<T>;
}

/** Writes one audit event, inside the transaction of the change it describes. */
export async function recordAudit<T extends AuditEventType>(tx: Executor, actor: Actor, ev: AuditEvent<T>, now = Date.now()): Promise<string> {
  const id = newId(ID_PREFIX.audit, now);
  await tx
    .insertInto('audit_logs')
    .values({
      id,
      org_id: ev.orgId,
      type: ev.type,
      ...auditActor(actor),
      ...auditRequest(actor),
      target_type: ev.targetType ?? null,
      target_id: ev.targetId ?? null,
      project_id: ev.projectId ?? null,
      payload: JSON.stringify(ev.payload),
      created_at: now,
    })
    .execute();
  return id;
}

export interface AuditFilter {
  types?: string[];
  targetIds?: string[];
  actorIds?: string[];
  projectIds?: string[];
  /** Events by the users with these emails (in this organization). */
  actorEmails?: string[];
  from?: number; // inclusive, ms
  to?: number; // exclusive, ms
}

/** Audit rows of one organization, oldest first by default (the faces choose the order). */
export async function listAudit(db: Executor, orgId: string, filter: AuditFilter, page: PageQuery): Promise<Page<AuditLogRow>> {
  let q = db.selectFrom('audit_logs').selectAll().where('org_id', '=', orgId);
  if (filter.types?.length) q = q.where('type', 'in', filter.types);
  if (filter.targetIds?.length) q = q.where('target_id', 'in', filter.targetIds);
  if (filter.projectIds?.length) q = q.where('project_id', 'in', filter.projectIds);
  if (filter.actorIds?.length) {
    const ids = filter.actorIds;
    q = q.where((eb) => eb.or([eb('actor_id', 'in', ids), eb('actor_key_id', 'in', ids)]));
  }
  if (filter.actorEmails?.length) {
    const emails = filter.actorEmails;
    q = q.where('actor_id', 'in', (eb) =>
      eb
        .selectFrom('org_memberships')
        .innerJoin('users', 'users.id', 'org_memberships.user_id')
        .select('users.id')
        .where('org_memberships.org_id', '=', orgId)
        .where('users.email', 'in', emails),
    );
  }
  if (filter.from !== undefined) q = q.where('created_at', '>=', filter.from);
  if (filter.to !== undefined) q = q.where('created_at', '<', filter.to);
  return keysetPage(q, 'audit_logs', page);
}

/** An audit row with what a face needs to show it: the acting user and the project. */
export interface AuditEntry {
  row: AuditLogRow;
  /** For key actors: what owns the key (`actor_id`), from its id. */
  actorKind: 'user' | 'service_account' | null;
  actorUser: { id: string; email: string } | null;
  project: { id: string; name: string } | null;
}

export interface AuditPageQuery extends PageQuery {
  /** Id of the first item of the next page: returns the page before it, in the same order. */
  before?: string | undefined;
}

export class AuditService {
  constructor(private readonly store: Store) {}

  /** Audit entries of an organization, for its admins. `types: []` matches nothing. */
  async list(actor: Actor, orgId: string, filter: AuditFilter, page: AuditPageQuery): Promise<Page<AuditEntry>> {
    requireOrgRead(actor, orgId);
    if (filter.types && !filter.types.length) return { items: [], hasMore: false }; // no type can match
    const db = this.store.db;
    let p: Page<AuditLogRow>;
    if (page.before !== undefined) {
      if (page.after !== undefined) throw invalid('Pass either after or before, not both.', 'before');
      // walk backwards from `before`, then show the page in the requested order
      const reversed = (page.order ?? 'asc') === 'asc' ? 'desc' : 'asc';
      const back = await listAudit(db, orgId, filter, { limit: page.limit, after: page.before, order: reversed });
      p = { items: back.items.reverse(), hasMore: back.hasMore };
    } else {
      p = await listAudit(db, orgId, filter, page);
    }
    const userIds = [...new Set(p.items.map((r) => r.actor_id).filter((id): id is string => !!id))];
    const projectIds = [...new Set(p.items.map((r) => r.project_id).filter((id): id is string => !!id))];
    const users = userIds.length ? await db.selectFrom('users').select(['id', 'email']).where('id', 'in', userIds).execute() : [];
    const projects = projectIds.length
      ? await db.selectFrom('projects').select(['id', 'name']).where('org_id', '=', orgId).where('id', 'in', projectIds).execute()
      : [];
    const userById = new Map(users.map((u) => [u.id, u]));
    const projectById = new Map(projects.map((pr) => [pr.id, pr]));
    return {
      items: p.items.map((row) => ({
        row,
        actorKind: row.actor_type !== 'api_key' ? null : row.actor_id?.startsWith(ID_PREFIX.serviceAccount) ? 'service_account' : 'user',
        actorUser: (row.actor_id && userById.get(row.actor_id)) || null,
        project: (row.project_id && projectById.get(row.project_id)) || null,
      })),
      hasMore: p.hasMore,
    };
  }
}
