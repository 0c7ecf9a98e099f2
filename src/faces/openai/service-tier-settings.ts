// /v1/organization/projects/{project_id}/service_tier_settings (SDK-only, not in OpenAI's spec): the
// tier a project's requests get when they name none (or `auto`), and the optional tiers it may use;
// applied by the gateway. Until set: default `standard`, every tier enabled (`all`).
import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Core } from '../../domain/core.ts';
import { DEFAULT_TIERS, OPTIONAL_TIERS, type ServiceTierSettings } from '../../domain/project-settings.ts';
import { StringEnum } from './enum.ts';
import { Id } from './schemas.ts';
import * as R from '../shared/openai-responses.ts';

export const formatServiceTiers = (s: ServiceTierSettings) => ({
  object: 'project.service_tier_settings' as const,
  default: s.default,
  enabled_tiers: s.enabledTiers === 'all' ? ('all' as const) : [...s.enabledTiers],
});

const Params = Type.Object({ project_id: Id });
const UpdateBody = Type.Object({
  default: Type.Optional(StringEnum(DEFAULT_TIERS)),
  enabled_tiers: Type.Optional(Type.Union([Type.Literal('all'), Type.Array(StringEnum(OPTIONAL_TIERS), { maxItems: 16 })])),
});

export const serviceTierSettingsRoutes: FastifyPluginAsyncTypebox<{ core: Core }> = async (app, { core }) => {
  const path = '/organization/projects/:project_id/service_tier_settings';

  app.get(path, { schema: { response: R.ok(R.ServiceTierSettings), params: Params } }, async (req) => formatServiceTiers((await core.projectSettings.get(req.actor, req.org.id, req.params.project_id)).tiers));

  app.post(path, { schema: { response: R.ok(R.ServiceTierSettings), params: Params, body: UpdateBody } }, async (req) =>
    formatServiceTiers(
      await core.projectSettings.updateServiceTiers(req.actor, req.org.id, req.params.project_id, {
        ...(req.body.default !== undefined ? { default: req.body.default } : {}),
        ...(req.body.enabled_tiers !== undefined ? { enabledTiers: req.body.enabled_tiers } : {}),
      }),
    ),
  );
};
