// Audit events: written by the same transaction as the change they describe.
import type { Executor } from '../store/db.ts';
import type { AuditLogRow } from '../store/schema.ts';
import { auditActor, type Actor } from './actor.ts';
import { ID_PREFIX, newId } from './ids.ts';
import { keysetPage, type Page, type PageQuery } from './paging.ts';

export interface AuditEvent {
  orgId: string;
  type: string; // `api_key.created`, `project.archived`…
  targetType?: string;
  targetId?: string;
  projectId?: string | null;
  /** Details of the change. Never secrets: callers pass ids, names and redacted values only. */
  payload?: Record<string, unknown>;
}

export async function recordAudit(tx: Executor, actor: Actor, ev: AuditEvent, now = Date.now()): Promise<string> {
  const id = newId(ID_PREFIX.audit, now);
  await tx
    .insertInto('audit_logs')
    .values({
      id,
      org_id: ev.orgId,
      type: ev.type,
      ...auditActor(actor),
      target_type: ev.targetType ?? null,
      target_id: ev.targetId ?? null,
      project_id: ev.projectId ?? null,
      payload: JSON.stringify(ev.payload ?? {}),
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
  if (filter.from !== undefined) q = q.where('created_at', '>=', filter.from);
  if (filter.to !== undefined) q = q.where('created_at', '<', filter.to);
  return keysetPage(q, 'audit_logs', page);
}
