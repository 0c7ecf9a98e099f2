// The h2oGPTe face under /api/v1: `Authorization: Bearer <key>` for organization administrators
// only, errors as {code, message}. Its keys are user keys of the shared store.
import type { FastifyPluginAsync } from 'fastify';
import { isOrgAdmin } from '../../domain/actor.ts';
import { forbidden } from '../../domain/errors.ts';
import { authToken } from '../common.ts';
import { defineFace, JSON_ADMIN_BODY, type FaceContext } from '../kit.ts';
import { sendH2ogpteError } from './envelope.ts';
import { h2ogpteApiKeysRoutes } from './api-keys.ts';

const routes: FastifyPluginAsync<FaceContext> = async (app, { core }) => {
  await app.register(h2ogpteApiKeysRoutes, { core });
};

export const h2ogpteFace = defineFace({
  name: 'h2ogpte',
  prefix: '/api/v1',
  auth: {
    token: (req) => authToken(req),
    missing: 'Missing API key: send it in the Authorization header as "Bearer sk-…".',
    invalid: 'Invalid API key.',
  },
  // every endpoint acts in the caller key's organization
  org: (_req, actor) => (actor.type === 'key' ? { id: actor.key.orgId, slug: null } : null),
  // "Allows admins to …": admin keys, and user keys of the organization's owners
  admit(actor, org) {
    if (!org || !isOrgAdmin(actor, org.id)) throw forbidden('Only administrators may use this endpoint.');
  },
  render: (reply, err) => sendH2ogpteError(reply, err),
  notFoundMessage: (req) => `Not found: ${req.method} ${req.url.split('?')[0]}.`,
  body: JSON_ADMIN_BODY,
  routes,
  docs: {
    title: 'keyplane: h2oGPTe API',
    description: "h2oGPTe's API-key administration under `/api/v1`, for organization administrators.",
    securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'An API key of an organization administrator (sk-…).' } },
  },
});
