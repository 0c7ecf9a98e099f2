// Tenant settings the gateway obeys: POST …/use-default-llm-key/ `{enable|disable}`, POST
// …/use-free-trial/ `{enable|disable, metadata?}`, and the per-user reads GET
// …/users/{user_id}/default-llm-key-usage and …/users/{user_id}/free-trial (no trailing slash).
import type { FastifyInstance } from 'fastify';
import type { Core } from '../../domain/core.ts';
import { Fields } from './body.ts';
import { tenantOf } from './tenant.ts';
import * as R from './responses.ts';
import { Type } from '@fastify/type-provider-typebox';

/** `enable` / `disable` of a body: exactly one of them true, else a DRF 400. */
function toggle(f: Fields, required: boolean): boolean | undefined {
  const enable = f.bool('enable');
  const disable = f.bool('disable');
  if (enable && disable) f.add('non_field_errors', 'Pass either enable or disable, not both.');
  else if (!enable && !disable && required) f.add('non_field_errors', 'Pass enable: true or disable: true.');
  return enable ? true : disable ? false : undefined;
}

export async function tenantSettingsRoutes(app: FastifyInstance, opts: { core: Core }): Promise<void> {
  const { core } = opts;

  app.post('/orgs/:org/use-default-llm-key/', { schema: { response: { 200: R.Message } } }, async (req) => {
    const org = tenantOf(req);
    const f = new Fields(req.body);
    const enabled = toggle(f, true);
    f.done();
    await core.platform.setDefaultLlmKey(req.actor, org.id, enabled!);
    return { message: enabled ? 'Tenant is now using the main credentials' : 'Tenant is not using the main credentials' };
  });

  app.post('/orgs/:org/use-free-trial/', { schema: { response: { 200: R.Message } } }, async (req) => {
    const org = tenantOf(req);
    const f = new Fields(req.body);
    const enabled = toggle(f, false);
    const metadata = f.object('metadata', { nullable: true });
    if (enabled === undefined && metadata === undefined && !Object.keys(f.errors).length) {
      f.add('non_field_errors', 'Pass enable: true, disable: true or metadata.');
    }
    f.done();
    const input: { enabled?: boolean; metadata?: Record<string, unknown> | null } = {};
    if (enabled !== undefined) input.enabled = enabled;
    if (metadata !== undefined) input.metadata = metadata;
    const s = await core.platform.setFreeTrial(req.actor, org.id, input);
    return { message: enabled === undefined ? 'Free trial metadata updated' : s.freeTrialEnabled ? 'Tenant is now in free trial' : 'Tenant is not in free trial' };
  });

  // {user_id}: a keyplane user of the tenant, by id (`user-…`) or email; anyone else is a 404
  app.get('/orgs/:org/users/:user_id/default-llm-key-usage', { schema: { response: { 200: Type.Object({ use_main_credentials: Type.Boolean() }) } } }, async (req) => {
    const org = tenantOf(req);
    const { user_id } = req.params as { user_id: string };
    return { use_main_credentials: await core.platform.userUsesDefaultLlmKey(req.actor, org.id, user_id) };
  });

  app.get('/orgs/:org/users/:user_id/free-trial', { schema: { response: { 200: Type.Object({ is_in_free_trial: Type.Boolean() }) } } }, async (req) => {
    const org = tenantOf(req);
    const { user_id } = req.params as { user_id: string };
    return { is_in_free_trial: await core.platform.userInFreeTrial(req.actor, org.id, user_id) };
  });
}
