// /v1/organization/projects/{project_id}/hosted_tool_permissions: which hosted tools of the
// Responses API a project may ask for (retrieve, update some); enforced by the gateway. Every tool
// is enabled until disabled. In an update, a tool given as null (or left out) keeps its state.
import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Core } from '../../domain/core.ts';
import { HOSTED_TOOLS, type HostedToolPermissions } from '../../domain/project-settings.ts';
import { Id } from './schemas.ts';
import * as R from '../shared/openai-responses.ts';

export const formatHostedTools = (t: HostedToolPermissions) => Object.fromEntries(HOSTED_TOOLS.map((k) => [k, { enabled: t[k] }])) as Record<keyof HostedToolPermissions, { enabled: boolean }>;

const Params = Type.Object({ project_id: Id });
const Update = Type.Optional(Type.Union([Type.Object({ enabled: Type.Boolean() }), Type.Null()]));
const UpdateBody = Type.Object(Object.fromEntries(HOSTED_TOOLS.map((t) => [t, Update])) as Record<(typeof HOSTED_TOOLS)[number], typeof Update>);

export const hostedToolPermissionsRoutes: FastifyPluginAsyncTypebox<{ core: Core }> = async (app, { core }) => {
  const path = '/organization/projects/:project_id/hosted_tool_permissions';

  app.get(path, { schema: { response: R.ok(R.HostedToolPermissions), params: Params } }, async (req) => formatHostedTools((await core.projectSettings.get(req.actor, req.org.id, req.params.project_id)).tools));

  app.post(path, { schema: { response: R.ok(R.HostedToolPermissions), params: Params, body: UpdateBody } }, async (req) => {
    const changes: Partial<HostedToolPermissions> = {};
    for (const t of HOSTED_TOOLS) {
      const v = req.body[t];
      if (v) changes[t] = v.enabled;
    }
    return formatHostedTools(await core.projectSettings.updateHostedTools(req.actor, req.org.id, req.params.project_id, changes));
  });
};
