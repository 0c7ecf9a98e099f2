// /v1/organization/projects/{project_id}/model_permissions: a project's model allow list or deny
// list (retrieve, replace, delete), enforced by the gateway. No permissions set reads as an empty
// deny list (every model allowed), which is also what a delete returns the project to.
import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Core } from '../../domain/core.ts';
import { MAX_MODEL_IDS, MODEL_MODES, type ModelPermissions } from '../../domain/project-settings.ts';
import { StringEnum } from './enum.ts';
import { Id } from './schemas.ts';
import * as R from '../shared/openai-responses.ts';

export const formatModelPermissions = (p: ModelPermissions | null) => ({
  object: 'project.model_permissions' as const,
  mode: p?.mode ?? ('deny_list' as const),
  model_ids: p?.modelIds ?? [],
});

const Params = Type.Object({ project_id: Id });
const UpdateBody = Type.Object({
  mode: StringEnum(MODEL_MODES),
  model_ids: Type.Array(Type.String({ minLength: 1, maxLength: 200 }), { maxItems: MAX_MODEL_IDS }),
});

export const modelPermissionsRoutes: FastifyPluginAsyncTypebox<{ core: Core }> = async (app, { core }) => {
  const path = '/organization/projects/:project_id/model_permissions';

  app.get(path, { schema: { response: R.ok(R.ModelPermissions), params: Params } }, async (req) => formatModelPermissions((await core.projectSettings.get(req.actor, req.org.id, req.params.project_id)).models));

  app.post(path, { schema: { response: R.ok(R.ModelPermissions), params: Params, body: UpdateBody } }, async (req) =>
    formatModelPermissions(await core.projectSettings.setModelPermissions(req.actor, req.org.id, req.params.project_id, { mode: req.body.mode, modelIds: req.body.model_ids })),
  );

  app.delete(path, { schema: { response: R.ok(R.Deleted), params: Params } }, async (req) => {
    await core.projectSettings.deleteModelPermissions(req.actor, req.org.id, req.params.project_id);
    // deleting is idempotent: afterwards the project has none, whether it had some or not
    return { object: 'project.model_permissions.deleted' as const, deleted: true };
  });
};
