// The WhyLabs ("Songbird") face under /v0: X-API-Key auth (header or cookie), the path's
// organization checked against the key's, and WhyLabs error bodies `{message, requestId, type}`.
import type { FastifyPluginAsync } from 'fastify';
import { isKeyOf } from '../../domain/actor.ts';
import { forbidden, isDomainError } from '../../domain/errors.ts';
import { SLUG } from '../../domain/organizations.ts';
import { defineFace, ADMIN_BODY_LIMIT, type FaceContext } from '../kit.ts';
import { checkCookieOrigin, presentedKey, sendWhyLabsError } from './envelope.ts';
import { apiKeyRoutes } from './api-keys.ts';

const routes: FastifyPluginAsync<FaceContext> = async (app, { core }) => {
  await app.register(apiKeyRoutes, { core });
};

const noAccess = () => forbidden('You do not have access to this organization.');

export const whylabsFace = defineFace({
  name: 'whylabs',
  prefix: '/v0',
  auth: {
    token: presentedKey,
    missing: 'Missing API key: send it in the X-API-Key header.',
    invalid: 'Invalid, expired or revoked API key.',
  },
  // The path's organization must be the key's: its id (`org-…`) or, for convenience, its slug.
  // First, a cookie-authenticated write must come from an allowed origin (CSRF guard, 403).
  async org(req, actor, { core, allowedOrigins }) {
    checkCookieOrigin(req, allowedOrigins ?? []);
    const pathOrg = (req.params as Record<string, unknown> | undefined)?.org_id;
    if (typeof pathOrg !== 'string' || actor.type !== 'key') return null;
    if (pathOrg === actor.key.orgId) return { id: pathOrg, slug: null };
    if (!SLUG.test(pathOrg)) throw noAccess();
    const org = await core.orgs.getBySlug(actor, pathOrg).catch((e: unknown) => (isDomainError(e) ? null : Promise.reject(e)));
    if (!org || org.id !== actor.key.orgId) throw noAccess(); // no such slug, or another organization's
    return { id: org.id, slug: org.slug };
  },
  // any key of the organization; who may manage which key is the domain's rule, per operation
  admit(actor, org) {
    if (org && !isKeyOf(actor, org.id)) throw noAccess();
  },
  render: (reply, err, req) => sendWhyLabsError(reply, err, req),
  // WhyLabs answers unknown routes with an empty 404; keyplane sends its usual body (reference §2).
  notFoundMessage: (req) => `No route for ${req.method} ${req.url.split('?')[0]}.`,
  // Every operation takes no body and sends no Content-Type: any body sent anyway (within the
  // limit) is read and ignored, rather than refused for its media type.
  body: { limit: ADMIN_BODY_LIMIT, accept: 'ignore', removeUnknown: true, refuseNul: true },
  routes,
  docs: {
    title: 'keyplane: WhyLabs API',
    description: "WhyLabs' (Songbird) API-key administration under `/v0`.",
    securitySchemes: {
      apiKeyHeader: { type: 'apiKey', in: 'header', name: 'X-API-Key', description: 'An API key of the organization.' },
      apiKeyCookie: { type: 'apiKey', in: 'cookie', name: 'X-API-Key', description: 'The same key in a cookie (writes only from allowed origins).' },
    },
  },
});
