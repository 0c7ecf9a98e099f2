// Projects: created, renamed and archived, never deleted. An archived project can be read but not
// changed, and nothing can be added to it.
import type { Executor, Store } from '../store/db.ts';
import { compiledOnce } from '../store/compiled.ts';
import type { ProjectsTable } from '../store/schema.ts';
import type { Selectable } from 'kysely';
import { requireOrgAdmin, type Actor, requireProjectWrite, requireProjectRead, requireOrgRead, visibleProjects } from './actor.ts';
import { recordAudit } from './audit.ts';
import { invalid, notFound } from './errors.ts';
import { ID_PREFIX, newId } from './ids.ts';
import { keysetPage, type Page, type PageQuery } from './paging.ts';
import { seedPredefinedRoles } from './predefined-roles.ts';

export type Project = Selectable<ProjectsTable>;

export const RESIDENCIES = [
  'GLOBAL', 'US_STORAGE_PROCESSING', 'EU_STORAGE_PROCESSING', 'JP_STORAGE', 'JP_STORAGE_PROCESSING', 'KR_STORAGE',
  'CA_STORAGE', 'SG_STORAGE', 'IN_STORAGE', 'IN_STORAGE_PROCESSING', 'AU_STORAGE', 'AU_STORAGE_PROCESSING',
  'GB_STORAGE', 'AE_STORAGE', 'AE_STORAGE_PROCESSING',
] as const;

export interface ProjectInput {
  name?: string | null | undefined;
  externalKeyId?: string | null | undefined;
  residency?: string | null | undefined;
}

function cleanName(name: string | null | undefined): string {
  const n = name?.trim();
  if (!n || n.length > 256) throw invalid('A project needs a name of 1 to 256 characters.', 'name');
  return n;
}

/** Loads a project of the organization, or fails with not found. */
// every admin request on a project starts here: built and compiled once (src/store/compiled.ts)
const selectProject = compiledOnce(2, (db, orgId: string, projectId: string) => db.selectFrom('projects').selectAll().where('org_id', '=', orgId).where('id', '=', projectId));

export async function loadProject(db: Executor, orgId: string, projectId: string): Promise<Project> {
  const [p] = await selectProject(db, orgId, projectId);
  if (!p) throw notFound(`No such project: '${projectId}'.`, 'project_id');
  return p;
}

/** Loads an active project: archived projects cannot be changed or used. */
export async function loadActiveProject(db: Executor, orgId: string, projectId: string): Promise<Project> {
  const p = await loadProject(db, orgId, projectId);
  if (p.status === 'archived') throw invalid(`Project '${projectId}' is archived and cannot be changed.`, 'project_id', 'project_archived');
  return p;
}

export class ProjectService {
  private readonly archiveListeners: Array<(projectId: string) => void> = [];

  constructor(
    private readonly store: Store,
    private readonly now: () => number = Date.now,
  ) {}

  /** Calls `fn` after a project was archived (committed). */
  onArchive(fn: (projectId: string) => void): void {
    this.archiveListeners.push(fn);
  }

  async create(actor: Actor, orgId: string, input: ProjectInput): Promise<Project> {
    requireOrgAdmin(actor, orgId);
    const name = cleanName(input.name);
    if (input.residency != null && !(RESIDENCIES as readonly string[]).includes(input.residency)) {
      throw invalid(`Unknown residency '${input.residency}'.`, 'residency');
    }
    const now = this.now();
    const project: Project = {
      id: newId(ID_PREFIX.project, now),
      org_id: orgId,
      name,
      status: 'active',
      external_key_id: input.externalKeyId ?? null,
      residency: input.residency ?? null,
      created_at: now,
      archived_at: null,
    };
    await this.store.db.transaction().execute(async (tx) => {
      await tx.insertInto('projects').values(project).execute();
      await seedPredefinedRoles(tx, orgId, project.id, now);
      await recordAudit(tx, actor, { orgId, type: 'project.created', targetType: 'project', targetId: project.id, projectId: project.id, payload: { name, externalKeyId: project.external_key_id } }, now);
      // made in the console, the project has its creator as its owner (as OpenAI's dashboard does), so
      // they can issue themselves a key at once; a project made through an API key has no members
      if (actor.type === 'console_user') {
        const userId = actor.user.userId;
        await tx.insertInto('project_members').values({ project_id: project.id, user_id: userId, org_id: orgId, role: 'owner', created_at: now }).execute();
        await recordAudit(tx, actor, { orgId, type: 'user.added', targetType: 'user', targetId: userId, projectId: project.id, payload: { role: 'owner', projectId: project.id } }, now);
      }
    });
    return project;
  }

  async get(actor: Actor, orgId: string, projectId: string): Promise<Project> {
    requireProjectRead(actor, orgId, projectId);
    return loadProject(this.store.db, orgId, projectId);
  }

  async list(actor: Actor, orgId: string, opts: { includeArchived: boolean }, page: PageQuery): Promise<Page<Project>> {
    requireOrgRead(actor, orgId);
    let q = this.store.db.selectFrom('projects').selectAll().where('org_id', '=', orgId);
    // a console user without organization write sees the projects they have a role in, only
    const visible = visibleProjects(actor, orgId);
    if (visible) q = q.where('id', 'in', visible.length ? visible : ['']);
    if (!opts.includeArchived) q = q.where('status', '=', 'active');
    return keysetPage(q, 'projects', page);
  }

  async update(actor: Actor, orgId: string, projectId: string, input: ProjectInput): Promise<Project> {
    requireProjectWrite(actor, orgId, projectId);
    return this.store.db.transaction().execute(async (tx) => {
      const p = await loadActiveProject(tx, orgId, projectId);
      const set: Partial<Project> = {};
      if (input.name !== undefined && input.name !== null) set.name = cleanName(input.name);
      if (input.externalKeyId !== undefined) set.external_key_id = input.externalKeyId;
      if (!Object.keys(set).length) return p;
      await tx.updateTable('projects').set(set).where('id', '=', projectId).execute();
      await recordAudit(tx, actor, { orgId, type: 'project.updated', targetType: 'project', targetId: projectId, projectId, payload: { changes: { ...(set.name !== undefined ? { name: set.name } : {}), ...(set.external_key_id !== undefined ? { externalKeyId: set.external_key_id } : {}) } } });
      return { ...p, ...set };
    });
  }

  /** Archives a project (idempotent). Its keys stop working: the gateway refuses archived projects. */
  async archive(actor: Actor, orgId: string, projectId: string): Promise<Project> {
    requireProjectWrite(actor, orgId, projectId);
    let archived = false;
    const project = await this.store.db.transaction().execute(async (tx) => {
      const p = await loadProject(tx, orgId, projectId);
      if (p.status === 'archived') return p;
      const now = this.now();
      await tx.updateTable('projects').set({ status: 'archived', archived_at: now }).where('id', '=', projectId).execute();
      await recordAudit(tx, actor, { orgId, type: 'project.archived', targetType: 'project', targetId: projectId, projectId, payload: {} }, now);
      archived = true;
      return { ...p, status: 'archived' as const, archived_at: now };
    });
    if (archived) for (const l of this.archiveListeners) l(projectId);
    return project;
  }
}
