// /v1/organization/projects: list, create, retrieve, update (POST), archive (OpenAI `projects`).
import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Core } from '../../domain/core.ts';
import type { Project } from '../../domain/projects.ts';
import { toUnixSeconds, toUnixSecondsOrNull } from '../common.ts';
import { cursorList } from '../shared/openai-wire.ts';
import { Id, PageQuery } from './schemas.ts';
import * as R from '../shared/openai-responses.ts';

export function formatProject(p: Project) {
  return {
    id: p.id,
    object: 'organization.project' as const,
    name: p.name,
    created_at: toUnixSeconds(p.created_at),
    archived_at: toUnixSecondsOrNull(p.archived_at),
    status: p.status,
    external_key_id: p.external_key_id,
    ...(p.residency ? { residency: p.residency } : {}),
  };
}

const NullableString = Type.Union([Type.String({ maxLength: 256 }), Type.Null()]);
const CreateBody = Type.Object({
  name: Type.String({ minLength: 1, maxLength: 256 }),
  external_key_id: Type.Optional(NullableString),
  residency: Type.Optional(NullableString),
  geography: Type.Optional(NullableString),
});
const UpdateBody = Type.Object({
  name: Type.Optional(Type.Union([Type.String({ minLength: 1, maxLength: 256 }), Type.Null()])),
  external_key_id: Type.Optional(NullableString),
  geography: Type.Optional(NullableString),
});
const ProjectParams = Type.Object({ project_id: Id });

export const projectsRoutes: FastifyPluginAsyncTypebox<{ core: Core }> = async (app, { core }) => {
  const base = '/organization/projects';

  app.get(base, { schema: { response: R.ok(R.CursorPage(R.Project)), querystring: Type.Object({ ...PageQuery, include_archived: Type.Optional(Type.Boolean()) }) } }, async (req) => {
    const page = await core.projects.list(req.actor, req.org.id, { includeArchived: req.query.include_archived ?? false }, { limit: req.query.limit ?? 20, after: req.query.after });
    return cursorList(page.items.map(formatProject), page.hasMore);
  });

  app.post(base, { schema: { response: R.ok(R.Project), body: CreateBody } }, async (req) => {
    const b = req.body;
    const p = await core.projects.create(req.actor, req.org.id, { name: b.name, externalKeyId: b.external_key_id, residency: b.residency ?? b.geography });
    return formatProject(p);
  });

  app.get(`${base}/:project_id`, { schema: { response: R.ok(R.Project), params: ProjectParams } }, async (req) =>
    formatProject(await core.projects.get(req.actor, req.org.id, req.params.project_id)),
  );

  app.post(`${base}/:project_id`, { schema: { response: R.ok(R.Project), params: ProjectParams, body: UpdateBody } }, async (req) =>
    formatProject(await core.projects.update(req.actor, req.org.id, req.params.project_id, { name: req.body.name, externalKeyId: req.body.external_key_id })),
  );

  app.post(`${base}/:project_id/archive`, { schema: { response: R.ok(R.Project), params: ProjectParams } }, async (req) =>
    formatProject(await core.projects.archive(req.actor, req.org.id, req.params.project_id)),
  );
};
