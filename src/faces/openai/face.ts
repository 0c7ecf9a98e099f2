// The OpenAI Admin API face: `/v1/organization/…` and `/v1/projects/…`, admin keys (Bearer) only,
// OpenAI's error envelope, one module per resource. It shares `/v1` with the gateway: each owns its
// paths, and the server's one not-found handler answers the rest of `/v1` in OpenAI's envelope.
import type { FastifyPluginAsync } from 'fastify';
import { isAdminKey } from '../../domain/actor.ts';
import { forbidden } from '../../domain/errors.ts';
import { authToken } from '../common.ts';
import { defineFace, JSON_ADMIN_BODY, type FaceContext } from '../kit.ts';
import { sendOpenAIError } from '../shared/openai-wire.ts';
import { idempotencyHooks } from './idempotency.ts';
import { adminApiKeysRoutes } from './admin-api-keys.ts';
import { projectsRoutes } from './projects.ts';
import { certificatesRoutes } from './certificates.ts';
import { rateLimitsRoutes } from './rate-limits.ts';
import { auditLogsRoutes } from './audit-logs.ts';
import { rolesRoutes } from './roles.ts';
import { roleAssignmentsRoutes } from './role-assignments.ts';
import { groupsRoutes } from './groups.ts';
import { usersRoutes } from './users.ts';
import { projectMembersRoutes } from './project-members.ts';
import { modelPermissionsRoutes } from './model-permissions.ts';
import { hostedToolPermissionsRoutes } from './hosted-tool-permissions.ts';
import { serviceTierSettingsRoutes } from './service-tier-settings.ts';
import { dataRetentionRoutes } from './data-retention.ts';
import { spendLimitsRoutes } from './spend-limits.ts';
import { spendAlertsRoutes } from './spend-alerts.ts';
import { usageRoutes } from './usage.ts';
import { costsRoutes } from './costs.ts';

const routes: FastifyPluginAsync<FaceContext> = async (app, { core }) => {
  idempotencyHooks(app, core);
  for (const r of [adminApiKeysRoutes, projectsRoutes, certificatesRoutes, rateLimitsRoutes, auditLogsRoutes, rolesRoutes, roleAssignmentsRoutes, groupsRoutes, usersRoutes, projectMembersRoutes]) {
    await app.register(r, { core });
  }
  // usage and costs; spend limits and alerts
  for (const r of [usageRoutes, costsRoutes, spendLimitsRoutes, spendAlertsRoutes]) await app.register(r, { core });
  // project settings (model, hosted tool and service tier permissions; data retention)
  for (const r of [modelPermissionsRoutes, hostedToolPermissionsRoutes, serviceTierSettingsRoutes, dataRetentionRoutes]) await app.register(r, { core });
};

export const openaiAdminFace = defineFace({
  name: 'openai-admin',
  prefix: '/v1',
  paths: ['/v1/organization', '/v1/projects'],
  auth: {
    token: (req) => authToken(req),
    missing:
      "You didn't provide an API key. You need to provide your admin API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
    invalid: 'Incorrect API key provided.',
  },
  // the console calls these routes with its session (src/faces/session.ts); the domain checks the
  // signed-in user's grants on every operation
  acceptsSession: true,
  // every admin endpoint acts in the admin key's (or the console session's) organization
  org: (_req, actor) => (actor.type === 'key' ? { id: actor.key.orgId, slug: null } : actor.type === 'console_user' ? { id: actor.user.orgId, slug: null } : null),
  admit(actor) {
    if (!isAdminKey(actor) && actor.type !== 'console_user') throw forbidden('This endpoint needs an admin API key (sk-admin-…); the key you provided is not one.');
  },
  render: (reply, err) => sendOpenAIError(reply, err),
  notFoundMessage: (req) => `Invalid URL (${req.method} ${req.url.split('?')[0]}).`,
  body: JSON_ADMIN_BODY,
  routes,
  docs: {
    title: 'keyplane: OpenAI Admin API',
    description: "OpenAI's Admin API (`/v1/organization/…`, `/v1/projects/…`), wire-compatible; admin keys (`sk-admin-…`) only.",
    securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'An admin API key (sk-admin-…).' } },
  },
});
