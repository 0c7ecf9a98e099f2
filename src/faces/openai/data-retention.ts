// /v1/organization/data_retention and /v1/organization/projects/{project_id}/data_retention: the
// retention settings, stored, audited and shown. keyplane itself keeps no request or response
// bodies whatever they say (README: "What keyplane stores about requests"); they are not passed to
// providers either.
import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Core } from '../../domain/core.ts';
import { ORG_RETENTION_TYPES, PROJECT_RETENTION_TYPES } from '../../domain/project-settings.ts';
import { StringEnum } from './enum.ts';
import { Id } from './schemas.ts';
import * as R from '../shared/openai-responses.ts';

const Params = Type.Object({ project_id: Id });

export const dataRetentionRoutes: FastifyPluginAsyncTypebox<{ core: Core }> = async (app, { core }) => {
  const org = (type: string) => ({ object: 'organization.data_retention' as const, type });
  const project = (type: string) => ({ object: 'project.data_retention' as const, type });

  app.get('/organization/data_retention', { schema: { response: R.ok(R.DataRetention) } }, async (req) => org(await core.projectSettings.orgRetention(req.actor, req.org.id)));
  app.post('/organization/data_retention', { schema: { response: R.ok(R.DataRetention), body: Type.Object({ retention_type: StringEnum(ORG_RETENTION_TYPES) }) } }, async (req) =>
    org(await core.projectSettings.setOrgRetention(req.actor, req.org.id, req.body.retention_type)),
  );

  const path = '/organization/projects/:project_id/data_retention';
  app.get(path, { schema: { response: R.ok(R.DataRetention), params: Params } }, async (req) => project((await core.projectSettings.get(req.actor, req.org.id, req.params.project_id)).dataRetention));
  app.post(path, { schema: { response: R.ok(R.DataRetention), params: Params, body: Type.Object({ retention_type: StringEnum(PROJECT_RETENTION_TYPES) }) } }, async (req) =>
    project(await core.projectSettings.setProjectRetention(req.actor, req.org.id, req.params.project_id, req.body.retention_type)),
  );
};
